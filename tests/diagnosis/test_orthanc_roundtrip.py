"""The whole hospital loop with real parts: Orthanc (Debian's PACS) sends a chest study to MedSite's DICOM receiver,
a live Celery worker analyses it with a real Keras model, MedSite's results routing sends the AI's SR and heatmap
Secondary Capture back to Orthanc into the same study, and a radiologist's review sends the final SR there too.
Everything is read back through Orthanc's REST API. Skipped without Orthanc or PostgreSQL/Redis, except in CI."""

import io
import time

import pydicom
import pytest
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from accounts.models import AuditEvent
from diagnosis import dicom_listener
from diagnosis.models import DicomDestination, DicomNode, DicomPeer, Image, Prediction, ResultDelivery
from diagnosis.services.review import review_submit
from diagnosis.services.training import model_register
from tests import live, orthanc
from tests.diagnosis.test_orthanc_peer import _bytes

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


def _objects(pacs, study_id: str) -> list[pydicom.Dataset]:
    return [
        pydicom.dcmread(io.BytesIO(pacs.file(item["ID"])), stop_before_pixels=True)
        for item in pacs.study_instances(study_id)
    ]


def _results(pacs, study_uid: str, sop_class: str) -> list[pydicom.Dataset]:
    study_id = pacs.find_study(study_uid)
    return [ds for ds in _objects(pacs, study_id) if ds.SOPClassUID == sop_class] if study_id else []


def test_orthanc_to_medsite_and_back_preliminary_and_final_results_land_in_the_same_study(
    live_env, tmp_path, tiny_bundle, site, radiologist
):
    orthanc.require_orthanc()
    model_register(bundle_path=tiny_bundle, activate=True)
    DicomNode.objects.create(ae_title="MEDSITE", site=site)
    DicomPeer.objects.create(site=site, ae_title=orthanc.AE_TITLE, ip="127.0.0.1")
    ae = dicom_listener.build_ae()
    receiver_port = dicom_listener.start(ae, "127.0.0.1", 0, block=False).server_address[1]
    study_uid, series_uid = generate_uid(), generate_uid()
    radiographs = [
        orthanc.computed_radiograph(patient_id="RT-1", study_uid=study_uid, series_uid=series_uid, number=n, seed=n)
        for n in (1, 2)
    ]
    try:
        with (
            orthanc.running(
                tmp_path / "orthanc", modalities={"medsite": ("MEDSITE", "127.0.0.1", receiver_port)}
            ) as pacs,
            live.worker(live_env, tmp_path / "worker.log"),
        ):
            DicomDestination.objects.create(
                site=site, name="Orthanc", ae_title=orthanc.AE_TITLE, host="127.0.0.1", port=pacs.dicom_port
            )
            study_id = {pacs.upload(_bytes(ds))["ParentStudy"] for ds in radiographs}.pop()

            started = time.monotonic()
            pacs.store("medsite", study_id)  # one association: MedSite analyses the study at its release
            srs = live.wait_for(
                lambda: len(found := _results(pacs, study_uid, COMPREHENSIVE_3D_SR)) == 2 and found,
                timeout=180,
                interval=0.1,
                what="the AI's SRs in Orthanc",
            )
            round_trip = time.monotonic() - started
            scs = live.wait_for(
                lambda: len(found := _results(pacs, study_uid, SecondaryCaptureImageStorage)) == 2 and found,
                timeout=60,
                what="the heatmap Secondary Captures in Orthanc",
            )

            # The preliminary results: in the same study, each SR about one received image, AI output marked.
            images = Image.objects.filter(study__study_instance_uid=study_uid)
            predictions = Prediction.objects.filter(image__in=images, is_shadow=False)
            assert predictions.count() == 2
            sent_uids = {str(ds.SOPInstanceUID) for ds in radiographs}
            for sr in srs:
                assert sr.StudyInstanceUID == study_uid and sr.PatientID == "RT-1"
                assert sr.CompletionFlag == "PARTIAL" and sr.VerificationFlag == "UNVERIFIED"
                evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
                assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID in sent_uids
            assert {str(sc.StudyInstanceUID) for sc in scs} == {study_uid}
            assert all(sc.BurnedInAnnotation == "NO" and "heatmap" in sc.SeriesDescription.lower() for sc in scs)
            assert set(ResultDelivery.objects.values_list("status", flat=True)) == {ResultDelivery.Status.SENT}

            # The radiologist's word: the final SR follows into the same study, the reader as verifying observer.
            prediction = predictions.order_by("pk").first()
            review_submit(prediction=prediction, reviewer=radiologist, label=prediction.label)
            final = live.wait_for(
                lambda: [
                    ds for ds in _results(pacs, study_uid, COMPREHENSIVE_3D_SR) if ds.VerificationFlag == "VERIFIED"
                ],
                timeout=60,
                what="the final SR in Orthanc",
            )
            assert len(final) == 1 and final[0].CompletionFlag == "COMPLETE"
            assert final[0].StudyInstanceUID == study_uid
            assert str(final[0].VerifyingObserverSequence[0].VerifyingObserverName)
            assert len(_results(pacs, study_uid, COMPREHENSIVE_3D_SR)) == 3

            sends = AuditEvent.objects.filter(action=AuditEvent.Action.SEND)
            assert sends.count() == ResultDelivery.objects.count() == 5  # 2 SR + 2 SC + 1 final SR
            model_ms = max(p.preprocess_ms + p.inference_ms + (p.heatmap_ms or 0) for p in predictions)
            print(f"round trip {round_trip:.2f} s; model time {model_ms / 1000:.2f} s")
    finally:
        ae.shutdown()
