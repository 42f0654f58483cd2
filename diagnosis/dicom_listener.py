"""The DICOM receiver: a pynetdicom AE that answers C-ECHO and takes images over C-STORE (docs/dicom-conformance.md).

The called AE title picks the site (DicomNode); the calling AE title and address must be on that site's allow-list
(DicomPeer), or the association is rejected. Each instance goes through the upload import service
(records.dicom_receive -> dicom_import): the same checks, de-identified copy, patient and study matching, audit and
inference queueing as a file uploaded in the browser. Nothing here writes rows itself.
"""

import logging
import threading

import pydicom.uid
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection
from django.db.models import Q
from pydicom.pixels import get_decoder
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    Verification,
)

from accounts.audit import Client
from diagnosis.models import DicomNode, DicomPeer
from diagnosis.services import records

log = logging.getLogger(__name__)

STORAGE_SOP_CLASSES = (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    MRImageStorage,
    EnhancedMRImageStorage,
    CTImageStorage,
    EnhancedCTImageStorage,
    SecondaryCaptureImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
)
UNCOMPRESSED = (
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,
    pydicom.uid.ExplicitVRBigEndian,
)
COMPRESSED = (
    pydicom.uid.JPEGBaseline8Bit,
    pydicom.uid.JPEGExtended12Bit,
    pydicom.uid.JPEGLossless,
    pydicom.uid.JPEGLosslessSV1,
    pydicom.uid.JPEGLSLossless,
    pydicom.uid.JPEGLSNearLossless,
    pydicom.uid.JPEG2000Lossless,
    pydicom.uid.JPEG2000,
    pydicom.uid.RLELossless,
)

# DIMSE statuses (PS3.4 Table B.2-1)
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110

# A-ASSOCIATE-RJ: rejected permanent, by the DUL service user, with the reason
REJECT_CALLING_AE = 0x03
REJECT_CALLED_AE = 0x07


def transfer_syntaxes() -> list[str]:
    """The uncompressed syntaxes, and the compressed ones whose pixel data pydicom can decode here (diagnosis.dicom
    refuses the others, so they are not negotiated)."""
    decodable = []
    for syntax in COMPRESSED:
        try:
            if get_decoder(syntax).is_available:
                decodable.append(syntax)
        except NotImplementedError:
            pass
    return [*UNCOMPRESSED, *decodable]


def build_ae() -> AE:
    """The AE with its contexts and limits; the called AE title is checked per association against DicomNode."""
    ae = AE(ae_title="MEDSITE")
    ae.maximum_associations = settings.MEDSITE_DICOM_MAX_ASSOCIATIONS
    ae.maximum_pdu_size = settings.MEDSITE_DICOM_MAX_PDU
    ae.add_supported_context(Verification)
    syntaxes = transfer_syntaxes()
    for sop_class in STORAGE_SOP_CLASSES:
        ae.add_supported_context(sop_class, syntaxes)
    return ae


HANDLERS = []  # filled below: [(event, handler)]


def start(ae: AE, host: str, port: int, *, block: bool):
    return ae.start_server((host, port), block=block, evt_handlers=HANDLERS)


def _peer(assoc) -> tuple[str, str, str]:
    request = assoc.requestor.primitive
    return request.called_ae_title.strip(), request.calling_ae_title.strip(), assoc.requestor.address


def handle_requested(event) -> None:
    """Accept the association only for a known called AE title and a calling AE title allowed from this address."""
    called, calling, address = _peer(event.assoc)
    node = DicomNode.objects.select_related("site").filter(ae_title=called).first()
    allowed = (
        node is not None
        and DicomPeer.objects.filter(Q(ip__isnull=True) | Q(ip=address), site=node.site, ae_title=calling).exists()
    )
    if node is None or not allowed:
        connection.close()
        reason = f"unknown called AE title {called!r}" if node is None else f"caller not allowed to call {called}"
        log.warning("DICOM association from %s (%s) rejected: %s", calling, address, reason)
        # Rejected permanent, by the service user, with the reason; then wait until the reject has gone out (as
        # pynetdicom's own require_calling_aet check does), or the socket closes before it and the peer sees an abort.
        event.assoc.acse.send_reject(0x01, 0x01, REJECT_CALLED_AE if node is None else REJECT_CALLING_AE)
        event.assoc.kill()
        return
    event.assoc.medsite_site = node.site
    event.assoc.medsite_studies = set()  # the studies this association delivered to, released with it


