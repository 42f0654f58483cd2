"""The colour theme a browser asked for: "light", "dark" or "system" (follow the operating system).

The choice lives in a cookie, so the server can put it on <html data-theme> and the first paint is already right
(no inline script is needed, which the Content-Security-Policy would refuse). static/js/theme.js writes the same
cookie, and localStorage, when the toggle is used; without JavaScript the toggle posts to accounts:theme_set.
"""

COOKIE_NAME = "medsite_theme"
COOKIE_MAX_AGE = 365 * 24 * 3600
CHOICES = ("light", "dark", "system")


def theme_from_cookie(value: str | None) -> str:
    """The stored choice, or "" when none (or an unknown value) was stored: the page's own default then applies."""
    return value if value in CHOICES else ""
