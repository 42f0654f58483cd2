/* Buttons that fold a part of the page on a narrow screen: the header's "Menu" (templates/base.html) and the
 * reading view's "Image tools" (templates/diagnosis/_viewer_panel.html).
 *
 * A button `data-disclosure=".selector"` opens and closes its closest ancestor matching the selector: the script
 * gives that container .has-disclosure, toggles .is-open on it and keeps the button's aria-expanded in step; Escape
 * inside an open container closes it and gives the focus back to the button. The stylesheet decides what folds and
 * below which width (medsite.css); without this script nothing folds, and the buttons stay hidden.
 */
(function () {
  "use strict";

  function wire(button) {
    var container = button.closest(button.getAttribute("data-disclosure"));
    if (!container) { return; }
    function setOpen(open) {
      container.classList.toggle("is-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.hidden = false;
    container.classList.add("has-disclosure");
    button.addEventListener("click", function () { setOpen(!container.classList.contains("is-open")); });
    container.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && container.classList.contains("is-open")) {
        setOpen(false);
        button.focus();
      }
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-disclosure]"), wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
