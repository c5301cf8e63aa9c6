// The attendance dashboard's figures, kept current: live.js opens the event's stream; on an
// "attendance" or "running" message this fetches the figures' fragment at once (one request at
// a time, one more queued) and swaps it in. Without JavaScript the page has a Refresh link.
(function () {
  "use strict";
  var region = document.getElementById("attendance-live");
  if (!region || !window.fetch) return;
  var url = region.getAttribute("data-fragment-url"), busy = false, again = false;
  function load() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) region.innerHTML = html; })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; load(); } });
  }
  region.addEventListener("live", function (event) {
    var kind = event.detail && event.detail.kind;
    if (kind === "attendance" || kind === "running") { event.preventDefault(); load(); }
  });
})();
