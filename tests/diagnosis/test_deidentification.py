"""De-identification to DICOM PS3.15 Table E.1-1 (basic profile) and the burned-in annotation flag.

The first tests build a DICOM that carries every attribute of the table, each with a value of its VR (sequences with
nested identifying items), de-identify it, and check each attribute's action. The table comes from the pinned
dicom-anonymizer package (edition diagnosis.dicom.TABLE_EDITION), never from a hand list in these tests either.
"""

import io
import re

import numpy as np
import pydicom
import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from accounts.models import AuditEvent, Role
from diagnosis import dicom
from diagnosis.dicom import read_dicom
from diagnosis.models import Image, RetrainingItem
from diagnosis.services.inference import prediction_create
from diagnosis.services.records import image_clear_burned_in, image_upload
from diagnosis.services.review import review_submit
from tests.conftest import with_totp
from tests.diagnosis.conftest import png_file
from tests.factories import MembershipFactory, PatientFactory, StudyFactory, UserFactory

UID_ROOT = "1.2.826.0.1.3680043.10.999."  # a private root: these UIDs stand for a hospital's own
VALUE_BY_VR = {"AS": "042Y", "DA": "20240315", "DT": "20240315101112", "TM": "101112", "DS": "12.5", "IS": "42"}
NUMBER_VRS = {"AT", "FL", "FD", "SL", "SS", "SV", "UL", "US", "UV"}
BYTES_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
VIEWER_KEYWORDS = (  # kept: what the viewer, the model and research need (the table gives them no action)
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "PixelSpacing",
    "WindowCenter",
    "WindowWidth",
    "RescaleIntercept",
    "RescaleSlope",
    "ImageType",
    "Modality",
    "BodyPartExamined",
    "SOPClassUID",
)


def _secret(tag: int) -> str:
    return f"S{tag:08X}"  # valid for every text VR, CS included, and unique per attribute


def _vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:  # newer than pydicom's dictionary (gender identity, pronouns, ...): text will do
        return "LO"


def _value(tag: int, vr: str):
    if vr == "SQ":
        return [_nested(tag)]
    if vr == "UI":
        return f"{UID_ROOT}{tag}"
    if vr in NUMBER_VRS:
        return 7
    if vr in BYTES_VRS:
        return b"SECRET!!"
    return VALUE_BY_VR.get(vr, _secret(tag))


def _nested(tag: int) -> Dataset:
    """An item with originals of its own: a name (Z), a UID reference and, but in the reference sequences of
    X/Z/U*, a code meaning that the table does not list."""
    item = Dataset()
    item.PatientName = f"Nested^{_secret(tag)}"
    if dicom.BASIC_PROFILE.get(Tag(tag)) != "X/Z/U*":
        item.CodeMeaning = f"Meaning {_secret(tag)}"
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = f"{UID_ROOT}{tag}.1"
    return item


def table_tags() -> list[int]:
    """The rows a stored file can carry: not the command elements (group 0000) nor File Meta (0002, written
    afresh)."""
    return sorted(int(tag) for tag in dicom.BASIC_PROFILE if tag.group not in (0x0000, 0x0002))


def image_dataset(**elements) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{UID_ROOT}1"
    ds.Modality, ds.BodyPartExamined, ds.ImageType = "CT", "HEAD", ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PixelSpacing, ds.WindowCenter, ds.WindowWidth = [0.5, 0.5], 40, 80
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 4, 4, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = np.arange(16, dtype="<i2").tobytes()
    ds.BurnedInAnnotation = "NO"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def every_attribute_dataset() -> Dataset:
    """A CT slice carrying every attribute of Table E.1-1, plus a curve, an overlay and a private tag."""
    ds = image_dataset()
    for tag in table_tags():
        vr = _vr(tag)
        ds.add_new(tag, vr, _value(tag, vr))
    original = Dataset()  # what an earlier edit replaced: the originals, nested
    original.PatientName, original.PatientID, original.OtherPatientIDs = "Original^Jane", "MRN-ORIGINAL", "NHS-ORIG"
    modified = Dataset()
    modified.ModifiedAttributesSequence = [original]
    modified.ModifyingSystem, modified.SourceOfPreviousValues = "RIS-ORIG", "St Original"
    ds.OriginalAttributesSequence = [modified]
    ds.add_new(0x50003000, "OB", b"CURVE!!!")
    ds.add_new(0x60003000, "OW", b"\0\1" * 8)
    ds.add_new(0x60004000, "LT", "overlay comment SECRET")
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "ACME private SECRET")
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _deidentify(ds: Dataset) -> tuple[bytes, Dataset]:
    image = read_dicom(SimpleUploadedFile("every.dcm", dicom_bytes(ds)))
    return image.deidentified, pydicom.dcmread(io.BytesIO(image.deidentified))


