"""Orthanc, Debian's PACS, as MedSite's peer: it sends studies to MedSite's DICOM receiver over C-STORE through its
own REST API (POST /modalities/{name}/store), as a hospital PACS would. The receiver runs in this process on a free
port (as in test_dicom_listener.py); rows are committed (transaction=True) so that its association threads see
them. Skipped without /usr/sbin/Orthanc, except in CI (tests/orthanc.py)."""

from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.uid import generate_uid

from accounts.models import AuditEvent
from diagnosis import dicom_listener
from diagnosis.models import DicomNode, DicomPeer, Image, Patient, Study
from tests import orthanc
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

CT_SMALL = get_testdata_file("CT_small.dcm")


def _bytes(ds: pydicom.Dataset) -> bytes:
    buffer = DicomBytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def receiver():
    """A site reached as MEDSITE, ORTHANC allowed from 127.0.0.1, and the listener on a free port."""
    site = SiteFactory(name="Receiving Hospital")
    DicomNode.objects.create(ae_title="MEDSITE", site=site)
    DicomPeer.objects.create(site=site, ae_title=orthanc.AE_TITLE, ip="127.0.0.1")
    ae = dicom_listener.build_ae()
    server = dicom_listener.start(ae, "127.0.0.1", 0, block=False)
    yield SimpleNamespace(site=site, port=server.server_address[1])
    ae.shutdown()


@pytest.fixture
def pacs(receiver, tmp_path):
    """Orthanc, with MedSite's receiver declared as its modality "medsite"."""
    orthanc.require_orthanc()
    with orthanc.running(tmp_path / "orthanc", modalities={"medsite": ("MEDSITE", "127.0.0.1", receiver.port)}) as pacs:
        yield pacs


def test_a_study_sent_by_orthanc_arrives_once_and_a_resend_adds_nothing(receiver, pacs):
    ct = pydicom.dcmread(CT_SMALL)
    study_uid, series_uid = generate_uid(), generate_uid()
    radiographs = [
        orthanc.computed_radiograph(
            patient_id="PEER-1", study_uid=study_uid, series_uid=series_uid, number=number, seed=number
        )
        for number in (1, 2)
    ]
    ct_study = pacs.upload(Path(CT_SMALL).read_bytes())
    cr_study = {pacs.upload(_bytes(ds))["ParentStudy"] for ds in radiographs}
    assert len(pacs.studies()) == 2 and len(cr_study) == 1

    pacs.store("medsite", ct_study["ParentStudy"], *cr_study)  # one association, three instances

    cr = Study.objects.get(study_instance_uid=study_uid)
    assert cr.patient.mrn == "PEER-1" and cr.patient.site == receiver.site and cr.modality == "CR"
    assert sorted(cr.images.values_list("sop_instance_uid", flat=True)) == sorted(
        str(ds.SOPInstanceUID) for ds in radiographs
    )
    ct_image = Image.objects.get(sop_instance_uid=ct.SOPInstanceUID)
    assert ct_image.study.study_instance_uid == ct.StudyInstanceUID and ct_image.study.patient.mrn == ct.PatientID
    assert all(image.deidentified_file.name and image.display_file.name for image in Image.objects.all())
    events = AuditEvent.objects.filter(object_type="image", action=AuditEvent.Action.CREATE)
    assert events.count() == 3
    assert all(e.actor is None and "ORTHANC" in e.user_agent and e.ip == "127.0.0.1" for e in events)

    # Orthanc sends the same study again (a PACS retries, or someone presses "send" twice): nothing new.
    pacs.store("medsite", *cr_study)
    pacs.store("medsite", ct_study["ParentStudy"])
    assert Image.objects.count() == 3 and Study.objects.count() == 2 and Patient.objects.count() == 2
    assert AuditEvent.objects.filter(object_type="image").count() == 3


def test_orthanc_echoes_the_receiver(pacs):
    assert pacs.echo("medsite")
