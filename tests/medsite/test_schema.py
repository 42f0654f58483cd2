"""Every operation of the OpenAPI schema lists the problem+json errors it can answer (medsite/schema.py), so a
generated client gets a typed error and an integrator sees per operation what to handle (issue 22)."""

from drf_spectacular.generators import SchemaGenerator

from medsite.exceptions import PROBLEM_JSON


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _problem(responses: dict, status: int) -> bool:
    content = responses.get(str(status), {}).get("content", {})
    return content.get(PROBLEM_JSON, {}).get("schema") == {"$ref": "#/components/schemas/Problem"}


def test_the_problem_shape_is_declared_once():
    problem = _schema()["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail", "errors"}


def test_every_api_operation_lists_its_errors():
    schema = _schema()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/")
        for method, operation in methods.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 40
    for path, method, operation in operations:
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert _problem(responses, 429), where
        if {} not in operation.get("security", [{}]):
            assert _problem(responses, 401) and _problem(responses, 403), where
        if "{" in path:
            assert _problem(responses, 404), where
        if "requestBody" in operation:
            assert "400" in responses and _problem(responses, 413) and _problem(responses, 415), where


def test_conventions_have_their_statuses():
    paths = _schema()["paths"]
    patch = paths["/api/v1/patients/{id}/"]["patch"]["responses"]
    assert _problem(patch, 412) and _problem(patch, 428)
    create = paths["/api/v1/studies/"]["post"]["responses"]
    assert _problem(create, 409) and _problem(create, 422)
    assert _problem(paths["/api/v1/predictions/"]["get"]["responses"], 400)  # a bad or unknown filter


def test_an_operations_own_error_response_is_kept():
    """An upload's 400 and 409 list the files that were stored beside the refusals: not replaced by the plain
    problem."""
    upload = _schema()["paths"]["/api/v1/studies/{id}/images/"]["post"]["responses"]
    assert not _problem(upload, 400) and not _problem(upload, 409)
    assert _problem(upload, 404)
