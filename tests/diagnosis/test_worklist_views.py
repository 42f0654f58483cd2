"""The worklist page (one row per study), the release button, and the radiologist's start page."""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from diagnosis.models import Study
from diagnosis.services.worklist import study_claim
from tests.conftest import with_totp
from tests.diagnosis.test_worklist import radiologist_at, waiting_study
from tests.factories import MembershipFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _rows(response) -> list[Study]:
    assert response.status_code in (200, 400)
    return list(response.context["studies"]) if response.context else []


def test_one_row_per_study_with_what_a_reader_triages_on(login, site, radiologist):
    study = waiting_study(site, 0.2, 0.93, accession_number="ACC-77", priority=Study.Priority.STAT)
    study.patient.name = "Wanda Worklist"
    study.patient.save()
    waiting_study(site, 0.1)
    response = login(radiologist).get(reverse("diagnosis:worklist"))
    html = response.content.decode()
    assert html.count('data-testid="worklist-row"') == 2
    assert _rows(response)[0] == study  # STAT first
    row = html[html.index("Wanda Worklist") : html.index("</tr>", html.index("Wanda Worklist"))]
    for shown in (
        "ACC-77",
        "STAT",
        "0.93",
        "pneumonia",
        "2 / 2",
        "Female",
        reverse("diagnosis:study_read", args=[study.pk]),
    ):
        assert shown in row, shown
    assert 'aria-keyshortcuts="j k ArrowDown ArrowUp Home End Enter"' in html
    assert html.count('tabindex="0"') == 1  # the roving row focus starts on the first row


def test_another_readers_claim_shows_and_a_lapsed_one_does_not(login, site, radiologist, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    study = waiting_study(site, 0.9)
    colleague = radiologist_at(site)
    colleague.first_name, colleague.last_name = "Carla", "Colleague"
    colleague.save()
    study_claim(study=study, reader=colleague)
    client = login(radiologist)
    html = client.get(reverse("diagnosis:worklist")).content.decode()
    assert "Being read by Carla Colleague since" in html and "claimed-other" in html
    time_machine.shift(60 * 16)
    caches["listings"].clear()
    assert 'data-testid="claimed-by"' not in client.get(reverse("diagnosis:worklist")).content.decode()


def test_unknown_or_bad_filters_are_a_400_that_says_so_never_a_500(login, site, radiologist):
    waiting_study(site, 0.9)
    client = login(radiologist)
    for query in ({"reviewed": "true"}, {"reviewed": "false"}, {"priority": "soon"}, {"created_after": "x"}):
        response = client.get(reverse("diagnosis:worklist"), query)
        assert response.status_code == 400, query
        assert 'data-testid="worklist-errors"' in response.content.decode()
        assert len(_rows(response)) == 1  # the list still shows, unfiltered by what was wrong
    response = client.get(reverse("diagnosis:worklist"), {"reviewed": "true"})
    assert "reviewed: The worklist has no such filter" in response.content.decode()
    assert client.get(reverse("diagnosis:worklist"), {"order": "uncertain", "claimed": "unclaimed"}).status_code == 200


def test_release_drops_only_ones_own_claim(login, site, other_site, radiologist, clinician):
    study = waiting_study(site, 0.9)
    study_claim(study=study, reader=radiologist)
    url = reverse("diagnosis:study_release", args=[study.pk])
    assert login(clinician).post(url).status_code == 403
    outsider = with_totp(MembershipFactory(site=other_site, role=Role.RADIOLOGIST).user)
    assert login(outsider).post(url).status_code == 404
    colleague = radiologist_at(site)
    assert login(colleague).post(url).status_code == 302
    assert Study.objects.get(pk=study.pk).claimed_by == radiologist  # not theirs to release
    response = login(radiologist).post(url)
    assert response.status_code == 302 and response["Location"] == reverse("diagnosis:worklist")
    assert Study.objects.get(pk=study.pk).claimed_by is None
    assert AuditEvent.objects.filter(object_type="study", detail={"claim": "released"}).count() == 1
    assert login(radiologist).get(url).status_code == 405


def test_a_claim_shows_at_once_on_a_cached_worklist(
    client, site, radiologist, settings, django_capture_on_commit_callbacks
):
    settings.MEDSITE_LIST_CACHE_SECONDS = 15
    caches["listings"].clear()
    study = waiting_study(site, 0.9)
    colleague = radiologist_at(site)
    client.force_login(radiologist)
    assert 'data-testid="claimed-by"' not in client.get(reverse("diagnosis:worklist")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        study_claim(study=study, reader=colleague)
    assert 'data-testid="claimed-by"' in client.get(reverse("diagnosis:worklist")).content.decode()


def test_a_radiologist_starts_on_the_worklist_and_others_on_the_patients(login, site, radiologist, clinician):
    start = reverse("diagnosis:start")
    response = login(radiologist).get(start)
    assert response.status_code == 302 and response["Location"] == reverse("diagnosis:worklist")
    patients = login(radiologist).get(reverse("diagnosis:home"))  # still one link away, under Patients
    assert patients.status_code == 200 and 'data-nav="patients"' in patients.content.decode()
    assert login(clinician).get(start).status_code == 200
    both = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    MembershipFactory(user=both, site=PatientFactory().site, role=Role.CLINICIAN)
    assert login(both).get(start).status_code == 200  # a clinician too: the patient list


def test_login_lands_a_radiologist_on_the_worklist(client, radiologist, settings):
    assert settings.LOGIN_REDIRECT_URL == "diagnosis:start"
    client.force_login(radiologist)
    assert client.get("/", follow=True).redirect_chain[-1][0] == reverse("diagnosis:worklist")


@pytest.mark.parametrize("second_reader", [False, True], ids=["one-reader", "second-reader"])
def test_the_page_costs_the_same_queries_for_three_studies_or_thirty(login, site, radiologist, second_reader):
    site.second_reader = second_reader
    site.save()
    client = login(radiologist)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("diagnosis:worklist")).status_code == 200
        return len(captured)

    for _ in range(3):
        study_claim(study=waiting_study(site, 0.4, 0.7), reader=radiologist_at(site))
    queries()  # the first request of a session reads a few things once
    few = queries()
    for _ in range(27):
        study_claim(study=waiting_study(site, 0.4, 0.7), reader=radiologist_at(site))
    assert queries() == few
