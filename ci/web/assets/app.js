// DataKit CI: a confirmation before destructive buttons, and a live log
// that keeps its end in view while it grows (unless "follow" is off).
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  }, true);
  function follow() {
    var box = document.getElementById("follow");
    return !box || box.checked;
  }
  var obs = new MutationObserver(function () {
    var log = document.getElementById("log");
    if (log && document.getElementById("follow") && follow()) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  });
  obs.observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () { obs.disconnect(); });
})();
