"""QIDO-RS: the query keys MedSite matches, and the DICOM JSON of its study, series and instance rows.

Studies are matched in the database; series and instances in Python, over a study's instances (instances.py).
Keys may be keywords (PatientID) or tags (00100020); * and ? are wildcards (PS3.4 C.2.2.2.4); several values
are separated by commas or backslashes (UID list matching); StudyDate takes a range (20240101-20241231, -20241231,
20240101-). A key MedSite does not match is ignored and named in a Warning header (PS3.18 8.3.4.2).
"""

import datetime
import re
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import PYDICOM_ROOT_UID

from diagnosis import dicom_results
from diagnosis.dicomweb import instances
from diagnosis.dicomweb.instances import Instance
from diagnosis.models import Image, Prediction, Review, Study

STUDY_KEYS = {"PatientID", "PatientName", "StudyInstanceUID", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
              "StudyDescription"}  # fmt: skip
SERIES_KEYS = {"Modality", "SeriesInstanceUID", "SeriesNumber"}
INSTANCE_KEYS = {"SOPInstanceUID", "SOPClassUID", "InstanceNumber", "SeriesInstanceUID"}
CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


class BadQuery(ValueError):
    """A query parameter MedSite cannot read (the message says which)."""


@dataclass
class Query:
    match: dict[str, str]
    limit: int
    offset: int
    includefield: tuple[str, ...]
    ignored: list[str] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        return [v for v in re.split(r"[,\\]", self.match.get(key, "")) if v]


def parse(params, keys: set[str]) -> Query:
    """The query string of a QIDO request at the level whose attributes are `keys`."""
    match, ignored = {}, []
    for name in params:
        value = params.get(name, "").replace("\x00", "")  # PostgreSQL refuses NUL in a query
        keyword = _keyword(name)
        if name in CONTROL:
            continue
        if keyword in keys:
            if value and value != "*":
                match[keyword] = value
        else:
            ignored.append(name)
    if "StudyDate" in match:
        _date_range(match["StudyDate"])  # refused here, before any reply
    return Query(match, _number(params, "limit", DEFAULT_LIMIT), _number(params, "offset", 0), _fields(params), ignored)


def _keyword(name: str) -> str:
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        return keyword_for_tag(int(name, 16)) or name
    return name


