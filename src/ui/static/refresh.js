// ordergate dashboard: live refresh. A page whose <body> has data-refresh="N" (N > 0) reloads
// itself every N seconds, unless someone is typing in one of its fields.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!(seconds > 0)) { return; }
  window.setInterval(function () {
    var active = document.activeElement;
    var typing = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
    if (!typing && !document.hidden) { window.location.reload(); }
  }, seconds * 1000);
})();
