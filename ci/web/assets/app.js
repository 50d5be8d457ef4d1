// DataKit CI: a confirmation before destructive buttons, a live log that
// keeps its end in view while it grows (unless "follow" is off), and pages
// that follow the CI while they are open.
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
  document.addEventListener("DOMContentLoaded", function () {
    obs.disconnect();
    var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (every > 0 && window.fetch && window.DOMParser) {
      window.setInterval(refresh, every);
    }
  });

  // refresh follows the CI on a page whose body has data-refresh="MS" (the
  // dashboard, the lists, a target or commit page): it fetches the page
  // again and puts its new <main> in place of the old one, keeping the
  // <details> the visitor opened or closed and the message of the last
  // action. It waits while the tab is hidden, while a control of the page
  // has the focus (a button being pressed), and for the previous round; a
  // failed fetch (the CI restarting), a redirect (a session gone) or an
  // answer other than 200 leaves the page as it is until the next round.
  var busy = false;
  function refresh() {
    var main = document.querySelector("main");
    var active = document.activeElement;
    if (busy || document.hidden || !main ||
        (active && main.contains(active) && /^(INPUT|BUTTON|SELECT|TEXTAREA)$/.test(active.tagName))) {
      return;
    }
    busy = true;
    window.fetch(window.location.href, { credentials: "same-origin", cache: "no-store" }).then(function (resp) {
      return resp.ok && !resp.redirected ? resp.text() : null;
    }).then(function (text) {
      busy = false;
      if (text === null) return;
      var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
      var now = document.querySelector("main");
      if (!fresh || !now) return;
      var flash = now.querySelector("#flash");
      if (flash && !fresh.querySelector("#flash")) {
        var banners = fresh.querySelectorAll(":scope > .banner");
        var after = banners.length ? banners[banners.length - 1].nextSibling : fresh.firstChild;
        fresh.insertBefore(flash.cloneNode(true), after);
      }
      var was = now.querySelectorAll("details"), will = fresh.querySelectorAll("details");
      if (was.length === will.length) {
        for (var i = 0; i < was.length; i++) will[i].open = was[i].open;
      }
      if (fresh.innerHTML === now.innerHTML) return;
      now.replaceWith(document.adoptNode(fresh));
    }, function () { busy = false; });
  }
})();
