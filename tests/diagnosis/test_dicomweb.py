"""DICOMweb (diagnosis.dicomweb): STOW-RS, QIDO-RS and WADO-RS against a live server, with dicomweb-client and a
real MedSite API token, as a PACS or a viewer (OHIF) would call them.

Three personas (HOUSE_STYLE): a member of the study's site reads it (a clinician stores), a radiologist may not
store (403), and a member of another site gets 404, with a DENIED audit event naming the record."""

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.files.base import ContentFile
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from accounts.models import ApiToken, AuditEvent
from diagnosis.dicomweb import instances, multipart
from diagnosis.dicomweb.instances import image_uids, study_uid
from diagnosis.models import Image, Study
from diagnosis.services import records
from tests.datasets import DICOM_SAMPLES, needs_datasets

pytestmark = pytest.mark.django_db(transaction=True)

CT = Path(get_testdata_file("CT_small.dcm"))
MR = Path(get_testdata_file("MR_small.dcm"))
BOUNDARY = "test-boundary-7f3a"
DICOM_PARTS = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
SR_CLASS, SC_CLASS = pydicom.uid.Comprehensive3DSRStorage, pydicom.uid.SecondaryCaptureImageStorage


def _session(user=None) -> requests.Session:
    session = requests.Session()
    if user is not None:
        session.headers["Authorization"] = f"Token {ApiToken.objects.create(user=user, name='dicomweb')[1]}"
    return session


@pytest.fixture
def dicomweb(live_server):
    """A dicomweb-client for `user` (a real API token), or anonymous."""

    def connect(user=None) -> DICOMwebClient:
        return DICOMwebClient(f"{live_server.url}/dicomweb", session=_session(user))

    return connect


def _body(*parts: tuple[str, bytes]) -> bytes:
    chunks = [f"--{BOUNDARY}\r\nContent-Type: {kind}\r\n\r\n".encode() + data + b"\r\n" for kind, data in parts]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def _without_pixels() -> bytes:
    ds = pydicom.dcmread(CT)
    del ds.PixelData
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _receive(site, path: Path) -> Image:
    image, _ = records.dicom_receive(
        site=site,
        file=ContentFile(path.read_bytes(), name=path.name),
        sop_instance_uid=pydicom.dcmread(path).SOPInstanceUID,
    )
    return image


def _value(item: dict, tag: str):
    return item[tag]["Value"][0] if "Value" in item.get(tag, {}) else None


def _not_blank(png: bytes, size: tuple[int, int]) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.size == size
    low, high = picture.convert("L").getextrema()
    assert high - low > 20, (low, high)
    return picture


def _denied(user) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.DENIED, actor=user).order_by("pk"))


def test_multipart_bodies_are_read_part_by_part_within_the_limit():
    """The splitter behind STOW-RS (diagnosis.dicomweb.multipart): a preamble, a part without headers, transport
    padding after a boundary and an epilogue are RFC 2046's; a body without Content-Length is cut at the limit."""
    body = (
        b"preamble\r\n--b1 \r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--b1\r\n\r\nsecond\r\nline"
        b"\r\n--b1--\r\nepilogue"
    )
    with multipart.spool(io.BytesIO(body), length=None, limit=1000) as spooled:
        parts = list(multipart.parts(spooled, "b1"))
    assert parts == [multipart.Part("application/dicom", b"first"), multipart.Part("", b"second\r\nline")]
    with pytest.raises(multipart.BodyTooLarge):
        multipart.spool(io.BytesIO(body), length=None, limit=len(body) - 1)  # whatever Content-Length said
    with pytest.raises(multipart.BodyTooLarge):
        multipart.spool(io.BytesIO(b""), length=10**9, limit=1000)  # refused before reading
    for broken in (b"--b1\r\nContent-Type: x\r\n\r\ncut short", b"no boundary", b"--b1\r\nno blank line\r\n--b1--"):
        with multipart.spool(io.BytesIO(broken), length=None, limit=1000) as spooled:
            with pytest.raises(multipart.MalformedBody):
                list(multipart.parts(spooled, "b1"))


# --- STOW-RS ------------------------------------------------------------------------------------------------------


