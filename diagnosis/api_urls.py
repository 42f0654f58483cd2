from rest_framework.routers import DefaultRouter

from diagnosis.api.audit import AuditEventViewSet
from diagnosis.api.delivery import ResultDeliveryViewSet
from diagnosis.api.learning import RetrainingItemViewSet, TrainingRunViewSet
from diagnosis.api.records import DicomImportViewSet, ImageViewSet, PatientViewSet, StudyViewSet
from diagnosis.api.registry import ModelVersionViewSet
from diagnosis.api.review import PredictionViewSet, ReviewViewSet
from diagnosis.api.worklist import WorklistViewSet

app_name = "api"

router = DefaultRouter(use_regex_path=False)
router.include_format_suffixes = False  # JSON only; no /patients.json twins
router.register("patients", PatientViewSet, basename="patient")
router.register("studies", StudyViewSet, basename="study")
router.register("images", ImageViewSet, basename="image")
router.register("imports", DicomImportViewSet, basename="import")
router.register("predictions", PredictionViewSet, basename="prediction")
router.register("reviews", ReviewViewSet, basename="review")
router.register("worklist", WorklistViewSet, basename="worklist")
router.register("deliveries", ResultDeliveryViewSet, basename="delivery")
router.register("models", ModelVersionViewSet, basename="model")
router.register("retraining-items", RetrainingItemViewSet, basename="retraining-item")
router.register("training-runs", TrainingRunViewSet, basename="training-run")
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
