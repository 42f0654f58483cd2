/* MedSite study results: tell screen-reader users what changed when htmx swaps in a new #results.
 *
 * The #results element is replaced wholesale every 2 s while images are pending; making it a live region would
 * re-read the whole list on every poll. Instead each image card carries a one-line data-announce, and the stable
 * #results-announcer (role=status, aria-live=polite) speaks only the lines that changed since the last swap.
 */
(function () {
  "use strict";

  function lines(root) {
    var cards = root ? root.querySelectorAll("[data-announce]") : [];
    return Array.prototype.map.call(cards, function (card) { return card.getAttribute("data-announce"); });
  }

  /* The lines of `now` that were not in `before`. Pure, so it can be tested without a browser. */
  function changes(before, now) {
    return now.filter(function (line) { return before.indexOf(line) === -1; });
  }

  /* Heatmap overlays on the thumbnails: a checkbox shows or hides one, a range sets its opacity. */
  function onHeatmapControl(event) {
    var target = event.target;
    var id = target.getAttribute && (target.getAttribute("data-heatmap-opacity") || target.getAttribute("data-heatmap-toggle"));
    var overlay = id && document.getElementById(id);
    if (!overlay) {
      return;
    }
    if (target.hasAttribute("data-heatmap-toggle")) {
      overlay.hidden = !target.checked;
    } else {
      /* Opacity by class (heatmap-op-0 … heatmap-op-10): the CSP allows no inline styles. */
      var step = Math.max(0, Math.min(10, Math.round(Number(target.value) / 10)));
      overlay.className = overlay.className.replace(/\bheatmap-op-\d+\b/, "").trim() + " heatmap-op-" + step;
    }
  }

  function init() {
    document.addEventListener("input", onHeatmapControl);
    document.addEventListener("change", onHeatmapControl);
    var announcer = document.getElementById("results-announcer");
    if (!announcer) {
      return;
    }
    var last = lines(document.getElementById("results"));
    document.body.addEventListener("htmx:afterSettle", function () {
      var results = document.getElementById("results");
      var now = lines(results);
      var changed = changes(last, now);
      last = now;
      if (changed.length) {
        announcer.textContent = changed.join(". ") + ".";
      }
    });
  }

  window.MedSiteResults = { changes: changes };
  if (typeof document !== "undefined" && document.getElementById) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
  }
})();
