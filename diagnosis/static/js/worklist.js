// The worklist's keyboard: one row has the focus at a time (a roving tabindex on each row's Open link, the row
// marked aria-current), so Tab leaves the list in one step and comes back to the same row.
//   j / ArrowDown   next row          k / ArrowUp   previous row
//   Home / End      first / last row  Enter         opens the row (the link does it)
// j and k work from anywhere on the page; the arrows, Home and End while the focus is in the list. No key is taken
// while a form field has the focus, or with Ctrl, Alt or Meta held. Plain JavaScript, no inline handlers (CSP).
(function () {
  "use strict";

  function isField(element) {
    if (!element) return false;
    if (element.isContentEditable) return true;
    return ["INPUT", "SELECT", "TEXTAREA"].indexOf(element.tagName) !== -1;
  }

  function setUp(table) {
    const links = Array.prototype.slice.call(table.querySelectorAll("a.wl-open"));
    if (!links.length) return;
    let current = Math.max(0, links.findIndex(function (link) { return link.tabIndex === 0; }));

    function mark(index, focus) {
      index = Math.max(0, Math.min(links.length - 1, index));
      links.forEach(function (link, i) {
        link.tabIndex = i === index ? 0 : -1;
        const row = link.closest("tr");
        if (i === index) row.setAttribute("aria-current", "true");
        else row.removeAttribute("aria-current");
      });
      current = index;
      if (focus) {
        links[index].focus();
        links[index].closest("tr").scrollIntoView({ block: "nearest" });
      }
    }

    mark(current, false);
    table.addEventListener("focusin", function (event) {
      const index = links.indexOf(event.target);
      if (index !== -1 && index !== current) mark(index, false);
    });
    table.addEventListener("click", function (event) {
      const row = event.target.closest("tr.worklist-row");
      if (row) {
        const index = links.indexOf(row.querySelector("a.wl-open"));
        if (index !== -1) mark(index, false);
      }
    });

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
      if (isField(document.activeElement)) return;
      const inList = table.contains(document.activeElement);
      let target = null;
      switch (event.key) {
        case "j": target = inList ? current + 1 : current; break;
        case "k": target = inList ? current - 1 : current; break;
        case "ArrowDown": if (inList) target = current + 1; break;
        case "ArrowUp": if (inList) target = current - 1; break;
        case "Home": if (inList) target = 0; break;
        case "End": if (inList) target = links.length - 1; break;
        default: return;
      }
      if (target === null) return;
      event.preventDefault();
      mark(target, true);
    });
  }

  function ready() {
    const table = document.querySelector("table[data-testid='worklist']");
    if (table) setUp(table);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
