from django import template

from accounts.theme import CHOICES, COOKIE_NAME, theme_from_cookie

register = template.Library()


@register.simple_tag(takes_context=True)
def stored_theme(context) -> str:
    """The theme the browser stored ("light", "dark", "system"), or "" when none: base.html puts it on <html>."""
    request = context.get("request")
    return theme_from_cookie(request.COOKIES.get(COOKIE_NAME)) if request is not None else ""


@register.simple_tag
def theme_choices() -> tuple[str, ...]:
    return CHOICES