def test_stow_stores_real_dicom_once_and_a_resend_stores_nothing_new(dicomweb, site, clinician):
    client = dicomweb(clinician)
    ct, mr = pydicom.dcmread(CT), pydicom.dcmread(MR)
    result = client.store_instances([ct, mr])
    assert "FailedSOPSequence" not in result
    stored = {item.ReferencedSOPInstanceUID: item for item in result.ReferencedSOPSequence}
    assert stored.keys() == {ct.SOPInstanceUID, mr.SOPInstanceUID}
    assert stored[ct.SOPInstanceUID].ReferencedSOPClassUID == ct.SOPClassUID
    assert stored[ct.SOPInstanceUID].RetrieveURL.endswith(
        f"/dicomweb/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    )
    images = Image.objects.filter(study__patient__site=site)
    assert images.count() == 2
    # the request was the study's association: its images went to inference when it ended, none is left held
    assert set(images.values_list("status", flat=True)) == {Image.Status.QUEUED}
    assert Study.objects.get(study_instance_uid=ct.StudyInstanceUID).patient.mrn == ct.PatientID
    assert set(images.values_list("uploaded_by", flat=True)) == {clinician.pk}
    created = AuditEvent.objects.filter(action=AuditEvent.Action.CREATE, object_type="image")
    assert created.count() == 2 and set(created.values_list("actor", flat=True)) == {clinician.pk}

    again = client.store_instances([pydicom.dcmread(CT)])
    assert [item.ReferencedSOPInstanceUID for item in again.ReferencedSOPSequence] == [ct.SOPInstanceUID]
    assert again.RetrieveURL.endswith(f"/dicomweb/studies/{ct.StudyInstanceUID}")
    assert images.count() == 2


def test_stow_bad_parts_fail_with_their_reason_and_the_good_part_is_stored(live_server, site, clinician):
    session = _session(clinician)
    body = _body(
        ("application/dicom", CT.read_bytes()),
        ("application/dicom", _without_pixels()),
        ("application/dicom", b"this is not a DICOM file, only some text" * 10),
    )
    response = session.post(f"{live_server.url}/dicomweb/studies", data=body, headers={"Content-Type": DICOM_PARTS})
    assert response.status_code == 202, response.text
    assert response.headers["Content-Type"] == "application/dicom+json"
    assert response.headers["Cache-Control"] == "no-store"
    result = response.json()
    (stored,) = result["00081199"]["Value"]
    assert _value(stored, "00081155") == pydicom.dcmread(CT).SOPInstanceUID
    no_pixels, not_dicom = result["00081198"]["Value"]
    assert _value(no_pixels, "00081197") == 0xA900 and "no pixel data" in _value(no_pixels, "00000902")
    assert _value(not_dicom, "00081197") == 0xC000 and "not a DICOM file" in _value(not_dicom, "00000902")
    assert Image.objects.count() == 1

    response = session.post(
        f"{live_server.url}/dicomweb/studies",
        data=_body(("application/dicom", _without_pixels()), ("text/plain", b"hello")),
        headers={"Content-Type": DICOM_PARTS},
    )
    assert response.status_code == 409  # none stored
    failures = response.json()["00081198"]["Value"]
    assert [_value(item, "00081197") for item in failures] == [0xA900, 0xC000]
    assert "text/plain" in _value(failures[1], "00000902")
    assert "00081199" not in response.json() or not response.json()["00081199"].get("Value")
    assert Image.objects.count() == 1


def test_stow_into_a_named_study_refuses_another_studys_instance(live_server, site, clinician):
    url = f"{live_server.url}/dicomweb/studies/{pydicom.dcmread(MR).StudyInstanceUID}"
    response = _session(clinician).post(url, data=_body(("application/dicom", CT.read_bytes())),
                                        headers={"Content-Type": DICOM_PARTS})  # fmt: skip
    assert response.status_code == 409
    (failure,) = response.json()["00081198"]["Value"]
    assert _value(failure, "00081197") == 0xA900 and "another study" in _value(failure, "00000902")
    assert not Image.objects.exists()


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dicom", CT.read_bytes(), 415),  # a bare file: STOW-RS takes multipart/related
        ('multipart/related; type="application/dicom+json"; boundary=x', b"--x--\r\n", 415),  # metadata+bulkdata
        (DICOM_PARTS, _body(("application/dicom", CT.read_bytes()))[:-20], 400),  # cut short: no closing boundary
        (DICOM_PARTS, b"no boundary anywhere in here", 400),
        ('multipart/related; type="application/dicom"', b"--x--\r\n", 400),  # no boundary parameter
        (DICOM_PARTS, f"--{BOUNDARY}--\r\n".encode(), 400),  # no part
    ],
    ids=["bare-file", "json-parts", "truncated", "no-boundary-in-body", "no-boundary-param", "no-part"],
)
def test_stow_refuses_what_is_not_multipart_dicom_and_stores_nothing(
    live_server, site, clinician, content_type, body, status
):
    response = _session(clinician).post(
        f"{live_server.url}/dicomweb/studies", data=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.json()["detail" if status == 415 else "body"]  # a message for the sender
    assert not Image.objects.exists()


def test_stow_refuses_a_body_over_the_upload_limit(live_server, settings, site, clinician):
    settings.MEDSITE_MAX_UPLOAD_BYTES = 100_000  # CT_small is 39 kB: two fit, four do not
    session = _session(clinician)
    url = f"{live_server.url}/dicomweb/studies"
    four = _body(*[("application/dicom", CT.read_bytes())] * 4)
    response = session.post(url, data=four, headers={"Content-Type": DICOM_PARTS})
    assert response.status_code == 413 and "upload limit" in response.json()["detail"]

    def chunked():  # no Content-Length: the limit holds while the body is read
        yield four

    response = session.post(url, data=chunked(), headers={"Content-Type": DICOM_PARTS})
    assert response.status_code in (400, 413)  # 400: a server that drops a chunked body (no Content-Length)
    assert not Image.objects.exists()


def test_stow_personas_a_clinician_stores_a_radiologist_may_not_another_site_is_404(
    live_server, site, clinician, radiologist, outsider
):
    url = f"{live_server.url}/dicomweb/studies"
    body = _body(("application/dicom", CT.read_bytes()))
    headers = {"Content-Type": DICOM_PARTS}
    assert requests.post(url, data=body, headers=headers).status_code == 401

    response = _session(radiologist).post(url, data=body, headers=headers)
    assert response.status_code == 403 and "clinician" in response.json()["detail"]
    assert [(e.object_type, e.detail["status"]) for e in _denied(radiologist)] == [("image", 403)]

    response = _session(outsider).post(f"{url}?site={site.pk}", data=body, headers=headers)
    assert response.status_code == 404
    assert [(e.object_type, e.object_id, e.site) for e in _denied(outsider)] == [("site", str(site.pk), site)]
    assert not Image.objects.exists()

    response = _session(clinician).post(f"{url}?site={site.pk}", data=body, headers=headers)
    assert response.status_code == 200
    assert Image.objects.get().study.patient.site == site


# --- QIDO-RS ------------------------------------------------------------------------------------------------------


@pytest.fixture
def archive(site, world, other_world):
    """At the site: the CT and MR studies (DICOM) and world's PNG study with an AI result (an SR and a heatmap SC);
    at another site, other_world's study."""
    ct, mr = _receive(site, CT), _receive(site, MR)
    Study.objects.filter(pk=ct.study_id).update(accession_number="ACC-CT-1")
    return type("Archive", (), {"ct": ct, "mr": mr, "png": world.image, "world": world, "other": other_world})


def _uids(rows: list[dict], tag: str = "0020000D") -> set[str]:
    return {_value(row, tag) for row in rows}


def test_qido_studies_of_the_users_sites_with_filters(dicomweb, archive, radiologist):
    client = dicomweb(radiologist)
    ct_uid, mr_uid, png_uid = (study_uid(i.study) for i in (archive.ct, archive.mr, archive.png))
    rows = client.search_for_studies()
    assert _uids(rows) == {ct_uid, mr_uid, png_uid}  # not the other site's study
    (ct_row,) = [row for row in rows if _value(row, "0020000D") == ct_uid]
    assert _value(ct_row, "00100020") == "1CT1" and _value(ct_row, "00100010") == {
        "Alphabetic": "CompressedSamples^CT1"
    }
    assert _value(ct_row, "00080020") == "20040119" and _value(ct_row, "00080050") == "ACC-CT-1"
    assert ct_row["00080061"]["Value"] == ["CT"]
    assert (_value(ct_row, "00201206"), _value(ct_row, "00201208")) == (1, 1)
    assert _value(ct_row, "00081190").endswith(f"/dicomweb/studies/{ct_uid}")
    (png_row,) = [row for row in rows if _value(row, "0020000D") == png_uid]
    # the PNG as a Secondary Capture, the AI's SR and its heatmap SC: three series, three instances
    assert png_row["00080061"]["Value"] == ["CR", "OT", "SR"]
    assert (_value(png_row, "00201206"), _value(png_row, "00201208")) == (3, 3)

    search = lambda **filters: _uids(client.search_for_studies(search_filters=filters))  # noqa: E731
    assert search(PatientID="1CT1") == {ct_uid}
    assert search(PatientID="4MR*") == {mr_uid}
    assert search(**{"00100020": "1CT?"}) == {ct_uid}  # a key may be a tag
    assert search(PatientName="*compressedsamples*") == {ct_uid, mr_uid}
    assert search(StudyDate="20040101-20040331") == {ct_uid}
    assert search(StudyDate="20040201-") == {mr_uid}
    assert search(AccessionNumber="ACC-CT-1") == {ct_uid}
    assert search(ModalitiesInStudy="MR") == {mr_uid}
    assert search(ModalitiesInStudy="SR") == {png_uid}
    assert search(StudyInstanceUID=png_uid) == {png_uid}  # a derived UID
    assert search(StudyInstanceUID=f"{ct_uid},{mr_uid}") == {ct_uid, mr_uid}
    assert search(StudyInstanceUID=study_uid(archive.other.study)) == set()  # another site's
    assert len(client.search_for_studies(limit=2)) == 2
    assert len(client.search_for_studies(limit=2, offset=2)) == 1


def test_qido_refuses_bad_query_values_and_names_ignored_keys(live_server, archive, clinician):
    session, url = _session(clinician), f"{live_server.url}/dicomweb/studies"
    bad = ("StudyDate=2004", "StudyDate=-", "limit=ten", "offset=99999999999999999999", "includefield=NoSuchKeyword")
    for query in bad:
        response = session.get(f"{url}?{query}")
        assert response.status_code == 400 and response.json()["query"], query
    for query in ("PatientID=1CT%00", "AccessionNumber=****ACC*", "PatientName=%5E%5E"):  # NUL, runs of *, no name
        response = session.get(f"{url}?{query}")
        assert response.status_code == 200, query
    assert len(session.get(f"{url}?AccessionNumber=****ACC*").json()) == 1
    response = session.get(f"{url}?ReferringPhysicianName=X")
    assert response.status_code == 200 and "ReferringPhysicianName" in response.headers["Warning"]
    response = session.get(f"{url}?limit=1")
    assert len(response.json()) == 1 and "more results" in response.headers["Warning"]


def test_qido_series_and_instances_of_a_study(dicomweb, archive, clinician):
    client = dicomweb(clinician)
    ct = pydicom.dcmread(CT)
    (series,) = client.search_for_series(ct.StudyInstanceUID)
    assert (_value(series, "0020000E"), _value(series, "00080060")) == (ct.SeriesInstanceUID, "CT")
    assert (_value(series, "00200011"), _value(series, "00201209")) == (1, 1)
    (instance,) = client.search_for_instances(ct.StudyInstanceUID, ct.SeriesInstanceUID, fields=["SliceThickness"])
    assert _value(instance, "00080018") == ct.SOPInstanceUID and _value(instance, "00080016") == ct.SOPClassUID
    assert (_value(instance, "00280010"), _value(instance, "00280011"), _value(instance, "00280008")) == (128, 128, 1)
    assert _value(instance, "00200013") == 1 and float(_value(instance, "00180050")) == 5.0

    png_uid = study_uid(archive.png.study)
    series = client.search_for_series(png_uid)
    assert [_value(row, "00080060") for row in series] == ["CR", "SR", "OT"]  # the image, the AI's SR, its heatmap
    assert _value(series[0], "0020000E") == image_uids(archive.png)[0]
    assert _uids(client.search_for_series(png_uid, search_filters={"Modality": "SR"}), "00080060") == {"SR"}
    listed = client.search_for_instances(png_uid)
    assert [_value(row, "00080016") for row in listed] == [SC_CLASS, SR_CLASS, SC_CLASS]
    assert "00280010" not in listed[1]  # an SR has no rows
    (sr,) = client.search_for_instances(png_uid, search_filters={"SOPClassUID": SR_CLASS})
    assert _value(sr, "00080018") == _value(listed[1], "00080018")


# --- WADO-RS ------------------------------------------------------------------------------------------------------


def test_wado_retrieve_metadata_frames_and_rendered_of_a_dicom_image(dicomweb, archive, clinician):
    client = dicomweb(clinician)
    ct = pydicom.dcmread(CT)
    uids = (ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)

    retrieved = client.retrieve_instance(*uids)
    assert retrieved.SOPInstanceUID == ct.SOPInstanceUID and retrieved.PatientID == ct.PatientID  # the original
    assert np.array_equal(retrieved.pixel_array, ct.pixel_array)
    (whole,) = client.retrieve_study(ct.StudyInstanceUID)
    assert whole.SOPInstanceUID == ct.SOPInstanceUID
    assert len(client.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID)) == 1

    metadata = client.retrieve_instance_metadata(*uids)
    assert _value(metadata, "00280010") == 128 and _value(metadata, "00100020") == "1CT1"
    assert "7FE00010" not in metadata  # no pixel data
    assert [_value(m, "00080018") for m in client.retrieve_study_metadata(ct.StudyInstanceUID)] == [ct.SOPInstanceUID]
    assert len(client.retrieve_series_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID)) == 1

    (frame,) = client.retrieve_instance_frames(*uids, frame_numbers=[1])
    assert frame == ct.PixelData  # native, uncompressed

    _not_blank(client.retrieve_instance_rendered(*uids, media_types=("image/png",)), (128, 128))
    _not_blank(
        client.retrieve_instance_frames_rendered(*uids, frame_numbers=[1], media_types=("image/png",)), (128, 128)
    )
    jpeg = client.retrieve_instance_rendered(*uids, media_types=("image/jpeg",))
    assert PILImage.open(io.BytesIO(jpeg)).format == "JPEG"


