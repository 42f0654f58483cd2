"""Contains all the data models used in inputs/outputs"""

from .action_enum import ActionEnum
from .audit_event import AuditEvent
from .blank_enum import BlankEnum
from .claim_enum import ClaimEnum
from .decision_enum import DecisionEnum
from .dicom_import import DicomImport
from .drift import Drift
from .exclusion import Exclusion
from .format_enum import FormatEnum
from .image import Image
from .image_status_enum import ImageStatusEnum
from .kind_enum import KindEnum
from .ledger_entry import LedgerEntry
from .ledger_entry_ai_probabilities import LedgerEntryAiProbabilities
from .live_performance import LivePerformance
from .modality_enum import ModalityEnum
from .model_evaluation import ModelEvaluation
from .model_promote import ModelPromote
from .model_rollback import ModelRollback
from .model_status_change import ModelStatusChange
from .model_version import ModelVersion
from .model_version_detail import ModelVersionDetail
from .model_version_status_enum import ModelVersionStatusEnum
from .operating_point import OperatingPoint
from .paginated_audit_event_list import PaginatedAuditEventList
from .paginated_image_list import PaginatedImageList
from .paginated_ledger_entry_list import PaginatedLedgerEntryList
from .paginated_model_version_detail_list import PaginatedModelVersionDetailList
from .paginated_patient_list import PaginatedPatientList
from .paginated_prediction_list import PaginatedPredictionList
from .paginated_result_delivery_list import PaginatedResultDeliveryList
from .paginated_retraining_item_list import PaginatedRetrainingItemList
from .paginated_study_list import PaginatedStudyList
from .paginated_training_run_list import PaginatedTrainingRunList
from .paginated_worklist_study_list import PaginatedWorklistStudyList
from .patched_patient_update import PatchedPatientUpdate
from .patched_study_update import PatchedStudyUpdate
from .patient import Patient
from .patient_create import PatientCreate
from .patient_search import PatientSearch
from .prediction import Prediction
from .prediction_timings import PredictionTimings
from .priority_enum import PriorityEnum
from .problem import Problem
from .problem_errors import ProblemErrors
from .result_delivery import ResultDelivery
from .result_delivery_status_enum import ResultDeliveryStatusEnum
from .retraining_item import RetrainingItem
from .review import Review
from .review_create import ReviewCreate
from .sex_enum import SexEnum
from .study import Study
from .study_claim import StudyClaim
from .study_create import StudyCreate
from .study_status_enum import StudyStatusEnum
from .training_run import TrainingRun
from .training_run_create import TrainingRunCreate
from .training_run_status_enum import TrainingRunStatusEnum
from .trigger_enum import TriggerEnum
from .upload import Upload
from .upload_error import UploadError
from .upload_result import UploadResult
from .v1_audit_events_list_action import V1AuditEventsListAction
from .v1_deliveries_list_kind import V1DeliveriesListKind
from .v1_deliveries_list_status import V1DeliveriesListStatus
from .v1_images_file_retrieve_rendition import V1ImagesFileRetrieveRendition
from .v1_imports_create_response_400_type_1 import V1ImportsCreateResponse400Type1
from .v1_models_list_status import V1ModelsListStatus
from .v1_predictions_heatmap_retrieve_style import V1PredictionsHeatmapRetrieveStyle
from .v1_predictions_list_modality import V1PredictionsListModality
from .v1_reviews_list_decision import V1ReviewsListDecision
from .v1_studies_images_create_response_400_type_1 import V1StudiesImagesCreateResponse400Type1
from .v1_studies_list_modality import V1StudiesListModality
from .v1_studies_list_status import V1StudiesListStatus
from .v1_training_runs_list_status import V1TrainingRunsListStatus
from .v1_training_runs_list_trigger import V1TrainingRunsListTrigger
from .v1_worklist_list_claimed import V1WorklistListClaimed
from .v1_worklist_list_modality import V1WorklistListModality
from .v1_worklist_list_order import V1WorklistListOrder
from .v1_worklist_list_priority import V1WorklistListPriority
from .week import Week
from .worklist_patient import WorklistPatient
from .worklist_study import WorklistStudy

__all__ = (
    "ActionEnum",
    "AuditEvent",
    "BlankEnum",
    "ClaimEnum",
    "DecisionEnum",
    "DicomImport",
    "Drift",
    "Exclusion",
    "FormatEnum",
    "Image",
    "ImageStatusEnum",
    "KindEnum",
    "LedgerEntry",
    "LedgerEntryAiProbabilities",
    "LivePerformance",
    "ModalityEnum",
    "ModelEvaluation",
    "ModelPromote",
    "ModelRollback",
    "ModelStatusChange",
    "ModelVersion",
    "ModelVersionDetail",
    "ModelVersionStatusEnum",
    "OperatingPoint",
    "PaginatedAuditEventList",
    "PaginatedImageList",
    "PaginatedLedgerEntryList",
    "PaginatedModelVersionDetailList",
    "PaginatedPatientList",
    "PaginatedPredictionList",
    "PaginatedResultDeliveryList",
    "PaginatedRetrainingItemList",
    "PaginatedStudyList",
    "PaginatedTrainingRunList",
    "PaginatedWorklistStudyList",
    "PatchedPatientUpdate",
    "PatchedStudyUpdate",
    "Patient",
    "PatientCreate",
    "PatientSearch",
    "Prediction",
    "PredictionTimings",
    "PriorityEnum",
    "Problem",
    "ProblemErrors",
    "ResultDelivery",
    "ResultDeliveryStatusEnum",
    "RetrainingItem",
    "Review",
    "ReviewCreate",
    "SexEnum",
    "Study",
    "StudyClaim",
    "StudyCreate",
    "StudyStatusEnum",
    "TrainingRun",
    "TrainingRunCreate",
    "TrainingRunStatusEnum",
    "TriggerEnum",
    "Upload",
    "UploadError",
    "UploadResult",
    "V1AuditEventsListAction",
    "V1DeliveriesListKind",
    "V1DeliveriesListStatus",
    "V1ImagesFileRetrieveRendition",
    "V1ImportsCreateResponse400Type1",
    "V1ModelsListStatus",
    "V1PredictionsHeatmapRetrieveStyle",
    "V1PredictionsListModality",
    "V1ReviewsListDecision",
    "V1StudiesImagesCreateResponse400Type1",
    "V1StudiesListModality",
    "V1StudiesListStatus",
    "V1TrainingRunsListStatus",
    "V1TrainingRunsListTrigger",
    "V1WorklistListClaimed",
    "V1WorklistListModality",
    "V1WorklistListOrder",
    "V1WorklistListPriority",
    "Week",
    "WorklistPatient",
    "WorklistStudy",
)
