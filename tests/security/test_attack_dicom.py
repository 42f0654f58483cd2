"""Issue 20, findings 4 and 9, repeated against the live server (see conftest.py) as a clinician of Demo Hospital
would meet them: a DICOM carrying every attribute of PS3.15 Table E.1-1 is imported and its de-identified copy
downloaded; a file claiming burned-in annotation; a file without PatientID; an import under a known MRN naming
someone else."""

import io

import pydicom
import pytest
from django.urls import reverse
from pydicom.uid import generate_uid

from accounts.models import Site
from diagnosis.models import Image
from tests.diagnosis.test_deidentification import (
    assert_action_applied,
    dicom_bytes,
    every_attribute_dataset,
    image_dataset,
    table_tags,
)
from tests.security.conftest import CLINICIAN, signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.live]


def _clinician(server, browser):
    person = browser()
    assert signed_in(person.login(CLINICIAN))
    return person


def _post_file(person, path: str, content: bytes, **data):
    data["csrfmiddlewaretoken"] = person.csrf()
    files = {"files": ("scan.dcm", content, "application/dicom")}
    return person.post(path, data=data, files=files, headers={"Referer": person.base + path})


def _import(server, person, ds) -> tuple[int, str]:
    site = Site.objects.get(slug="demo").pk
    response = _post_file(person, reverse("diagnosis:dicom_import"), dicom_bytes(ds), site=site)
    return response.status_code, response.text


def _ours(ds, server):
    """The demo site's attacked patient (MRN DEMO-ATTACK-1, Ada Ours) named the way a modality writes it."""
    ds.PatientID, ds.PatientName, ds.PatientBirthDate = server.ours.patient.mrn, "OURS^ADA", ""
    ds.SOPInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    return ds


def test_every_attribute_of_table_e1_1_is_acted_on_in_the_downloaded_copy(server, browser):
    """Finding 4: InsurancePlanIdentification, ClinicalTrialSubjectID, OriginalAttributesSequence and more survived;
    DeviceUID and ReferencedSOPInstanceUID were not replaced."""
    person = _clinician(server, browser)
    source = _ours(every_attribute_dataset(), server)
    status, page = _import(server, person, source)
    assert status == 200, page[:2000]
    image = Image.objects.filter(study__patient=server.ours.patient).latest("pk")
    copy = person.get(reverse("diagnosis:image_deidentified", args=[image.pk]))
    assert copy.status_code == 200
    result = pydicom.dcmread(io.BytesIO(copy.content))
    for tag in table_tags():
        if tag not in (0x00100020, 0x00100010, 0x00080018, 0x0020000D):  # set by _ours: checked below
            assert_action_applied(tag, source, copy.content, result)
    assert result.PatientIdentityRemoved == "YES" and result.PatientID == "ANONYMOUS"
    assert str(result.PatientName) == "" and result.SOPInstanceUID != source.SOPInstanceUID
    assert b"OURS" not in copy.content and server.ours.patient.mrn.encode() not in copy.content


def test_a_file_claiming_burned_in_annotation_is_not_exported(server, browser):
    """Finding 4: BurnedInAnnotation=YES was kept while the copy claimed PatientIdentityRemoved=YES."""
    person = _clinician(server, browser)
    status, page = _import(server, person, _ours(image_dataset(BurnedInAnnotation="YES"), server))
    assert status == 200, page[:2000]
    image = Image.objects.filter(study__patient=server.ours.patient).latest("pk")
    assert image.burned_in_withheld
    copy = person.get(reverse("diagnosis:image_deidentified", args=[image.pk]))
    assert copy.status_code == 403 and "burned into its pixels" in copy.text


def test_a_study_upload_without_patient_id_is_refused(server, browser):
    """Finding 9: a study upload passed with an empty PatientID."""
    person = _clinician(server, browser)
    ds = image_dataset(PatientID="", SOPInstanceUID=generate_uid())
    before = Image.objects.count()
    response = _post_file(person, reverse("diagnosis:study_upload", args=[server.ours.pk]), dicom_bytes(ds))
    assert response.status_code == 400 and "has no PatientID" in response.text
    assert Image.objects.count() == before


def test_an_import_under_a_known_mrn_for_someone_else_is_refused(server, browser):
    """Finding 9: an import under an existing MRN never compared PatientName or PatientBirthDate."""
    person = _clinician(server, browser)
    before = Image.objects.count()
    ds = _ours(image_dataset(), server)
    ds.PatientName = "INTRUDER^EVE"
    status, page = _import(server, person, ds)
    assert status == 400 and "patient name differs" in page and "INTRUDER" not in page
    assert Image.objects.count() == before
