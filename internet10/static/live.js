// The live channel, for pages that work without it. Elements with data-live-url are regions;
// the page opens one stream (the first URL). Each message is dispatched on every region as a
// cancelable "live" event (detail: kind, id, data); unless cancelled, a region with an id (or
// <body>) is fetched again from this page's address and swapped in, spread and at most every
// few seconds. data-live-refresh="kind ..." and data-qa-slot="N" narrow what refreshes it.
// #live-status says when the stream is lost and back (then every region is fetched again).
(function () {
  "use strict";
  var regions = [].slice.call(document.querySelectorAll("[data-live-url]"));
  if (!regions.length || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var KINDS = ["running", "question", "queue", "qa", "attendance"];
  var GAP = 3000, JITTER = 1500; // ms between page fetches; spread of their start
  var url = regions[0].getAttribute("data-live-url");
  var extra = (regions[0].getAttribute("data-live-kinds") || "").split(/\s+/);
  var stale = [], timer = null, busy = false, last = 0, lastId = "", retry = 3000, source;
  var status = document.getElementById("live-status"), lost = false, hide;

  function say(what) {
    clearTimeout(hide);
    if (status) status.hidden = !(status.textContent = status.getAttribute(what) || "");
  }

  function wants(region, kind, data) {
    var only = region.getAttribute("data-live-refresh");
    if (only && (" " + only + " ").indexOf(" " + kind + " ") < 0) return false;
    var slot = region.getAttribute("data-qa-slot");
    return !slot || !data || data.slot_id == null || String(data.slot_id) === slot;
  }

  function schedule(region) {
    if (stale.indexOf(region) < 0) stale.push(region);
    if (timer || busy) return;
    timer = setTimeout(refresh, Math.max(0, last + GAP - Date.now()) + Math.random() * JITTER);
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
          var fresh = region.id ? doc.getElementById(region.id) : region === document.body && doc.body;
          var focus = document.activeElement, typing = region.contains(focus) && focus !== document.body;
          if (typing) stale.push(region); // not under the cursor: later
          else if (fresh) region.innerHTML = fresh.innerHTML;
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
    try { data = JSON.parse(message.data); } catch (e) { /* dispatched all the same */ }
    if (message.lastEventId) lastId = message.lastEventId;
    var detail = { kind: message.type, id: message.lastEventId, data: data };
    regions.forEach(function (region) {
      var event = new CustomEvent("live", { detail: detail, bubbles: true, cancelable: true });
      if (region.dispatchEvent(event) && wants(region, message.type, data)) schedule(region);
    });
  }

  function open() {
    // After an HTTP error the browser gives up: we start again after the last id seen.
    var from = lastId ? url.replace(/([?&]last_event_id=)[^&]*/, "$1" + lastId) : url;
    if (lastId && from === url) from += (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + lastId;
    source = new EventSource(from);
    KINDS.concat(extra).forEach(function (kind) { if (kind) source.addEventListener(kind, receive); });
    source.addEventListener("reload", function () { location.reload(); });
    source.onopen = function () {
      retry = 3000;
      if (!lost) return;
      lost = false;
      say("data-back");
      hide = setTimeout(say, 5000);
      regions.forEach(schedule);
    };
    source.onerror = function () {
      if (!lost) say("data-lost");
      lost = true;
      if (source.readyState !== 2) return; // CONNECTING: the browser retries by itself
      setTimeout(open, retry + Math.random() * retry);
      retry = Math.min(retry * 2, 60000);
    };
  }

  open();
  if (!/[?&]last_event_id=/.test(url)) {
    // The page did not say which id it shows: catch up once the stream is open.
    source.addEventListener("open", function first() {
      source.removeEventListener("open", first);
      regions.forEach(schedule);
    });
  }
  window.addEventListener("pagehide", function () { source.close(); });
})();
