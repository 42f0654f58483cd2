/* MedSite reading view and review forms: keys for a keyboard-only reader, and no decision before the reader's own.
 *
 * On every review form ([data-review-form]): Save stays disabled until Agree, Disagree with a label, or Uncertain
 * is chosen; the Disagree labels show only once Disagree is chosen (picking a label chooses Disagree).
 * On the reading view ([data-reading]) only, keys (never while a text field has focus, except Escape and
 * Ctrl+Enter in the note): a agree, d disagree, 1-9 the label, u uncertain, Enter save and next, n / p next and
 * previous image, ? the key legend, also while the image has focus. The image viewer's own keys (+ - 0 arrows i h
 * r w) are viewer.js's.
 * After a load, focus goes to the decision, and the page's "Saved: ..." message is announced (aria-live).
 */
(function () {
  "use strict";

  function decisionOf(form) {
    var checked = form.querySelector("[data-decision]:checked");
    return checked ? checked.value : "";
  }

  function labelOf(form) {
    var checked = form.querySelector("[data-disagree-labels] input:checked");
    return checked ? checked.value : "";
  }

  /* Whether the form holds a decision that can be saved. Pure over (decision, label): testable without a page. */
  function complete(decision, label) {
    return decision === "agree" || decision === "uncertain" || (decision === "disagree" && label !== "");
  }

  function refresh(form) {
    var decision = decisionOf(form);
    var ready = complete(decision, labelOf(form));
    var labels = form.querySelector("[data-disagree-labels]");
    if (labels) {
      labels.hidden = decision !== "disagree";
      if (decision !== "disagree") {
        Array.prototype.forEach.call(labels.querySelectorAll("input:checked"), function (input) { input.checked = false; });
      }
    }
    Array.prototype.forEach.call(form.querySelectorAll("[data-save]"), function (button) { button.disabled = !ready; });
    var hint = form.querySelector("[data-save-hint]");
    if (hint) {
      hint.hidden = ready;
      hint.textContent = decision === "disagree" ? "Choose your label." : "Choose Agree, Disagree (with your label) or Uncertain first.";
    }
  }

  function onChange(event) {
    var form = event.target.closest && event.target.closest("[data-review-form]");
    if (!form) {
      return;
    }
    if (event.target.name === "label" && event.target.checked) {
      var disagree = form.querySelector('[data-decision="disagree"]');
      if (disagree) {
        disagree.checked = true;
      }
    }
    refresh(form);
  }

  function choose(input) {
    if (!input || input.disabled) {
      return false;
    }
    input.checked = true;
    input.focus({ preventScroll: true });
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function isTextField(element) {
    if (!element) {
      return false;
    }
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable) {
      return true;
    }
    return tag === "INPUT" && !/^(radio|checkbox|button|submit|reset|range)$/i.test(element.type);
  }

  function save(form) {
    var button = form.querySelector("[data-save-next]") || form.querySelector("[data-save]");
    if (button && !button.disabled) {
      form.requestSubmit ? form.requestSubmit(button) : button.click();
    }
  }

  function onKey(event, root) {
    var form = root.querySelector("[data-review-form]");
    var target = event.target;
    if (event.defaultPrevented || event.altKey || event.metaKey) {
      return;
    }
    if (isTextField(target)) {
      if (form && target.form === form && event.key === "Enter" && event.ctrlKey) {
        event.preventDefault();
        save(form);
      } else if (event.key === "Escape") {
        event.preventDefault();
        target.blur();
        focusDecision(root);
      }
      return;
    }
    if (event.ctrlKey) {
      return;
    }
    if (target.closest && target.closest("dialog")) {
      return; /* a dialog's own keys */
    }
    /* The inline viewer's keys (+ - 0 arrows i h r w) are not these, so a reader who clicked the image can still
       decide by key; the viewer stops its own keys before they reach the page. */
    var key = event.key;
    var handled = false;
    if (key === "?") {
      var legend = root.querySelector("[data-key-legend]");
      if (legend) {
        legend.open = !legend.open;
        handled = true;
      }
    } else if (key === "n" || key === "p") {
      var link = root.querySelector('[data-key-link="' + key + '"]');
      if (link) {
        link.click();
        handled = true;
      }
    } else if (form && (key === "a" || key === "d" || key === "u")) {
      handled = choose(form.querySelector('[data-decision="' + { a: "agree", d: "disagree", u: "uncertain" }[key] + '"]'));
    } else if (form && /^[1-9]$/.test(key) && decisionOf(form) === "disagree") {
      handled = choose(form.querySelector('[data-label-key="' + key + '"]'));
    } else if (form && key === "Enter") {
      var tag = target.tagName;
      if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") {
        return; /* Enter activates what has focus */
      }
      save(form);
      handled = true;
    }
    if (handled) {
      event.preventDefault();
    }
  }

  function focusDecision(root) {
    var form = root.querySelector("[data-review-form]");
    var target = form && (form.querySelector("[data-decision]:checked") || form.querySelector("[data-decision]"));
    if (target) {
      target.focus({ preventScroll: true });
    }
  }

  function announce(root) {
    var announcer = root.querySelector("[data-reading-announcer]");
    var messages = document.querySelectorAll(".messages .message");
    if (!announcer || !messages.length) {
      return;
    }
    var text = Array.prototype.map.call(messages, function (m) { return m.textContent.trim(); }).join(" ");
    /* A live region speaks changes, not what was there at load: fill it a moment after the page settles. */
    window.setTimeout(function () { announcer.textContent = text; }, 150);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-review-form]"), refresh);
    document.addEventListener("change", onChange);
    document.addEventListener("htmx:afterSettle", function () {  /* the study page's results, swapped in */
      Array.prototype.forEach.call(document.querySelectorAll("[data-review-form]"), refresh);
    });
    var root = document.querySelector("[data-reading]");
    if (!root) {
      return;
    }
    document.addEventListener("keydown", function (event) { onKey(event, root); });
    focusDecision(root);
    announce(root);
  }

  window.MedSiteReading = { complete: complete };
  if (typeof document !== "undefined" && document.getElementById) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
  }
})();
