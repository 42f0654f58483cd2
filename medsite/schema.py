"""The OpenAPI schema's error responses: every operation under /api/ lists the problems it can answer.

medsite.exceptions shapes every /api/ error as one RFC 9457 problem (application/problem+json). This
postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) declares that shape once, as the `Problem`
component, and adds to each operation the statuses the API's own code can answer for it, so that a generated
client gets a typed error and an integrator sees, per operation, what to handle:

- every operation: 429 (rate limits); 401 and 403 unless it is open to anonymous callers;
- a path with an {id}: 404 (another site's record is a 404 too: it is not disclosed);
- query parameters (filters, ordering, page): 400, for a bad or unknown one;
- a request body: 400, 413 (over the size limit) and 415 (a media type the operation does not take);
- POST, PUT, PATCH and DELETE: 409 (the state of things refuses it: a duplicate, a run already going);
- an If-Match parameter: 412 and 428; an Idempotency-Key parameter: 422 (the key reused for another request).

A status an operation already documents (an upload's 400 and 409 list what was stored) is left as it is.
"""

from http import HTTPStatus

from medsite.exceptions import PROBLEM_JSON

PROBLEM = "Problem"
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details, with MedSite's `code` and per-field `errors` (docs/api.md).",
    "properties": {
        "type": {"type": "string", "description": "Always about:blank: `status` and `code` say what happened."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "A stable word for programs, e.g. duplicate_image."},
        "detail": {"type": "string", "description": "One sentence for a person."},
        "errors": {
            "type": "object",
            "description": "Messages per input field (query parameters under their own names); messages about the "
            "request as a whole under non_field_errors. Empty when no input was at fault.",
            "additionalProperties": {},
        },
    },
    "required": ["type", "title", "status", "code", "detail", "errors"],
}
WHY = {
    400: "The request is invalid: `errors` names each field or query parameter at fault.",
    401: "No valid credentials: sign in, or send `Authorization: Token …`.",
    403: "Signed in, but your role at this record's site does not allow this.",
    404: "No such record at your sites.",
    409: "The request conflicts with the state of the record (a duplicate, or a change already under way).",
    412: "The record changed since you read it: If-Match no longer matches its ETag.",
    413: "The request body is over the size limit.",
    415: "The request body's media type is not one this operation takes.",
    422: "This Idempotency-Key was used within 24 hours for a different request.",
    428: "This change needs If-Match with the record's ETag.",
    429: "Too many requests: wait for the seconds in Retry-After.",
}
WRITES = {"post", "put", "patch", "delete"}


def problem_responses(result, generator, request, public):
    """The hook: the Problem component, and each /api/ operation's error statuses (see the module docstring)."""
    result.setdefault("components", {}).setdefault("schemas", {})[PROBLEM] = PROBLEM_SCHEMA
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                responses = operation.setdefault("responses", {})
                for status in sorted(error_statuses(path, method, operation)):
                    responses.setdefault(str(status), _problem_response(status))
    return result


def error_statuses(path: str, method: str, operation: dict) -> set[int]:
    """The problems the API can answer for this operation."""
    statuses = {429}
    if {} not in operation.get("security", [{}]):  # `{}` among the requirements: open to anonymous callers
        statuses |= {401, 403}
    parameters = operation.get("parameters", [])
    where = {parameter["in"] for parameter in parameters}
    names = {parameter["name"] for parameter in parameters}
    if "{" in path:
        statuses.add(404)
    if "query" in where:
        statuses.add(400)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    if method in WRITES:
        statuses.add(409)
    if "If-Match" in names:
        statuses |= {412, 428}
    if "Idempotency-Key" in names:
        statuses.add(422)
    return statuses


def _problem_response(status: int) -> dict:
    return {
        "description": f"{HTTPStatus(status).phrase}. {WHY[status]}",
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}},
    }