def _multiframe() -> pydicom.Dataset:
    """CT_small as three frames (the second one brighter), a new instance of a new study."""
    ds = pydicom.dcmread(CT)
    pixels = ds.pixel_array
    ds.PixelData = b"".join((pixels + 100 * n).astype(pixels.dtype).tobytes() for n in range(3))
    ds.NumberOfFrames = 3
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (pydicom.uid.generate_uid() for _ in range(3))
    return ds


def test_wado_frames_of_a_multiframe_instance(dicomweb, site, clinician, live_server):
    client = dicomweb(clinician)
    ds = _multiframe()
    client.store_instances([ds])
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    length = len(ds.PixelData) // 3
    frames = client.retrieve_instance_frames(*uids, frame_numbers=[3, 1])
    assert frames == [ds.PixelData[2 * length :], ds.PixelData[:length]]
    assert _value(client.retrieve_instance_metadata(*uids), "00280008") == 3
    for frame in (1, 3):  # the first and last: not the middle frame MedSite displays
        picture = client.retrieve_instance_frames_rendered(*uids, frame_numbers=[frame], media_types=("image/png",))
        _not_blank(picture, (128, 128))
    url = f"{live_server.url}/dicomweb/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}"
    assert _session(clinician).get(f"{url}/frames/2,4").status_code == 404