def handle_echo(event) -> int:
    return SUCCESS


def handle_store(event) -> int:
    """Import one instance. A resent instance is a success that stores nothing; a refused one stores nothing."""
    site = getattr(event.assoc, "medsite_site", None)
    if site is None:
        return PROCESSING_FAILURE
    _, calling, address = _peer(event.assoc)
    sop_instance_uid = str(event.request.AffectedSOPInstanceUID or "")
    client = Client(ip=address, user_agent=f"DICOM C-STORE from {calling}")
    try:
        if "PixelData" not in event.dataset:
            log.info("C-STORE from %s refused: no pixel data", calling)
            return DATASET_DOES_NOT_MATCH_SOP_CLASS
        file = ContentFile(event.encoded_dataset(), name=f"{sop_instance_uid or 'received'}.dcm")
        image, _ = records.dicom_receive(
            site=site, file=file, sop_instance_uid=sop_instance_uid, client=client, hold=True
        )
        event.assoc.medsite_studies.add(image.study_id)
    except ValidationError as exc:
        storage_full = getattr(exc, "code", None) == "storage_full"
        log.info("C-STORE from %s refused: %s", calling, "; ".join(exc.messages))
        return OUT_OF_RESOURCES if storage_full else CANNOT_UNDERSTAND
    except OSError:
        log.exception("C-STORE from %s failed to store", calling)
        return OUT_OF_RESOURCES
    except Exception:
        log.exception("C-STORE from %s failed", calling)
        return CANNOT_UNDERSTAND
    return SUCCESS


def handle_released(event) -> None:
    """The sender released the association: the studies it delivered are complete, and go to inference. (An aborted
    association releases nothing: its studies wait for the quiet period, in case the sender tries again.)"""
    studies = getattr(event.assoc, "medsite_studies", None)
    try:
        if studies:
            records.study_release_held(study_pks=sorted(studies))
    except Exception:  # the quiet-period sweep releases them
        log.exception("Could not queue the studies of a released association; the quiet-period sweep will")
    finally:
        connection.close()


def handle_ended(event) -> None:
    """Each association runs in its own thread, with its own database connection: close it when the association
    ends (released, aborted or rejected; these events run in the association's thread)."""
    connection.close()


def release_quiet_studies(stop: threading.Event, *, every: float) -> None:
    """Run in the receiver's own thread: queue the studies no instance has reached for the quiet period."""
    while not stop.wait(every):
        try:
            records.study_release_held(quiet_seconds=settings.MEDSITE_DICOM_STUDY_QUIET_SECONDS)
        except Exception:
            log.exception("Could not release quiet studies; trying again in %s s", every)
        finally:
            connection.close()


def start_quiet_sweeper() -> threading.Event:
    """Start release_quiet_studies in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    every = max(1.0, settings.MEDSITE_DICOM_STUDY_QUIET_SECONDS / 5)
    threading.Thread(
        target=release_quiet_studies, args=(stop,), kwargs={"every": every}, name="quiet-studies", daemon=True
    ).start()
    return stop


HANDLERS.extend(
    [
        (evt.EVT_REQUESTED, handle_requested),
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_C_STORE, handle_store),
        (evt.EVT_RELEASED, handle_released),
        (evt.EVT_ABORTED, handle_ended),
        (evt.EVT_REJECTED, handle_ended),  # by pynetdicom's own checks (the association limit), after ours passed
    ]
)
