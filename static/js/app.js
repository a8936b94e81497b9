// Issuer Console: small progressive enhancements. Pages work without this
// file; there is no inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  // After htmx swaps in a new page (boosted navigation), move focus to its
  // heading so keyboard and screen-reader users land on the new content.
  document.addEventListener("htmx:afterSettle", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (!target || target.tagName !== "BODY") return;
    var h1 = document.querySelector("main h1");
    if (h1) {
      h1.setAttribute("tabindex", "-1");
      h1.focus({ preventScroll: true });
    }
  });

  // A sort header or pager link swaps the results and pushes its address;
  // fields it changes outside the form (data-linked, e.g. ordering) take
  // their value from that address, so the next filter change keeps it.
  document.addEventListener("htmx:pushedIntoHistory", function () {
    var q = new URLSearchParams(location.search);
    document.querySelectorAll("form[role=search] [data-linked]").forEach(function (el) {
      el.value = q.get(el.name) || "";
    });
  });

  // Phone width: the header's menu button shows and hides the navigation.
  // Without this script the navigation is simply always shown (the CSS
  // only folds it away under html.js).
  document.documentElement.classList.add("js");
  function setMenu(open) {
    var btn = document.querySelector("[data-menu]");
    if (!btn) return;
    btn.hidden = false;
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.closest(".topbar").classList.toggle("menu-open", open);
  }
  document.addEventListener("DOMContentLoaded", function () { setMenu(false); });
  document.addEventListener("htmx:afterSettle", function () { setMenu(false); });
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-menu]");
    if (!btn) return;
    setMenu(btn.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") setMenu(false);
  });

  // Dismiss buttons on flash messages.
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-dismiss]");
    if (!btn) return;
    var box = btn.closest(".flash");
    if (box) box.remove();
  });
})();