def test_wado_of_a_png_upload_and_the_ai_objects_in_its_study(dicomweb, archive, clinician):
    client = dicomweb(clinician)
    png_uid = study_uid(archive.png.study)
    image_series, image_uid = image_uids(archive.png)
    sc, sr, heatmap = sorted(client.retrieve_study(png_uid), key=lambda ds: ds.SeriesNumber)
    assert (sc.SOPClassUID, sc.SOPInstanceUID, sc.StudyInstanceUID) == (SC_CLASS, image_uid, png_uid)
    assert sc.pixel_array.shape == (64, 64) and sc.PatientID == archive.png.study.patient.mrn
    assert (sr.SOPClassUID, sr.Modality, sr.StudyInstanceUID) == (SR_CLASS, "SR", png_uid)
    assert heatmap.SeriesDescription.startswith("AI heatmap") and heatmap.StudyInstanceUID == png_uid

    (frame,) = client.retrieve_instance_frames(png_uid, image_series, image_uid, frame_numbers=[1])
    assert frame == sc.PixelData
    _not_blank(
        client.retrieve_instance_rendered(png_uid, image_series, image_uid, media_types=("image/png",)), (64, 64)
    )
    rendered = client.retrieve_instance_rendered(
        png_uid, heatmap.SeriesInstanceUID, heatmap.SOPInstanceUID, media_types=("image/png",)
    )
    assert PILImage.open(io.BytesIO(rendered)).mode == "RGB"
    metadata = client.retrieve_instance_metadata(png_uid, sr.SeriesInstanceUID, sr.SOPInstanceUID)
    assert _value(metadata, "00080060") == "SR" and "0040A730" in metadata  # the content sequence


