"""Template context every page shares."""

from django.utils.functional import SimpleLazyObject


def memberships(request) -> dict:
    """The signed-in user's roles and their sites, for the navigation: one query, made only if a page shows them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"memberships": SimpleLazyObject(user.memberships_by_role)}
