/* The colour theme toggle (templates/includes/theme_toggle.html).
 *
 * The server already put the stored choice on <html data-theme> (accounts/theme.py reads the medsite_theme cookie),
 * so nothing here is needed for the first paint. A click switches the theme at once, and stores the choice in
 * localStorage and in the cookie (for the server, next time). If the cookie was lost but localStorage still holds
 * a choice, the choice is applied and the cookie written again.
 */
(function () {
  "use strict";
  var KEY = "medsite-theme";
  var COOKIE = "medsite_theme";
  var CHOICES = ["light", "dark", "system"];
  var root = document.documentElement;

  function readCookie() {
    var match = document.cookie.match(/(?:^|;\s*)medsite_theme=([a-z]+)/);
    return match && CHOICES.indexOf(match[1]) !== -1 ? match[1] : "";
  }

  function store(choice) {
    try { window.localStorage.setItem(KEY, choice); } catch (e) { /* private mode: the cookie still works */ }
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = COOKIE + "=" + choice + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
  }

  function showPressed(choice) {
    document.querySelectorAll("[data-theme-value]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-theme-value") === choice ? "true" : "false");
    });
  }

  function apply(choice) {
    root.setAttribute("data-theme", choice);
    showPressed(choice);
  }

  function init() {
    var saved = "";
    try { saved = window.localStorage.getItem(KEY) || ""; } catch (e) { saved = ""; }
    var cookie = readCookie();
    if (!cookie && CHOICES.indexOf(saved) !== -1) {
      store(saved);
      apply(saved);
    } else {
      if (cookie && cookie !== saved) {
        try { window.localStorage.setItem(KEY, cookie); } catch (e) { /* ignore */ }
      }
      showPressed(root.getAttribute("data-theme") || "system");
    }
    document.querySelectorAll("[data-theme-toggle]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var button = event.submitter;
        var choice = button && button.getAttribute("data-theme-value");
        if (CHOICES.indexOf(choice) === -1) { return; }  // let the form post
        event.preventDefault();
        store(choice);
        apply(choice);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