@pytest.mark.skipif(not shutil.which("dciodvfy"), reason="dciodvfy (dicom3tools) is absent: .ci/run installs it")
def test_a_png_upload_as_secondary_capture_passes_dciodvfy(tmp_path, world):
    (capture,) = [i for i in instances.study_instances(world.study) if i.kind == instances.CAPTURE]
    path = tmp_path / "capture.dcm"
    path.write_bytes(b"".join(instances.part10_chunks(capture)))
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert not [line for line in output.splitlines() if line.startswith("Error")], output


def test_wado_errors_are_clear(live_server, archive, clinician):
    session = _session(clinician)
    ct = pydicom.dcmread(CT)
    base = f"{live_server.url}/dicomweb/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
    instance = f"{base}/instances/{ct.SOPInstanceUID}"
    png_uid = study_uid(archive.png.study)
    sr_row = [row for row in session.get(f"{live_server.url}/dicomweb/studies/{png_uid}/instances").json()
              if _value(row, "00080016") == SR_CLASS][0]  # fmt: skip
    sr = f"{live_server.url}/dicomweb/studies/{png_uid}/series/{_value(sr_row, '0020000E')}/instances/" + _value(
        sr_row, "00080018"
    )
    for url, status in [
        (f"{live_server.url}/dicomweb/studies/1.2.3.4", 404),
        (f"{base}9/instances", 404),
        (f"{base}/instances/1.2.3", 404),
        (f"{instance}/frames/2", 404),
        (f"{instance}/frames/0", 404),
        (f"{sr}/frames/1", 404),
        (f"{sr}/rendered", 404),
    ]:
        response = session.get(url)
        assert response.status_code == status and response.json()["detail"], url
    assert session.get(f"{instance}/rendered", headers={"Accept": "image/gif"}).status_code == 406
    assert session.get(f"{instance}/rendered", headers={"Accept": "image/*"}).headers["Content-Type"] == "image/jpeg"


