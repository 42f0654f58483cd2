"""/fhir/: the FHIR R4 (R4B) read API (diagnosis.api.fhir). Ids follow FHIR's syntax; anything else under /fhir/
gets a 404 OperationOutcome."""

from django.urls import path, re_path

from diagnosis.api import fhir

app_name = "fhir"

ID = r"(?P<id>[A-Za-z0-9\-.]{1,64})"

urlpatterns = [
    path("metadata", fhir.MetadataView.as_view(), name="metadata"),
    path("DiagnosticReport", fhir.DiagnosticReportSearchView.as_view(), name="diagnosticreport-list"),
    path("DiagnosticReport/_search", fhir.DiagnosticReportSearchView.as_view(), name="diagnosticreport-search"),
    re_path(rf"^DiagnosticReport/{ID}$", fhir.DiagnosticReportView.as_view(), name="diagnosticreport-detail"),
    re_path(rf"^Observation/{ID}$", fhir.ObservationView.as_view(), name="observation-detail"),
    re_path(rf"^ImagingStudy/{ID}$", fhir.ImagingStudyView.as_view(), name="imagingstudy-detail"),
    re_path(rf"^Patient/{ID}$", fhir.PatientView.as_view(), name="patient-detail"),
    re_path(rf"^Device/{ID}$", fhir.DeviceView.as_view(), name="device-detail"),
    re_path(rf"^Practitioner/{ID}$", fhir.PractitionerView.as_view(), name="practitioner-detail"),
    re_path(r"^.*$", fhir.UnknownView.as_view(), name="unknown"),
]
