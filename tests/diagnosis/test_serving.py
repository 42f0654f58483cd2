"""One module serves files to the web and to the API: the same bytes, headers and audit events from both."""

import importlib

import pytest
from django.urls import reverse

from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

# (web URL name, API URL name, API query, the audit event's action, object type and detail)
FILES = {
    "display": ("diagnosis:image_display", "image-file", {"rendition": "display"}, "VIEW", "image"),
    "original": ("diagnosis:image_original", "image-file", {"rendition": "original"}, "DOWNLOAD", "image"),
    "heatmap": ("diagnosis:prediction_heatmap", "prediction-heatmap", {}, "VIEW", "prediction"),
}


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("name", FILES)
def test_web_and_api_serve_the_same_file_the_same_way(client, api, world, clinician, name):
    web_name, api_name, query, action, object_type = FILES[name]
    pk = world.prediction.pk if object_type == "prediction" else world.image.pk
    client.force_login(clinician)
    api = api(clinician)
    before = AuditEvent.objects.count()
    web = client.get(reverse(web_name, args=[pk]))
    from_api = api.get(reverse(f"api:{api_name}", args=[pk]), query)
    assert web.status_code == from_api.status_code == 200
    body = _body(web)
    assert body and body == _body(from_api)
    for header in ("Content-Type", "Cache-Control", "Content-Disposition"):
        assert web.get(header) == from_api.get(header), header
    assert web["Cache-Control"] == "private, no-store"
    events = list(AuditEvent.objects.order_by("id")[before:].values_list("action", "object_type", "object_id"))
    assert events == [(getattr(AuditEvent.Action, action), object_type, str(pk))] * 2


def test_another_sites_file_is_404_from_both(client, api, world, outsider):
    client.force_login(outsider)
    assert client.get(reverse("diagnosis:image_display", args=[world.image.pk])).status_code == 404
    assert api(outsider).get(reverse("api:image-file", args=[world.image.pk])).status_code == 404


@pytest.mark.parametrize("module", ["diagnosis.api.records", "diagnosis.api.review"])
def test_the_api_serves_files_without_the_web_views(module):
    """The API called the HTML views to stream files; both now call diagnosis.serving."""
    assert not hasattr(importlib.import_module(module), "views")
