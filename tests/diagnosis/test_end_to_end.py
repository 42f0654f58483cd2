"""The walking skeleton with every hop real: web, Celery worker process, broker, database, Keras model.

1. On PostgreSQL and Redis, with a live worker process (not eager mode).
2. On the embedded default (SQLite file, filesystem broker), web and worker as separate processes,
   driven over HTTP the way a browser would, with the seeded demo users.
"""

import re

import pytest
import requests
from django.conf import settings
from django.urls import reverse

from diagnosis.models import Image, Prediction, RetrainingItem, Review
from diagnosis.services.training import model_register
from tests import live
from tests.conftest import png_bytes

pytestmark = [pytest.mark.live]


@pytest.mark.django_db(transaction=True)
def test_skeleton_on_postgres_and_redis_with_live_worker(
    client, clinician, radiologist, study, png_upload, tiny_bundle, tmp_path
):
    env = live.postgres_redis_env(settings, tmp_path / "var")
    if env is None:
        pytest.skip("needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (make test sets them)")
    version = model_register(bundle_path=tiny_bundle, activate=True)
    with live.worker(env, tmp_path / "worker.log"):
        client.force_login(clinician)
        response = client.post(reverse("diagnosis:study_upload", args=[study.pk]), {"files": png_upload()})
        assert response.status_code == 302
        image = Image.objects.get(study=study)
        live.wait_for(
            lambda: (
                Image.objects.get(pk=image.pk).status != Image.Status.QUEUED
                and Image.objects.get(pk=image.pk).status != Image.Status.PROCESSING
            ),
            timeout=120,
            what="the worker to predict",
        )

    image.refresh_from_db()
    assert image.status == Image.Status.DONE, (image.failure_reason, (tmp_path / "worker.log").read_text())
    prediction = Prediction.objects.get(image=image)
    assert prediction.model_version == version
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    page = client.get(reverse("diagnosis:study_results", args=[study.pk])).content.decode()
    assert f'data-testid="ai-label">{prediction.label}<' in page
    assert "hx-trigger" not in page  # nothing pending: the page stops polling

    client.force_login(radiologist)
    corrected = next(c for c in version.classes if c != prediction.label)
    response = client.post(reverse("diagnosis:review_submit", args=[prediction.pk]), {"label": corrected})
    assert response.status_code == 302
    review = Review.objects.get(prediction=prediction)
    assert (review.decision, review.label) == (Review.Decision.CORRECT, corrected)
    assert RetrainingItem.objects.get(review=review).label == corrected


def _login(base: str, email: str, lands_on: str = "/") -> requests.Session:
    """Signs in through the login form; the user lands on their start page (a radiologist's is the worklist)."""
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/")
    assert page.status_code == 200 and "Log in" in page.text
    response = session.post(
        f"{base}/accounts/login/",
        data={"login": email, "password": "medsite-demo-2026", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
    )
    assert response.status_code == 200 and response.url == f"{base}{lands_on}", f"{email} could not log in"
    return session


def _post(session: requests.Session, url: str, **kwargs) -> requests.Response:
    data = kwargs.pop("data", {}) | {"csrfmiddlewaretoken": session.cookies["csrftoken"]}
    return session.post(url, data=data, **kwargs)


def test_embedded_default_sqlite_filesystem_broker_separate_processes(tmp_path, tiny_bundle):
    env = live.clean_env(DJANGO_DEBUG="true", MEDSITE_MFA_REQUIRED_ROLES="none", MEDSITE_VAR_DIR=str(tmp_path / "var"))
    live.manage("migrate", "--noinput", env=env)
    assert "Demo logins" in live.manage("seed_demo", "--no-train", env=env)
    live.manage("register_model", str(tiny_bundle), "--activate", env=env)
    assert (tmp_path / "var" / "db.sqlite3").exists()

    port = live.free_port()
    base = f"http://127.0.0.1:{port}"
    with live.web(env, tmp_path / "web.log", port), live.worker(env, tmp_path / "worker.log"):
        for email, lands_on in [
            ("clinician@demo.medsite", "/"),
            ("radiologist@demo.medsite", "/worklist/"),
            ("admin@demo.medsite", "/"),
        ]:
            _login(base, email, lands_on)
        clinician = _login(base, "clinician@demo.medsite")
        patient_page = _post(
            clinician, f"{base}/patients/new/", data={"site": "1", "mrn": "E2E-1", "name": "Pat Example", "sex": "F"}
        )
        patient_pk = re.search(r"/patients/(\d+)/$", patient_page.url).group(1)
        study_page = _post(
            clinician, f"{base}/patients/{patient_pk}/studies/new/", data={"modality": "DX", "body_part": "chest"}
        )
        study_pk = re.search(r"/studies/(\d+)/$", study_page.url).group(1)
        upload = _post(
            clinician, f"{base}/studies/{study_pk}/upload/", files={"files": ("chest.png", png_bytes(), "image/png")}
        )
        assert upload.status_code == 200 and 'hx-trigger="every 2s"' in upload.text  # the page polls while pending

        results_url = f"{base}/studies/{study_pk}/results/"

        def labelled_results():
            page = clinician.get(results_url).text
            return page if 'data-testid="ai-label"' in page else None

        results = live.wait_for(labelled_results, timeout=120, what="the worker's prediction")
        label = re.search(r'data-testid="ai-label">([^<]+)<', results).group(1)

        radiologist = _login(base, "radiologist@demo.medsite", "/worklist/")
        worklist = radiologist.get(f"{base}/worklist/").text
        assert "Pat Example" in worklist
        prediction_pk = re.search(r'action="/predictions/(\d+)/review/"', radiologist.get(results_url).text).group(1)
        review = _post(radiologist, f"{base}/predictions/{prediction_pk}/review/", data={"label": label})
        assert review.status_code == 200
        assert f"Confirmed as {label}" in clinician.get(results_url).text
        assert "Pat Example" not in radiologist.get(f"{base}/worklist/").text
