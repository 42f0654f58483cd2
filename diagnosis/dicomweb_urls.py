"""DICOMweb URLs (PS3.18), under /dicomweb/: the Studies Service's resources, named by their UIDs."""

from django.urls import path, register_converter

from diagnosis.dicomweb import views

app_name = "dicomweb"


class UidConverter:
    regex = r"[0-9][0-9.]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FrameListConverter:
    regex = r"[0-9]{1,6}(,[0-9]{1,6}){0,99}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(UidConverter, "uid")
register_converter(FrameListConverter, "frames")

STUDY = "studies/<uid:study_uid>"
SERIES = f"{STUDY}/series/<uid:series_uid>"
INSTANCE = f"{SERIES}/instances/<uid:instance_uid>"

urlpatterns = [
    path("studies", views.Studies.as_view(), name="studies"),  # QIDO-RS (GET), STOW-RS (POST)
    path(STUDY, views.StudyResource.as_view(), name="study"),  # WADO-RS (GET), STOW-RS into this study (POST)
    path(f"{STUDY}/metadata", views.Metadata.as_view(), name="study-metadata"),
    path(f"{STUDY}/series", views.StudySeries.as_view(), name="study-series"),
    path(f"{STUDY}/instances", views.Instances.as_view(), name="study-instances"),
    path(SERIES, views.Retrieve.as_view(), name="series"),
    path(f"{SERIES}/metadata", views.Metadata.as_view(), name="series-metadata"),
    path(f"{SERIES}/instances", views.Instances.as_view(), name="series-instances"),
    path(INSTANCE, views.Retrieve.as_view(), name="instance"),
    path(f"{INSTANCE}/metadata", views.Metadata.as_view(), name="instance-metadata"),
    path(f"{INSTANCE}/rendered", views.Rendered.as_view(), name="instance-rendered"),
    path(f"{INSTANCE}/frames/<frames:frames>", views.Frames.as_view(), name="frames"),
    path(f"{INSTANCE}/frames/<int:frame>/rendered", views.Rendered.as_view(), name="frame-rendered"),
]
