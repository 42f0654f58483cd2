"""Every view against three personas: right role on the right site, wrong role (403), another site (404)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from diagnosis.models import Image, Patient, Review, Study
from tests.diagnosis.conftest import predicted_image, reviewed_image, shadow_version
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db


def test_home_lists_only_own_site_patients(login, clinician, patient, other_site):
    PatientFactory(site=other_site, name="Hidden Person")
    response = login(clinician).get(reverse("diagnosis:home"))
    assert response.status_code == 200
    assert patient.name in response.content.decode()
    assert "Hidden Person" not in response.content.decode()


def test_home_says_how_to_get_a_model_when_none_is_active(login, clinician):
    response = login(clinician).get(reverse("diagnosis:home"))
    assert "No model is active" in response.content.decode()
    assert "manage.py train_model" in response.content.decode()


def test_anonymous_is_sent_to_login(client, patient):
    response = client.get(reverse("diagnosis:patient_detail", args=[patient.pk]))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_clinician_registers_patient(login, clinician, site):
    response = login(clinician).post(
        reverse("diagnosis:patient_create"), {"site": site.pk, "mrn": "A-1", "name": "Jane Roe", "sex": "F"}
    )
    patient = Patient.objects.get(mrn="A-1")
    assert response.status_code == 302
    assert patient.site == site and patient.created_by == clinician
    assert AuditEvent.objects.filter(action="create", object_type="patient", object_id=str(patient.pk)).exists()


def test_duplicate_mrn_is_a_form_error(login, clinician, site, patient):
    response = login(clinician).post(
        reverse("diagnosis:patient_create"), {"site": site.pk, "mrn": patient.mrn, "name": "Dup", "sex": "F"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_radiologist_may_not_register_patient(login, radiologist):
    assert login(radiologist).get(reverse("diagnosis:patient_create")).status_code == 403


def test_clinician_cannot_register_patient_at_another_site(login, clinician, other_site):
    response = login(clinician).post(
        reverse("diagnosis:patient_create"), {"site": other_site.pk, "mrn": "X", "name": "Y", "sex": "F"}
    )
    assert response.status_code == 200  # form error: the site is not a choice
    assert not Patient.objects.filter(mrn="X").exists()


@pytest.mark.parametrize("user_fixture", ["clinician", "radiologist", "site_admin"])
def test_site_members_view_patient_and_it_is_audited(request, login, patient, user_fixture):
    user = request.getfixturevalue(user_fixture)
    assert login(user).get(reverse("diagnosis:patient_detail", args=[patient.pk])).status_code == 200
    assert AuditEvent.objects.filter(action="view", actor=user, object_type="patient").exists()


def test_other_site_gets_404_for_patient(login, outsider, patient):
    assert login(outsider).get(reverse("diagnosis:patient_detail", args=[patient.pk])).status_code == 404


def test_clinician_creates_study(login, clinician, patient):
    response = login(clinician).post(
        reverse("diagnosis:study_create", args=[patient.pk]), {"modality": "CR", "body_part": "chest"}
    )
    study = Study.objects.get(patient=patient)
    assert response.status_code == 302
    assert study.body_part == "CHEST"


@pytest.mark.parametrize(("user_fixture", "status"), [("radiologist", 403), ("site_admin", 403), ("outsider", 404)])
def test_study_create_refused(request, login, patient, user_fixture, status):
    user = request.getfixturevalue(user_fixture)
    response = login(user).post(
        reverse("diagnosis:study_create", args=[patient.pk]), {"modality": "CR", "body_part": "C"}
    )
    assert response.status_code == status
    assert not Study.objects.exists()


@pytest.mark.parametrize(("user_fixture", "status"), [("clinician", 200), ("radiologist", 200), ("outsider", 404)])
def test_study_pages(request, login, study, user_fixture, status):
    client = login(request.getfixturevalue(user_fixture))
    assert client.get(reverse("diagnosis:study_detail", args=[study.pk])).status_code == status
    assert client.get(reverse("diagnosis:study_results", args=[study.pk])).status_code == status


@pytest.mark.parametrize(("user_fixture", "status"), [("radiologist", 403), ("outsider", 404)])
def test_upload_refused(request, login, study, png_upload, user_fixture, status):
    client = login(request.getfixturevalue(user_fixture))
    response = client.post(reverse("diagnosis:study_upload", args=[study.pk]), {"files": png_upload()})
    assert response.status_code == status
    assert not Image.objects.exists()


def test_image_file_is_served_only_to_site_members_and_audited(login, clinician, outsider, study, png_upload):
    client = login(clinician)
    client.post(reverse("diagnosis:study_upload", args=[study.pk]), {"files": png_upload()})
    image = Image.objects.get()
    for name, action in [("image_display", "view"), ("image_original", "download")]:
        response = client.get(reverse(f"diagnosis:{name}", args=[image.pk]))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert "no-store" in response["Cache-Control"]
        assert AuditEvent.objects.filter(action=action, object_id=str(image.pk)).exists()
    assert client.get(reverse("diagnosis:image_deidentified", args=[image.pk])).status_code == 404  # PNG: none
    client.logout()
    assert client.get(reverse("diagnosis:image_display", args=[image.pk])).status_code == 302
    assert login(outsider).get(reverse("diagnosis:image_original", args=[image.pk])).status_code == 404


def test_no_public_media_url(client, study, clinician, png_upload, login):
    login(clinician).post(reverse("diagnosis:study_upload", args=[study.pk]), {"files": png_upload()})
    image = Image.objects.get()
    client.logout()
    for url in [f"/media/{image.file.name}", f"/{image.file.name}", f"/static/{image.file.name}"]:
        assert client.get(url).status_code in (302, 404)


def test_worklist_is_for_radiologists(login, radiologist, clinician):
    assert login(radiologist).get(reverse("diagnosis:worklist")).status_code == 200
    assert login(clinician).get(reverse("diagnosis:worklist")).status_code == 403


@pytest.mark.parametrize(("user_fixture", "status"), [("clinician", 403), ("outsider", 404)])
def test_review_refused(request, login, prediction, user_fixture, status):
    client = login(request.getfixturevalue(user_fixture))
    response = client.post(reverse("diagnosis:review_submit", args=[prediction.pk]), {"label": "normal"})
    assert response.status_code == status
    assert not Review.objects.exists()


def test_review_with_unknown_label_is_rejected(login, radiologist, prediction):
    response = login(radiologist).post(reverse("diagnosis:review_submit", args=[prediction.pk]), {"label": "banana"})
    assert response.status_code == 400
    assert not Review.objects.exists()


def test_api_study_detail_personas(login, clinician, outsider, study):
    assert login(clinician).get(reverse("api:study-detail", args=[study.pk])).json()["id"] == study.pk
    assert login(outsider).get(reverse("api:study-detail", args=[study.pk])).status_code == 404


def test_clinician_edits_patient_and_study_and_each_change_is_audited(login, clinician, patient, study):
    client = login(clinician)
    response = client.post(
        reverse("diagnosis:patient_update", args=[patient.pk]),
        {"mrn": patient.mrn, "name": "Corrected Name", "sex": "F", "birth_date": "1970-01-02"},
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.name == "Corrected Name"
    event = AuditEvent.objects.get(action="update", object_type="patient")
    assert event.detail == {"fields": ["birth_date", "name"]}  # field names only, never the values
    client.post(reverse("diagnosis:study_update", args=[study.pk]), {"modality": "DX", "body_part": "chest"})
    study.refresh_from_db()
    assert (study.modality, study.body_part) == ("DX", "CHEST")
    assert AuditEvent.objects.filter(action="update", object_type="study").count() == 1


def test_editing_to_a_taken_mrn_is_refused(login, clinician, patient, site):
    other = PatientFactory(site=site, mrn="TAKEN-1")
    response = login(clinician).post(
        reverse("diagnosis:patient_update", args=[patient.pk]), {"mrn": other.mrn, "name": "X", "sex": "F"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not AuditEvent.objects.filter(action="update").exists()


def test_the_worklist_pages_by_50_and_keeps_the_order_across_pages(login, radiologist, site, model_version):
    for i in range(55):
        study = StudyFactory(patient=PatientFactory(site=site))
        predicted_image(study, model_version, i, abnormality=i / 100, margin=abs(i / 100 - 0.5))
    client = login(radiologist)
    first = client.get(reverse("diagnosis:worklist"), {"order": "uncertain"})
    assert len(first.context["studies"]) == 50 and first.context["shown"] == 55
    html = first.content.decode()
    assert 'data-testid="next-page"' in html and "order=uncertain&amp;page=2" in html
    second = client.get(reverse("diagnosis:worklist"), {"order": "uncertain", "page": 2})
    margins = [s.margin for s in first.context["studies"]] + [s.margin for s in second.context["studies"]]
    assert len(margins) == 55 and margins == sorted(margins)
    assert client.get(reverse("diagnosis:worklist"), {"page": "x"}).status_code == 200  # a bad page is page 1


def test_the_study_page_costs_the_same_queries_for_one_image_or_many(login, radiologist, study, model_version):
    client = login(radiologist)
    versions = (model_version, shadow_version(model_version))
    url = reverse("diagnosis:study_results", args=[study.pk])
    client.get(url)  # the session's first request also records its MFA check

    def shown() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries), response.content.decode()

    reviewed_image(study, versions, radiologist, 0)
    one, _ = shown()
    for n in range(1, 4):
        reviewed_image(study, versions, radiologist, n)
    many, page = shown()
    assert many == one
    assert page.count("Confirmed as pneumonia</strong>") == 4  # each image's review, none of the shadow version's