@pytest.fixture(scope="module")
def everything():
    source = every_attribute_dataset()
    deidentified, result = _deidentify(source)
    return every_attribute_dataset(), deidentified, result  # a fresh source: read_dicom cleaned its copy in place


def _is_uid(value: str) -> bool:
    return len(value) <= 64 and re.fullmatch(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+", value) is not None


def _expected(action: str) -> str:
    """The action for a non-empty attribute (see dicom._resolve): the combinations as a conformant de-identifier
    without IOD tables must choose them."""
    return {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U*"}.get(action, action)


# --- the table itself -------------------------------------------------------------------------------------------------


def test_the_table_is_the_packages_current_edition_not_a_hand_list():
    assert dicom.TABLE_EDITION == "2026c"
    assert len(dicom.BASIC_PROFILE) >= 650  # 2026c: 652 attributes plus 3 group patterns
    assert set(dicom.BASIC_PROFILE.values()) == {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
    assert not hasattr(dicom, "REMOVE_KEYWORDS") and not hasattr(dicom, "EMPTY_KEYWORDS")
    # The rows that name groups: curves, overlay data and overlay comments.
    assert dicom.basic_profile_action(0x50020010) == "X"
    assert dicom.basic_profile_action(0x60023000) == dicom.basic_profile_action(0x601E4000) == "X"
    assert dicom.basic_profile_action(0x00280301) is None  # Burned In Annotation: no action, see the flag


# --- every attribute of the table -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", table_tags(), ids=lambda tag: keyword_for_tag(tag) or f"{tag:08X}")
def test_every_attribute_of_the_table_gets_its_action(everything, tag):
    assert_action_applied(tag, *everything)


def assert_action_applied(tag: int, source: Dataset, deidentified: bytes, result: Dataset) -> None:
    """The table's action on one attribute of every_attribute_dataset (also used by tests/security)."""
    action = _expected(dicom.BASIC_PROFILE[tag])
    vr, original = _vr(tag), source[tag].value
    name = keyword_for_tag(tag) or f"{tag:08X}"
    if action == "X":
        assert tag not in result, name
        return
    assert tag in result, f"{name} {action}: removed, but the profile keeps it"
    value = result[tag].value
    if action == "Z":
        assert result[tag].is_empty, name
    elif vr == "SQ":  # D or U* of a sequence: kept, with every original in its items replaced or emptied
        (item,) = value
        assert str(item.get("PatientName") or "") == "", name
        assert item.get("ReferencedSOPClassUID") == CTImageStorage, name
        replaced = item.ReferencedSOPInstanceUID
        assert _is_uid(replaced) and replaced != f"{UID_ROOT}{tag}.1", name
        if action == "D":
            assert item.CodeMeaning == dicom.DUMMY_TEXT, name
    elif action in ("U", "D") and vr == "UI":
        assert _is_uid(value) and value != original, name
    elif action == "D":
        assert not result[tag].is_empty and value != original, name
    else:
        raise AssertionError(f"{name}: unexpected action {action}")
    if vr not in NUMBER_VRS | BYTES_VRS:
        assert _secret(tag).encode() not in deidentified, name


def test_no_original_value_of_the_table_survives_anywhere(everything):
    _, deidentified, _ = everything
    survivors = [f"{tag:08X}" for tag in table_tags() if _secret(tag).encode() in deidentified]
    assert survivors == []
    for original in (b"SECRET", b"CURVE", b"ACME", b"20240315", b"101112", UID_ROOT.encode(), b"Original"):
        assert original not in deidentified, original


def test_the_viewer_attributes_pixel_data_and_the_profile_attributes_are_kept(everything):
    source, deidentified, result = everything
    for keyword in VIEWER_KEYWORDS:
        assert result.get(keyword) == source.get(keyword), keyword
    assert result.PixelData == source.PixelData
    assert result.PatientIdentityRemoved == "YES" and result.LongitudinalTemporalInformationModified == "REMOVED"
    assert result.DeidentificationMethod == "DICOM PS3.15 2026c Table E.1-1 Basic Profile (MedSite)"
    assert result.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert deidentified[:128] == b"\0" * 128 and deidentified[128:132] == b"DICM"
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert not [elem for elem in result.iterall() if elem.tag.is_private or elem.tag.group >> 8 in (0x50, 0x60)]


def test_combined_actions_keep_an_empty_attribute_empty():
    """Z/D, X/D and X/Z/D of an empty attribute: it cannot be Type 1, so it stays empty rather than get a dummy."""
    combined = [tag for tag in table_tags() if dicom.BASIC_PROFILE[tag] in ("Z/D", "X/D", "X/Z/D", "X/Z")]
    ds = image_dataset()
    for tag in combined:
        ds.add_new(tag, _vr(tag), [] if _vr(tag) == "SQ" else None)
    _, result = _deidentify(ds)
    assert [f"{tag:08X}" for tag in combined if tag not in result or not result[tag].is_empty] == []


# --- what the gray-box test found ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keyword",
    [
        "InsurancePlanIdentification",
        "PatientTransportArrangements",
        "SpecialNeeds",
        "VerifyingOrganization",
        "ContrastBolusAgent",
        "AcquisitionDeviceProcessingDescription",
        "ClinicalTrialSubjectID",
        "ClinicalTrialSponsorName",
        "TimezoneOffsetFromUTC",
    ],
)
def test_what_survived_the_old_denylist_is_gone(keyword):
    value = "+0100" if keyword == "TimezoneOffsetFromUTC" else "Jane Doe SECRET"
    deidentified, result = _deidentify(image_dataset(**{keyword: value}))
    assert value.encode() not in deidentified
    assert str(result.get(keyword) or "") in ("", dicom.DUMMY_TEXT)


def test_original_attributes_sequence_and_its_nested_originals_are_removed():
    original = Dataset()
    original.PatientName, original.PatientID = "Doe^Jane", "MRN-7741"
    modified = Dataset()
    modified.ModifiedAttributesSequence = [original]
    deidentified, result = _deidentify(image_dataset(OriginalAttributesSequence=[modified]))
    assert "OriginalAttributesSequence" not in result
    assert b"Doe^Jane" not in deidentified and b"MRN-7741" not in deidentified


def test_device_uid_and_referenced_sop_instance_uid_are_replaced_consistently():
    """U: every instance UID, registered root or not, gets one keyed replacement, the same wherever it appears."""
    first, second, device = "1.2.840.10008.9999.1", "1.2.840.10008.9999.2", "1.2.840.10008.9999.3"  # DICOM's root
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = CTImageStorage, second
    one = image_dataset(SOPInstanceUID=first, DeviceUID=device, ReferencedImageSequence=[reference])
    two = image_dataset(SOPInstanceUID=second)
    (_, one), (_, two) = _deidentify(one), _deidentify(two)
    assert _is_uid(one.DeviceUID) and one.DeviceUID != device
    referenced = one.ReferencedImageSequence[0]
    assert referenced.ReferencedSOPInstanceUID == two.SOPInstanceUID != second
    assert referenced.ReferencedSOPClassUID == CTImageStorage  # classes identify no one: kept
    assert one.SOPClassUID == CTImageStorage and one.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


# --- burned-in annotation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elements", "flagged"),
    [
        ({"BurnedInAnnotation": "YES"}, True),
        ({"BurnedInAnnotation": "NO"}, False),
        ({"BurnedInAnnotation": None}, False),  # a CT that does not say: rarely has text in its pixels
        ({"BurnedInAnnotation": None, "Modality": "US"}, True),
        ({"BurnedInAnnotation": None, "SOPClassUID": SecondaryCaptureImageStorage}, True),
        ({"BurnedInAnnotation": "NO", "Modality": "US"}, False),  # the file says so
    ],
)
def test_burned_in_annotation_is_flagged_and_not_claimed_removed(elements, flagged):
    ds = image_dataset()
    for keyword, value in elements.items():
        if value is None:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    image = read_dicom(SimpleUploadedFile("x.dcm", dicom_bytes(ds)))
    result = pydicom.dcmread(io.BytesIO(image.deidentified))
    assert bool(image.burned_in) is flagged
    assert result.PatientIdentityRemoved == ("NO" if flagged else "YES")
    assert result.get("BurnedInAnnotation") == elements["BurnedInAnnotation"]


def _burned_in_dicom(name: str = "us.dcm", **elements) -> SimpleUploadedFile:
    ds = image_dataset(BurnedInAnnotation="YES", PatientID="MRN-1", SOPInstanceUID=generate_uid(), **elements)
    return SimpleUploadedFile(name, dicom_bytes(ds))


@pytest.fixture
def flagged(db, site, clinician):
    study = StudyFactory(patient=PatientFactory(site=site, mrn="MRN-1"))
    return image_upload(study=study, file=_burned_in_dicom(), uploaded_by=clinician)


@pytest.fixture
def admin_of_site(site):
    return with_totp(MembershipFactory(site=site, role=Role.ADMIN, user__is_staff=True).user)


@pytest.mark.django_db
def test_a_burned_in_image_is_flagged_and_its_deidentified_copy_withheld_on_web_and_api(
    flagged, login, clinician, api, admin_of_site
):
    assert flagged.burned_in == "the file says it has burned-in annotation" and flagged.burned_in_withheld
    web = login(clinician).get(reverse("diagnosis:image_deidentified", args=[flagged.pk]))
    assert web.status_code == 403 and "burned into its pixels" in web.content.decode()
    rest = api(clinician).get(
        reverse("api:image-file", args=[flagged.pk]), {"rendition": "deidentified"}, HTTP_ACCEPT="application/dicom"
    )
    assert rest.status_code == 403 and "burned into its pixels" in rest.json()["detail"]
    assert login(clinician).get(reverse("diagnosis:image_original", args=[flagged.pk])).status_code == 200
    detail = api(clinician).get(reverse("api:image-detail", args=[flagged.pk])).json()
    assert (detail["burned_in"], detail["burned_in_withheld"]) == (flagged.burned_in, True)

    image_clear_burned_in(image=flagged, user=admin_of_site, reason="Checked: only an L marker")
    assert login(clinician).get(reverse("diagnosis:image_deidentified", args=[flagged.pk])).status_code == 200
    rest = api(clinician).get(
        reverse("api:image-file", args=[flagged.pk]), {"rendition": "deidentified"}, HTTP_ACCEPT="application/dicom"
    )
    assert rest.status_code == 200
    assert api(clinician).get(reverse("api:image-detail", args=[flagged.pk])).json()["burned_in_withheld"] is False


@pytest.mark.django_db
def test_the_study_page_says_plainly_that_an_image_is_flagged(flagged, login, clinician, admin_of_site):
    page = login(clinician).get(reverse("diagnosis:study_detail", args=[flagged.study.pk])).content.decode()
    assert 'data-testid="burned-in"' in page and "name or ID in the image itself" in page
    assert reverse("diagnosis:image_deidentified", args=[flagged.pk]) not in page
    image_clear_burned_in(image=flagged, user=admin_of_site, reason="Checked")
    page = login(clinician).get(reverse("diagnosis:study_detail", args=[flagged.study.pk])).content.decode()
    assert 'data-testid="burned-in"' not in page and 'data-testid="burned-in-cleared"' in page
    assert reverse("diagnosis:image_deidentified", args=[flagged.pk]) in page


@pytest.mark.django_db
def test_a_burned_in_image_stays_out_of_training_until_cleared(
    site, clinician, radiologist, model_version, admin_of_site, login, superuser
):
    study = StudyFactory(patient=PatientFactory(site=site))
    image = image_upload(study=study, file=png_file("x.png"), uploaded_by=clinician)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, burned_in="a secondary capture")
    prediction = prediction_create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        threshold=0.5,
        inference_ms=1.0,
    )
    review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    item = RetrainingItem.objects.get()
    queue = reverse("diagnosis:retraining_items", args=["chest-xray"])
    assert list(RetrainingItem.objects.usable()) == []
    assert "Held back: the image may show burned-in patient details" in login(superuser).get(queue).content.decode()
    image_clear_burned_in(image=Image.objects.get(pk=image.pk), user=admin_of_site, reason="No text in the pixels")
    assert list(RetrainingItem.objects.usable()) == [item]
    assert "Used in the next run" in login(superuser).get(queue).content.decode()


