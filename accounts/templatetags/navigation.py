"""{% site_navigation %}: the signed-in header every page shows, rendered once per process for each distinct header.

The header depends only on the user's email, staff and superuser flags, memberships (role and site name) and the
page's view name; it is rendered from exactly those values, kept under them (so any change to one of them is
a new entry, never a stale one), and the request's CSRF field is put in afterwards. It saves rendering the same
navigation on every page view.
"""

from functools import lru_cache

from django import template
from django.template.backends.utils import csrf_input
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

register = template.Library()

CSRF_MARK = "\x00csrf\x00"  # where the request's CSRF field goes; no email or site name holds a NUL


@lru_cache(maxsize=1024)
def _header(email: str, is_staff: bool, is_superuser: bool, memberships: tuple, here: str | None) -> str:
    context = {
        "email": email,
        "is_staff": is_staff,
        "is_superuser": is_superuser,
        "memberships": [{"role": role, "role_display": display, "site": site} for role, display, site in memberships],
        "here": here,
        "csrf_input": CSRF_MARK,
    }
    return render_to_string("includes/navigation.html", context)


@register.simple_tag(takes_context=True)
def site_navigation(context) -> str:
    request = context["request"]
    user = request.user
    memberships = tuple((m.role, m.get_role_display(), str(m.site)) for m in user.memberships_by_role())
    here = request.resolver_match.view_name if request.resolver_match else None
    html = _header(user.email, user.is_staff, user.is_superuser, memberships, here)
    return mark_safe(html.replace(CSRF_MARK, str(csrf_input(request)), 1))
