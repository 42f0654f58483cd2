"""Uncertain / not-diagnostic reviews, and the agreement ledger (API list and CSV export)."""

import csv
import io
import re

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from diagnosis.api.review import _csv_cell
from diagnosis.models import RetrainingItem, Review
from diagnosis.services import review

pytestmark = pytest.mark.django_db


def test_uncertain_review_from_the_web_form_queues_nothing(client, radiologist, world):
    client.force_login(radiologist)
    url = reverse("diagnosis:review_submit", args=[world.prediction.pk])
    response = client.post(url, {"label": "__uncertain__", "note": "motion artefact"})
    assert response.status_code == 302
    saved = Review.objects.get()
    assert (saved.decision, saved.label, saved.note) == ("uncertain", "", "motion artefact")
    assert not RetrainingItem.objects.exists()
    page = client.get(reverse("diagnosis:study_results", args=[world.study.pk])).content.decode()
    assert "Marked uncertain / not diagnostic" in page and 'name="decision" value="uncertain"' in page


def test_api_reviews_need_a_label_or_uncertain_but_not_both(api, radiologist, world):
    client = api(radiologist)
    url = reverse("api:review-list")
    assert client.post(url, {"prediction": world.prediction.pk}, format="json").status_code == 400
    both = client.post(url, {"prediction": world.prediction.pk, "label": "normal", "uncertain": True}, format="json")
    assert both.status_code == 400 and "no label" in both.json()["errors"]["label"][0]
    ok = client.post(url, {"prediction": world.prediction.pk, "uncertain": True}, format="json")
    assert ok.status_code == 201 and ok.json()["decision"] == "uncertain"


def test_ledger_lists_ai_output_and_decision_and_exports_csv(api, radiologist, world, other_world, outside_radiologist):
    review.review_submit(prediction=world.prediction, reviewer=radiologist, label="pneumonia")
    review.review_submit(prediction=world.prediction, reviewer=radiologist, label="normal", note="=HYPERLINK(1)")
    review.review_submit(prediction=other_world.prediction, reviewer=outside_radiologist, label="normal")
    client = api(radiologist)
    rows = client.get(reverse("api:review-list")).json()["results"]
    assert [(r["decision"], r["label"], r["agrees"]) for r in rows] == [
        ("correct", "normal", False),
        ("confirm", "pneumonia", True),
    ]
    first = rows[1]
    assert first["ai_label"] == "pneumonia" and first["ai_probabilities"] == {"normal": 0.2, "pneumonia": 0.8}
    assert first["threshold"] == 0.5 and first["task"] == "chest-xray" and first["reviewer"] == radiologist.email
    assert first["model_sha256"] == world.model_version.bundle_sha256
    assert [
        r["decision"] for r in client.get(reverse("api:review-list"), {"decision": "confirm"}).json()["results"]
    ] == ["confirm"]

    response = client.get(reverse("api:review-export"), {"task": "chest-xray"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["decision"], r["ai_label"], r["label"]) for r in table] == [
        ("confirm", "pneumonia", "pneumonia"),
        ("correct", "pneumonia", "normal"),
    ]
    assert table[1]["note"] == "'=HYPERLINK(1)"  # never a live formula in a spreadsheet
    assert table[0]["ai_probabilities"] == '{"normal": 0.2, "pneumonia": 0.8}'
    event = AuditEvent.objects.filter(action=AuditEvent.Action.DOWNLOAD, object_type="review").get()
    assert event.detail == {"count": 2, "format": "csv"} and event.site == world.site


# --- CSV cells that a spreadsheet would run (issue 20, finding 7) ---------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("ok;=2+5", "ok;'=2+5"),  # a spreadsheet importing with ";" as the separator starts a cell at "="
        ("a,=b", "a,'=b"),
        ("x\t@SUM(A1)", "x\t'@SUM(A1)"),
        ("a|=cmd|' /C calc'!A0", "a|'=cmd|' /C calc'!A0"),
        (" =1", "' =1"),
        ('"=1"', '\'"=1"'),
        ("-2+3", "'-2+3"),
        ("note\n+A1", "note\n'+A1"),
        ("-2", "-2"),  # plain numbers stay numbers
        ("+1.5e3", "+1.5e3"),
        ("ok;-2", "ok;-2"),
        ("no formula here", "no formula here"),
        ({"normal": 0.2, "pneumonia": 0.8}, '{"normal": 0.2, "pneumonia": 0.8}'),
        (0.5, 0.5),
    ],
)
def test_csv_cells_are_neutralised_after_every_separator(cell, written):
    assert _csv_cell(cell) == written


def test_the_ledger_export_quotes_every_cell(api, radiologist, world):
    review.review_submit(prediction=world.prediction, reviewer=radiologist, label="normal", note="ok;=2+5")
    response = api(radiologist).get(reverse("api:review-export"))
    text = response.content.decode()
    header, row = text.splitlines()[:2]
    assert header.startswith('"id",') and row.startswith('"')
    (parsed,) = csv.DictReader(io.StringIO(text))
    assert parsed["note"] == "ok;'=2+5"
    # Split on ";" ignoring the quotes, as a careless import would: still no cell starts a formula.
    assert not [cell for cell in re.split(r"[;,\t]", text) if cell.strip().lstrip('"').startswith(("=", "@"))]
