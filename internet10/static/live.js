// The live channel for pages that also work without it (forms and refresh).
// Every element with data-live-url is a live region; the page opens one stream (the first URL).
// Each message is dispatched on every region as a cancelable, bubbling "live" DOM event
// (detail: {kind, id, data}). Unless a listener cancels it, a region with an id (or <body>) is
// fetched again from this page's address and its content swapped in, a little later, at most
// every few seconds. data-live-refresh="kind ..." limits the kinds that refresh a region;
// data-qa-slot="N" limits it to messages about that slot. "reload" reloads the page.
(function () {
  "use strict";
  var regions = [].slice.call(document.querySelectorAll("[data-live-url]"));
  if (!regions.length || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var KINDS = ["running", "question", "queue", "qa", "attendance"];
  var GAP = 3000, JITTER = 1500; // ms between fetches of the page; spread of their start
  var url = regions[0].getAttribute("data-live-url");
  var source = new EventSource(url);
  var stale = [], timer = null, busy = false, last = 0;

  function wants(region, kind, data) {
    var only = region.getAttribute("data-live-refresh");
    if (only && (" " + only + " ").indexOf(" " + kind + " ") < 0) return false;
    var slot = region.getAttribute("data-qa-slot");
    return !slot || data == null || data.slot_id == null || String(data.slot_id) === slot;
  }

  function schedule(region) {
    if (stale.indexOf(region) < 0) stale.push(region);
    if (timer || busy) return;
    var wait = Math.max(0, last + GAP - Date.now()) + Math.random() * JITTER;
    timer = setTimeout(refresh, wait);
  }

  function twin(doc, region) {
    return region.id ? doc.getElementById(region.id) : region === document.body ? doc.body : null;
  }

  function refresh() {
    timer = null;
    busy = true;
    var todo = stale;
    stale = [];
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        todo.forEach(function (region) {
          var fresh = twin(doc, region);
          if (!fresh) return;
          if (region.contains(document.activeElement) && document.activeElement !== document.body) {
            stale.push(region); // someone is typing here: not now
          } else {
            region.innerHTML = fresh.innerHTML;
          }
        });
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        last = Date.now();
        if (stale.length) schedule(stale[0]);
      });
  }

  function receive(message) {
    var data = null;
    try { data = JSON.parse(message.data); } catch (e) { /* a frame we do not know */ }
    var detail = { kind: message.type, id: message.lastEventId, data: data };
    regions.forEach(function (region) {
      var event = new CustomEvent("live", { detail: detail, bubbles: true, cancelable: true });
      if (region.dispatchEvent(event) && wants(region, message.type, data)) schedule(region);
    });
  }

  var extra = (regions[0].getAttribute("data-live-kinds") || "").split(/\s+/);
  KINDS.concat(extra).forEach(function (kind) {
    if (kind) source.addEventListener(kind, receive);
  });
  source.addEventListener("reload", function () { location.reload(); });
  if (!/[?&]last_event_id=/.test(url)) {
    // The page did not say what it shows: catch up once the stream is open.
    source.addEventListener("open", function first() {
      source.removeEventListener("open", first);
      regions.forEach(schedule);
    });
  }
  window.addEventListener("pagehide", function () { source.close(); });
})();