def _with_patient_id(path: Path) -> bytes:
    """The file with a PatientID (MedSite files an instance under its patient), encoded as it was: a file without
    preamble and File Meta stays without them."""
    ds = pydicom.dcmread(path, force=True)
    ds.PatientID = f"SAMPLE-{path.stem[:20]}"
    buffer = io.BytesIO()
    if ds.preamble is None:
        ds.save_as(buffer, enforce_file_format=False, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(buffer)
    return buffer.getvalue()


@needs_datasets
def test_wado_frames_and_renderings_of_every_shared_sample(dicomweb, live_server, site, clinician):
    """The nine real files (MONOCHROME1, JPEG, JPEG 2000, no File Meta, multi-frame): stored over STOW-RS (those
    without a PatientID refused with the reason, then sent again with one), each frame sent uncompressed at its full
    size, rendered as a picture that is not blank, and each retrieved as a PS3.10 file."""
    client, session = dicomweb(clinician), _session(clinician)
    url, headers = f"{live_server.url}/dicomweb/studies", {"Content-Type": DICOM_PARTS}
    paths = sorted(DICOM_SAMPLES.glob("*.dcm"))
    response = session.post(url, data=_body(*[("application/dicom", p.read_bytes()) for p in paths]), headers=headers)
    assert response.status_code == 202, response.text
    failed = response.json()["00081198"]["Value"]
    assert {_value(item, "00081197") for item in failed} == {0xC000}
    assert all("no PatientID" in _value(item, "00000902") for item in failed)
    refused = {_value(item, "00081155") for item in failed}
    again = [p for p in paths if str(pydicom.dcmread(p, force=True).SOPInstanceUID) in refused]
    assert "CR-MONO1-10-chest.dcm" in {p.name for p in again}  # the file without File Meta is among them
    response = session.post(url, data=_body(*[("application/dicom", _with_patient_id(p)) for p in again]),
                            headers=headers)  # fmt: skip
    assert response.status_code == 200, response.text

    for path in paths:
        original = pydicom.dcmread(path, force=True)
        uids = (original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID)
        last = int(original.get("NumberOfFrames", 1))  # for the multi-frame file, not the displayed (middle) frame
        (frame,) = client.retrieve_instance_frames(*uids, frame_numbers=[last])
        samples = original.get("SamplesPerPixel", 1)
        assert len(frame) == original.Rows * original.Columns * samples * (original.BitsAllocated // 8), path.name
        rendered = client.retrieve_instance_frames_rendered(*uids, frame_numbers=[last], media_types=("image/png",))
        _not_blank(rendered, (original.Columns, original.Rows))
        retrieved = client.retrieve_instance(*uids)  # a file stored without File Meta comes back as a PS3.10 file
        assert retrieved.SOPInstanceUID == original.SOPInstanceUID, path.name


# --- scope and audit ----------------------------------------------------------------------------------------------


def test_another_sites_study_is_404_and_audited_denied(dicomweb, live_server, archive, outsider, site):
    session = _session(outsider)
    ct = pydicom.dcmread(CT)
    study = f"{live_server.url}/dicomweb/studies/{ct.StudyInstanceUID}"
    assert study_uid(archive.ct.study) not in _uids(dicomweb(outsider).search_for_studies())
    assert session.get(f"{study}/series").status_code == 404
    assert session.get(f"{study}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}").status_code == 404
    # the same answer as for what does not exist: an outsider learns no UID (an unknown series is refused too)
    nowhere = session.get(f"{live_server.url}/dicomweb/studies/1.2.3.4/series")
    wrong_series = session.get(f"{study}/series/1.2.3/instances/{ct.SOPInstanceUID}/metadata")
    assert (nowhere.status_code, wrong_series.status_code) == (404, 404)
    assert nowhere.json() == wrong_series.json() == session.get(f"{study}/series").json()
    events = [(e.object_type, e.object_id, e.site, e.detail["status"]) for e in _denied(outsider)]
    study_denied = ("study", str(archive.ct.study_id), site, 404)
    assert events == [study_denied, ("image", str(archive.ct.pk), site, 404), study_denied, study_denied]


def test_no_token_is_401_and_a_bad_one_too(live_server, archive):
    url = f"{live_server.url}/dicomweb/studies"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Token not-a-token"}).status_code == 401


def test_every_role_at_the_site_reads_and_each_read_is_one_audit_event(dicomweb, archive, site_admin):
    client = dicomweb(site_admin)
    ct = pydicom.dcmread(CT)
    before = AuditEvent.objects.count()
    client.search_for_studies()
    client.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    events = list(AuditEvent.objects.order_by("pk")[before:].values_list("action", "object_type", "object_id"))
    assert events == [("view", "study", ""), ("download", "image", str(archive.ct.pk))]
