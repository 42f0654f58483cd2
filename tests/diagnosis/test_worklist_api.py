"""GET /api/v1/worklist/ and POST /api/v1/studies/{id}/claim/ and /release/; the web worklist and the API list the
same studies for the same filters (issue 22's leftover: they disagreed at a second-reader site)."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Role
from diagnosis.models import Study
from diagnosis.services.review import review_submit
from diagnosis.services.worklist import study_claim
from tests.conftest import with_totp
from tests.diagnosis.test_worklist import radiologist_at, waiting_study
from tests.factories import ImageFactory, MembershipFactory, ModelVersionFactory, PredictionFactory

pytestmark = pytest.mark.django_db
WORKLIST = "/api/v1/worklist/"


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_a_row_per_study_with_the_triage_facts(api, site, radiologist):
    stat = waiting_study(site, 0.3, 0.7, priority=Study.Priority.STAT, accession_number="A-1")
    routine = waiting_study(site, 0.9)
    response = api(radiologist).get(WORKLIST)
    assert _ids(response) == [stat.pk, routine.pk]
    row = response.json()["results"][0]
    assert row["patient"] == {
        "id": stat.patient.pk,
        "mrn": stat.patient.mrn,
        "name": stat.patient.name,
        "sex": "F",
        "age": None,
    }
    assert (row["priority"], row["accession_number"], row["site"]) == ("stat", "A-1", site.pk)
    assert row["abnormality"] == pytest.approx(0.7) and row["top_label"] == "pneumonia"
    assert (row["image_count"], row["unread_count"], row["claim"], row["claimed_by"]) == (2, 2, "", None)
    events = AuditEvent.objects.filter(actor=radiologist, object_type="worklist", action=AuditEvent.Action.VIEW)
    assert events.get().detail == {"count": 2, "page": 1}


def test_only_radiologists_have_a_worklist(api, site, clinician):
    response = api(clinician).get(WORKLIST)
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"
    assert api().get(WORKLIST).status_code in (401, 403)


@pytest.mark.parametrize(
    "query",
    [{"reviewed": "true"}, {"reviewed": "false"}, {"ordering": "-abnormality"}, {"priority": "soon"}, {"order": "x"}],
)
def test_a_filter_the_worklist_does_not_take_is_a_400_problem(api, site, radiologist, query):
    response = api(radiologist).get(WORKLIST, query)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == set(query)


def test_claim_and_release(api, site, other_site, radiologist, clinician):
    study = waiting_study(site, 0.9)
    colleague = radiologist_at(site)
    colleague.first_name, colleague.last_name = "Carla", "Colleague"
    colleague.save()
    claim, release = f"/api/v1/studies/{study.pk}/claim/", f"/api/v1/studies/{study.pk}/release/"
    taken = api(colleague).post(claim)
    assert taken.status_code == 200 and taken.json()["claimed_by"] == "Carla Colleague"
    assert taken.json()["expires_at"] > taken.json()["claimed_at"]

    refused = api(radiologist).post(claim)
    assert refused.status_code == 409 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["detail"].startswith("Being read by Carla Colleague since ")
    assert refused.json()["code"] == "claimed"
    assert api(radiologist).get(WORKLIST, {"claimed": "others"}).json()["results"][0]["claimed_by"] == "Carla Colleague"

    assert api(radiologist).post(release).json()["claimed_by"] == "Carla Colleague"  # not theirs to release
    assert api(clinician).post(claim).status_code == 403
    outsider = with_totp(MembershipFactory(site=other_site, role=Role.RADIOLOGIST).user)
    assert api(outsider).post(claim).status_code == 404
    released = api(colleague).post(release)
    assert released.status_code == 200 and released.json() == {
        "study": study.pk,
        "claimed_by": None,
        "claimed_at": None,
        "expires_at": None,
    }
    assert api(radiologist).post(claim).json()["claimed_by"] == str(radiologist)


FILTERS = [
    {},
    {"order": "abnormal"},
    {"order": "uncertain"},
    {"order": "oldest"},
    {"order": "newest"},
    {"order": "priority"},
    {"priority": "urgent"},
    {"modality": "CT"},
    {"task": "brain-mri"},
    {"label": "pneumonia"},
    {"claimed": "unclaimed"},
    {"claimed": "others"},
    {"claimed": "mine"},
]


@pytest.mark.parametrize("second_reader", [False, True], ids=["one-reader", "second-reader"])
def test_the_web_and_the_api_list_the_same_studies(api, login, site, radiologist, second_reader):
    site.second_reader = second_reader
    site.save()
    colleague = radiologist_at(site)
    waiting_study(site, 0.9)
    waiting_study(site, 0.2, 0.6, priority=Study.Priority.URGENT)
    ct = waiting_study(site, 0.4, modality=Study.Modality.CT)
    brain = ModelVersionFactory(task="brain-mri", classes=["no_tumor", "glioma"], positive_class="glioma")
    PredictionFactory(image=ImageFactory(study=ct), model_version=brain, label="glioma", abnormality=0.95)
    read_once = waiting_study(site, 0.8)
    review_submit(prediction=read_once.image_list()[0].predictions.get(), reviewer=colleague, label="pneumonia")
    mine = waiting_study(site, 0.5, priority=Study.Priority.STAT)
    study_claim(study=mine, reader=radiologist)
    study_claim(study=ct, reader=colleague)

    web, rest = login(radiologist), api(radiologist)
    for query in FILTERS:
        shown = [study.pk for study in web.get(reverse("diagnosis:worklist"), query).context["studies"]]
        assert shown == _ids(rest.get(WORKLIST, query)), query
    everything = _ids(rest.get(WORKLIST))
    assert (read_once.pk in everything) is second_reader  # read once by someone else: a second read is due
    assert web.get(reverse("diagnosis:worklist"), {"reviewed": "true"}).status_code == 400  # never a 500
