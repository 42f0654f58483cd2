"""Project-wide response headers that no single app owns."""

from django.conf import settings


class NoStoreMiddleware:
    """Every response to a signed-in request (a session, or an API token) is `Cache-Control: no-store`: pages,
    JSON, redirects and errors alike may carry names, MRNs and results, and must not be kept by the browser's
    cache (the back button on a shared ward PC) or by a proxy. A response that already says `private` (the image
    files) keeps it. Static files, which WhiteNoise serves before this middleware runs, are left to their own
    long-lived caching."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        response = self.get_response(request)
        if _signed_in(request) and not request.path.startswith(self.static_prefix):
            current = response.get("Cache-Control", "")
            if "no-store" not in current:
                response["Cache-Control"] = "private, no-store" if "private" in current else "no-store"
        return response


def _signed_in(request) -> bool:
    """After the view: DRF's token authentication sets request.user as well (on the Django request it wraps)."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META