@pytest.mark.django_db
def test_clearing_takes_an_admin_of_the_images_site_and_a_reason_and_is_audited(
    flagged, clinician, admin_of_site, other_site
):
    superuser_elsewhere = UserFactory(is_superuser=True, is_staff=True)
    MembershipFactory(site=other_site, user=superuser_elsewhere, role=Role.ADMIN)
    for user in (clinician, superuser_elsewhere):
        with pytest.raises(ValidationError, match="Only an admin of the image's site"):
            image_clear_burned_in(image=flagged, user=user, reason="looked")
    with pytest.raises(ValidationError, match="Say what you checked"):
        image_clear_burned_in(image=flagged, user=admin_of_site, reason="  ")
    assert Image.objects.get(pk=flagged.pk).burned_in_withheld

    image_clear_burned_in(image=flagged, user=admin_of_site, reason="Checked: only an L marker")
    image = Image.objects.get(pk=flagged.pk)
    assert not image.burned_in_withheld and image.burned_in_cleared_by == admin_of_site
    event = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE, object_type="image").get()
    assert (event.actor, event.site, event.object_id) == (admin_of_site, flagged.study.site, str(flagged.pk))
    assert event.detail["burned_in"] == "cleared" and event.detail["reason"] == "Checked: only an L marker"
    with pytest.raises(ValidationError, match="already cleared"):
        image_clear_burned_in(image=image, user=admin_of_site, reason="again")


@pytest.mark.django_db
def test_a_site_admin_clears_an_image_with_the_django_admin_action(flagged, client, admin_of_site):
    admin_of_site.user_permissions.add(Permission.objects.get(codename="view_image"))
    client.force_login(admin_of_site)
    url = reverse("admin:diagnosis_image_changelist")
    post = {"action": "clear_burned_in", "_selected_action": [flagged.pk], "reason": "Checked the pixels"}
    refused = client.post(url, {**post, "reason": ""}, follow=True)
    assert "Say what you checked" in refused.content.decode()
    assert Image.objects.get(pk=flagged.pk).burned_in_withheld
    client.post(url, post, follow=True)
    image = Image.objects.get(pk=flagged.pk)
    assert not image.burned_in_withheld and image.burned_in_clear_reason == "Checked the pixels"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE, object_id=str(flagged.pk)).count() == 1


def test_keyword_lookups_used_here_are_real():
    for keyword in VIEWER_KEYWORDS:
        assert tag_for_keyword(keyword) is not None and Tag(tag_for_keyword(keyword)) not in dicom.BASIC_PROFILE
