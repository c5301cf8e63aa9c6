// Screens that show what changes (presenter, projector): without JavaScript a <noscript> meta
// refresh reloads them; with it, the region marked data-refresh="SECONDS" (an element with an id,
// or <body>) is fetched again that often and swapped in place, with no reload and no flash.
// live.js brings changes sooner when the live channel is up.
(function () {
  "use strict";
  var region = document.querySelector("[data-refresh]");
  if (!region || !window.fetch || !window.DOMParser) return;
  var every = Math.max(5, Number(region.getAttribute("data-refresh")) || 15) * 1000;
  function tick() {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = region === document.body ? doc.body : doc.getElementById(region.id);
        if (fresh) region.innerHTML = fresh.innerHTML;
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
