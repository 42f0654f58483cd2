"""Files leave the server here, and only here (GC's serving.serve_images): the web pages and the REST API call the
same functions, which check the user's site and role, write the audit event, mark the response private and
no-store, and stream the file. Callers are thin: they parse their input (a URL's rendition, the API's query) and
hand over. DICOMweb's WADO-RS serves its own multipart answers (diagnosis/dicomweb/), by its standard."""

from django.http import FileResponse, Http404, HttpResponse

from accounts.models import AuditEvent
from diagnosis import access, dicom_results, pixels
from diagnosis.services import heatmaps

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


NO_STORED_VALUES = (
    "This image was uploaded as {format}: its 8-bit values are all there is, and the display rendition shows them."
)


def image_pixels(request, pk: int) -> HttpResponse:
    """The stored pixel values of a DICOM image's displayed frame (diagnosis.pixels' medsite-pixels/1 format), for
    the viewer's windowing: audited as a VIEW with rendition "pixels", gzip-compressed when the client accepts it.
    A PNG or JPEG image, or a colour DICOM, has none: 404 with the reason."""
    image = access.get_image_for_user(request, pk)
    if image.format != "DICOM" or not image.file:
        raise Http404(NO_STORED_VALUES.format(format=image.format))
    try:
        with image.file.open("rb") as fh:
            stored = pixels.read_stored_values(fh)
    except pixels.NoStoredValues as exc:
        raise Http404(str(exc)) from None
    access.record_view(request, image, image.study.site, detail={"rendition": "pixels", "step": stored.header["step"]})
    data = pixels.pack(stored)
    response = HttpResponse(content_type=pixels.CONTENT_TYPE)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        data = pixels.compress(data)
        response["Content-Encoding"] = "gzip"
    response.content = data
    response["Vary"] = "Accept-Encoding"
    return _private(response)


def prediction_heatmap(request, pk: int, *, style: str = "overlay") -> HttpResponse:
    """A prediction's Grad-CAM as a PNG, audited as a VIEW of the prediction. style "overlay": what a reader sees
    over the image (RGBA, transparent below the CAM's upper half, one hue, outlined: mlcore.heatmap); "cam": the CAM
    itself, 8-bit greyscale. Heatmaps stored jet-coloured (before issue 23) are read back to CAM values."""
    prediction = access.get_prediction_for_user(request, pk)
    if not prediction.heatmap:
        raise Http404("This prediction has no heatmap.")
    image = prediction.image
    access.record_view(
        request, prediction, image.study.site, detail={"rendition": "heatmap", "image": image.pk, "style": style}
    )
    return _private(HttpResponse(heatmaps.heatmap_rendition(prediction, style=style), content_type="image/png"))


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
