"""Errors under /api/: one shape, RFC 9457 problem details (application/problem+json).

    {"type": "about:blank", "title": "Bad Request", "status": 400, "code": "invalid",
     "detail": "mrn: A patient with this MRN already exists at this site.",
     "errors": {"mrn": ["A patient with this MRN already exists at this site."]}}

`errors` holds the messages per input field (query parameters included, under their own names); messages about
the request as a whole are under "non_field_errors", for every method. It is {} when no input was at fault.
`detail` is one sentence for a person; `code` a stable word for a program.

- api_exception_handler is REST_FRAMEWORK's EXCEPTION_HANDLER: DRF's exceptions, Http404, PermissionDenied and a
  service's refusal (medsite.errors.DomainError, and any Django ValidationError) become problems. It also counts
  a 401 against the client address, so that a flood of refused credentials turns into 429s.
- api_fallback is the last /api/ route: a path without its trailing slash is served as with it; anything else is
  a problem 404, never an HTML page.
- page_not_found (handler404) and problem_response (used by accounts.views.server_error, handler500) answer
  problems for /api/ paths too.

/fhir/ and /dicomweb/ keep the error formats of their standards: only paths under /api/ are rewritten here.
"""

from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, views
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from medsite.errors import DomainError
from medsite.throttling import RefusedRateThrottle

PROBLEM_JSON = "application/problem+json"
NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY  # "non_field_errors"; Django's own key is "__all__"


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request is too large: its body is over the limit this server accepts."
    default_code = "too_large"


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_JSON


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def problem(status: int, *, detail: str = "", code: str = "", errors: dict | None = None) -> dict:
    """The body of a problem: RFC 9457's members, plus `code` and `errors` (see the module docstring)."""
    phrase = HTTPStatus(status).phrase
    return {
        "type": "about:blank",
        "title": phrase,
        "status": status,
        "code": code or phrase.lower().replace(" ", "_").replace("-", "_"),
        "detail": detail or f"{phrase}.",
        "errors": errors or {},
    }


def problem_response(status: int, detail: str = "", *, code: str = "") -> JsonResponse:
    """A problem answered outside DRF (the 404 and 500 handlers, the /api/ fallback)."""
    return JsonResponse(problem(status, detail=detail, code=code), status=status, content_type=PROBLEM_JSON)


def api_exception_handler(exc, context):
    """REST_FRAMEWORK's EXCEPTION_HANDLER. Under /api/, every error DRF can answer is a problem; an exception
    it cannot (a bug) goes on to handler500, which answers a problem without internals."""
    request = context["request"]
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        throttle = RefusedRateThrottle()
        if not throttle.allow_request(request, context.get("view")):
            exc = exceptions.Throttled(throttle.wait())
    if not is_api(request):
        return views.exception_handler(exc, context)
    status, code = None, ""
    if isinstance(exc, RequestDataTooBig):  # over DATA_UPLOAD_MAX_MEMORY_SIZE; Django alone would answer 400
        exc = RequestTooLarge()
    if isinstance(exc, DjangoValidationError):  # a service's refusal
        status = exc.status if isinstance(exc, DomainError) else 400
        code = exc.code if isinstance(exc, DomainError) else "invalid"
        exc = serializers.ValidationError(serializers.as_serializer_error(exc))
    response = views.exception_handler(exc, context)
    if response is None:
        return None
    response.status_code = status or response.status_code
    response.data = _problem_from(response.status_code, response.data, code or _code_of(exc))
    response.content_type = PROBLEM_JSON
    request.accepted_renderer, request.accepted_media_type = ProblemJSONRenderer(), PROBLEM_JSON
    return response


def _code_of(exc) -> str:
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(codes, str):
        return codes
    return "invalid" if isinstance(exc, exceptions.ValidationError) else ""


def _problem_from(status: int, data, code: str) -> dict:
    """DRF's error body ({"detail": "..."}, {field: [...]}, or [...]) as a problem."""
    if isinstance(data, dict) and isinstance(data.get("detail"), str) and len(data) == 1:
        return problem(status, detail=str(data["detail"]), code=code)
    if not isinstance(data, dict):
        data = {NON_FIELD_ERRORS: data if isinstance(data, list) else [data]}
    errors = {}
    for key, value in data.items():
        key = NON_FIELD_ERRORS if key == "__all__" else key
        errors[key] = errors.get(key, []) + value if isinstance(value, list) else value
    return problem(status, detail=_summary(errors), code=code, errors=errors)


def _summary(errors: dict) -> str:
    """One sentence from the messages: the request's own first, then each field's, named."""
    parts = []
    for key in sorted(errors, key=lambda key: key != NON_FIELD_ERRORS):
        value = errors[key]
        messages = " ".join(str(m) for m in value if isinstance(m, str)) if isinstance(value, list) else ""
        messages = messages or "invalid."
        parts.append(messages if key == NON_FIELD_ERRORS else f"{key}: {messages}")
    return " ".join(parts) or "The request is invalid."


@csrf_exempt  # the API view it hands over to checks CSRF itself (DRF's SessionAuthentication)
def api_fallback(request):
    """The last route under /api/. `POST /api/v1/patients` is served as `POST /api/v1/patients/` (a redirect
    would turn a POST into a GET); a path that no route matches, even with its slash, is a problem 404."""
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_fallback and getattr(match.func, "csrf_exempt", False):
            request.resolver_match = match
            return match.func(request, *match.args, **match.kwargs)
    return problem_response(404, "There is no API endpoint at this address.", code="not_found")


def page_not_found(request, exception):
    """handler404: a problem under /api/, Django's page elsewhere."""
    if is_api(request):
        return problem_response(404, "Not found.", code="not_found")
    return defaults.page_not_found(request, exception)
