/* The header's "Menu" button on a phone (templates/base.html).
 *
 * On a narrow screen the navigation and the theme toggle take four lines above every page. With this script the
 * stylesheet folds them behind one button (the header gets .menu-ready; below 600 px .site-menu is hidden until
 * the button opens it); Escape closes it again. Without JavaScript nothing is folded. Wide screens never fold.
 */
(function () {
  "use strict";

  function init() {
    var button = document.querySelector("[data-menu-toggle]");
    var header = button && button.closest(".top");
    if (!header) { return; }
    function setOpen(open) {
      header.classList.toggle("menu-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.hidden = false;
    header.classList.add("menu-ready");
    button.addEventListener("click", function () { setOpen(!header.classList.contains("menu-open")); });
    header.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && header.classList.contains("menu-open")) {
        setOpen(false);
        button.focus();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
