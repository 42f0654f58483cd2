"""Files leave the server here, and only here (GC's serving.serve_images): the web pages and the REST API call the
same functions, which check the user's site and role, write the audit event, mark the response private and
no-store, and stream the file. Callers are thin: they parse their input (a URL's rendition, the API's query) and
hand over. DICOMweb's WADO-RS serves its own multipart answers (diagnosis/dicomweb/), by its standard."""

from django.http import FileResponse, Http404, HttpResponse

from accounts.models import AuditEvent
from diagnosis import access, dicom_results

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "DICOM": "application/dicom"}
IMAGE_RENDITIONS = {
    # name: (file field, content type or None for the original's, download file name suffix)
    "display": ("display_file", "image/png", ".png"),
    "original": ("file", None, ""),
    "deidentified": ("deidentified_file", "application/dicom", ".dcm"),
}
WITHHELD_BURNED_IN = (
    "This image may show the patient's name or ID burned into its pixels, which de-identification does not remove. "
    "Its de-identified copy is withheld until an admin of its site has checked the image and cleared it."
)


def image_file(request, pk: int, *, rendition: str = "display") -> FileResponse:
    """An image's file in one of IMAGE_RENDITIONS: the display PNG is a VIEW, the others a DOWNLOAD (attachment)."""
    image = access.get_image_for_user(request, pk)
    field_name, content_type, suffix = IMAGE_RENDITIONS[rendition]
    field = getattr(image, field_name)
    if not field:
        raise Http404("This image has no such file.")
    if rendition == "deidentified" and image.burned_in_withheld:
        raise access.deny(request, "image", WITHHELD_BURNED_IN)
    action = AuditEvent.Action.DOWNLOAD if rendition != "display" else AuditEvent.Action.VIEW
    access.record_view(request, image, image.study.site, action=action, detail={"rendition": rendition})
    response = FileResponse(
        field.open("rb"),
        content_type=content_type or CONTENT_TYPES[image.format],
        as_attachment=rendition != "display",
        filename=f"image-{image.pk}{suffix or field.name[field.name.rfind('.') :]}",
    )
    return _private(response)


def prediction_heatmap(request, pk: int) -> FileResponse:
    """A prediction's Grad-CAM PNG, audited as a VIEW of the prediction."""
    prediction = access.get_prediction_for_user(request, pk)
    if not prediction.heatmap:
        raise Http404("This prediction has no heatmap.")
    image = prediction.image
    access.record_view(request, prediction, image.study.site, detail={"rendition": "heatmap", "image": image.pk})
    return _private(FileResponse(prediction.heatmap.open("rb"), content_type="image/png"))


def dicom_download(request, obj, site, dataset) -> HttpResponse:
    """A DICOM object built from `obj` (an SR or a Secondary Capture), after the caller's access check: audited as a
    DOWNLOAD, sent as an attachment."""
    access.record_view(
        request, obj, site, action=AuditEvent.Action.DOWNLOAD, detail={"rendition": "dicom", "sop": dataset.SOPClassUID}
    )
    response = HttpResponse(dicom_results.to_bytes(dataset), content_type="application/dicom")
    response["Content-Disposition"] = f'attachment; filename="{obj._meta.model_name}-{obj.pk}.dcm"'
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    """Patient data: never kept by a browser's or a proxy's cache."""
    response["Cache-Control"] = "private, no-store"
    return response