def _number(params, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return min(default, MAX_LIMIT) if name == "limit" else default
    if not value.isdigit() or len(value) > 9:
        raise BadQuery(f"{name} must be a whole number below 10^9, not {value[:20]!r}.")
    return min(int(value), MAX_LIMIT) if name == "limit" else int(value)


def _fields(params) -> tuple[str, ...]:
    """includefield: keywords or tags, comma-separated or repeated; "all"."""
    names = [n for value in params.getlist("includefield") for n in value.split(",") if n]
    keywords = []
    for name in names:
        keyword = "all" if name == "all" else _keyword(name)
        if keyword != "all" and tag_for_keyword(keyword) is None:
            raise BadQuery(f"includefield: {name[:40]!r} is no DICOM attribute keyword or tag.")
        keywords.append(keyword)
    return tuple(keywords)


def _pattern(value: str) -> str:
    """A DICOM wildcard value as an anchored regular expression."""
    return "^" + re.escape(re.sub(r"\*+", "*", value)).replace(r"\*", ".*").replace(r"\?", ".") + "$"


def _text(field_name: str, value: str, *, case: bool = True) -> Q:
    if "*" in value or "?" in value:
        return Q(**{f"{field_name}__{'regex' if case else 'iregex'}": _pattern(value)})
    return Q(**{f"{field_name}{'' if case else '__iexact'}": value})


def _date(value: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise BadQuery(f"StudyDate: {value[:20]!r} is no date (YYYYMMDD).") from None


# --- studies ------------------------------------------------------------------------------------------------------


def filter_studies(studies: QuerySet[Study], query: Query) -> QuerySet[Study]:
    match = query.match
    if "PatientID" in match:
        studies = studies.filter(_text("patient__mrn", match["PatientID"]))
    if "PatientName" in match:  # PN matching ignores case; each part of the name, in any order
        for part in re.split(r"[\^ ,]+", match["PatientName"]):
            if part.strip("*?"):
                studies = studies.filter(_text("patient__name", f"*{part.strip('*')}*", case=False))
    if "AccessionNumber" in match:
        studies = studies.filter(_text("accession_number", match["AccessionNumber"]))
    if "StudyDescription" in match:
        studies = studies.filter(_text("description", match["StudyDescription"], case=False))
    if "StudyDate" in match:
        studies = studies.filter(_date_range(match["StudyDate"]))
    if modalities := query.values("ModalitiesInStudy"):
        wanted = Q(modality__in=modalities)
        if "SR" in modalities:
            wanted |= Q(images__predictions__is_shadow=False)
        if "OT" in modalities:
            wanted |= Q(images__predictions__is_shadow=False, images__predictions__heatmap__gt="")
        studies = studies.filter(wanted)
    if uids := query.values("StudyInstanceUID"):
        studies = studies.filter(Q(study_instance_uid__in=uids) | Q(pk__in=_derived(studies, uids)))
    return studies.distinct()


def _date_range(value: str) -> Q:
    if "-" not in value:
        return Q(study_date=_date(value))
    start, _, end = value.partition("-")
    if not start and not end:
        raise BadQuery("StudyDate: a range needs a start, an end or both.")
    wanted = Q()
    if start:
        wanted &= Q(study_date__gte=_date(start))
    if end:
        wanted &= Q(study_date__lte=_date(end))
    return wanted


def _derived(studies: QuerySet[Study], uids: list[str]) -> list[int]:
    """The studies without a UID of their own whose derived UID (dicom_results.study_instance_uid) is asked for."""
    if not any(uid.startswith(PYDICOM_ROOT_UID) for uid in uids):
        return []
    wanted = set(uids)
    candidates = studies.filter(study_instance_uid="").values_list("pk", flat=True)
    return [pk for pk in candidates if dicom_results.stable_uid("study", pk) in wanted]


@dataclass
class StudyCounts:
    series: int = 0
    instances: int = 0
    modalities: set[str] = field(default_factory=set)


def study_counts(studies: list[Study]) -> dict[int, StudyCounts]:
    """Series and instances per study, as study_instances lists them, in three queries for a page of studies."""
    counts = {study.pk: StudyCounts(modalities={study.modality}) for study in studies}
    images = (
        Image.objects.filter(study__in=studies)
        .values("study")
        .annotate(
            n=Count("id"),
            series=Count("series_instance_uid", distinct=True, filter=~Q(series_instance_uid="")),
            alone=Count("id", filter=Q(series_instance_uid="")),
        )
    )
    for row in images:
        found = counts[row["study"]]
        found.series += row["series"] + row["alone"]
        found.instances += row["n"]
    predictions = (
        Prediction.objects.filter(image__study__in=studies, is_shadow=False)
        .values("image__study")
        .annotate(n=Count("id"), heatmaps=Count("id", filter=~Q(heatmap="")))
    )
    for row in predictions:
        found = counts[row["image__study"]]
        found.series += row["n"] + row["heatmaps"]
        found.instances += row["n"] + row["heatmaps"]
        found.modalities |= {"SR", "OT"} if row["heatmaps"] else {"SR"}
    reviews = (
        Review.objects.filter(prediction__image__study__in=studies, prediction__is_shadow=False)
        .values("prediction__image__study")
        .annotate(n=Count("id"))
    )
    for row in reviews:
        counts[row["prediction__image__study"]].series += row["n"]
        counts[row["prediction__image__study"]].instances += row["n"]
    return counts


def _study_attributes(study: Study) -> Dataset:
    patient = study.patient
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyDate = study.study_date.strftime("%Y%m%d") if study.study_date else ""
    ds.StudyTime = ""
    ds.AccessionNumber = study.accession_number
    ds.ReferringPhysicianName = study.referring_clinician
    ds.PatientName = instances.person_name(patient.name)
    ds.PatientID = patient.mrn
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    ds.PatientSex = patient.sex if patient.sex in ("M", "F", "O") else ""
    ds.StudyInstanceUID = instances.study_uid(study)
    ds.StudyID = str(study.pk)
    ds.StudyDescription = study.description
    return ds


def study_json(study: Study, counts: StudyCounts, url: str) -> dict:
    ds = _study_attributes(study)
    ds.ModalitiesInStudy = sorted(counts.modalities)
    ds.NumberOfStudyRelatedSeries = counts.series
    ds.NumberOfStudyRelatedInstances = counts.instances
    ds.RetrieveURL = url
    return ds.to_json_dict()


# --- series and instances -----------------------------------------------------------------------------------------


def _matches(value, wanted: list[str]) -> bool:
    return any(re.fullmatch(_pattern(w)[1:-1], str(value if value is not None else "")) for w in wanted)


def filter_series(found: list[Instance], query: Query) -> list[Instance]:
    for key, attribute in (("Modality", "modality"), ("SeriesInstanceUID", "series_uid")):
        if wanted := query.values(key):
            found = [i for i in found if _matches(getattr(i, attribute), wanted)]
    if wanted := query.values("SeriesNumber"):
        found = [i for i in found if _matches(i.series_number, wanted)]
    return found


def filter_instances(found: list[Instance], query: Query) -> list[Instance]:
    found = filter_series(found, query)
    for key, attribute in (
        ("SOPInstanceUID", "sop_uid"),
        ("SOPClassUID", "sop_class"),
        ("InstanceNumber", "instance_number"),
    ):
        if wanted := query.values(key):
            found = [i for i in found if _matches(getattr(i, attribute), wanted)]
    return found


def series_rows(found: list[Instance]) -> list[list[Instance]]:
    """The instances grouped by series, in the order their series first appear."""
    series: dict[str, list[Instance]] = {}
    for instance in found:
        series.setdefault(instance.series_uid, []).append(instance)
    return list(series.values())


def series_json(study: Study, members: list[Instance], url: str) -> dict:
    first = members[0]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.Modality = first.modality
    ds.SeriesDescription = first.series_description
    ds.StudyInstanceUID = instances.study_uid(study)
    ds.SeriesInstanceUID = first.series_uid
    ds.SeriesNumber = first.series_number
    ds.NumberOfSeriesRelatedInstances = len(members)
    ds.RetrieveURL = url
    return ds.to_json_dict()


def instance_json(study: Study, instance: Instance, url: str, includefield: tuple[str, ...]) -> dict:
    ds = Dataset()
    if wanted := tuple(k for k in includefield if k != "all" and dictionary_VR(k) not in ("SQ", "OB", "OW")):
        ds.update(instances.header_values(instance, wanted))
    if "all" in includefield:
        ds.update(_study_attributes(study))
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = instance.sop_class
    ds.SOPInstanceUID = instance.sop_uid
    ds.StudyInstanceUID = instances.study_uid(study)
    ds.SeriesInstanceUID = instance.series_uid
    ds.Modality = instance.modality
    ds.SeriesNumber = instance.series_number
    ds.InstanceNumber = instance.instance_number
    if instance.has_pixels:
        ds.Rows, ds.Columns, ds.NumberOfFrames = instance.rows, instance.columns, instance.frames
    ds.InstanceAvailability = "ONLINE"
    ds.RetrieveURL = url
    return ds.to_json_dict(suppress_invalid_tags=True)
