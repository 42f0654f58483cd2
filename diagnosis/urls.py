from django.urls import path

from diagnosis import views

app_name = "diagnosis"
urlpatterns = [
    path("", views.start, name="start"),
    path("patients/", views.home, name="home"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_update, name="patient_update"),
    path("import/", views.dicom_import, name="dicom_import"),
    path("patients/<int:patient_pk>/studies/new/", views.study_create, name="study_create"),
    path("studies/<int:pk>/", views.study_detail, name="study_detail"),
    path("studies/<int:pk>/edit/", views.study_update, name="study_update"),
    path("studies/<int:pk>/results/", views.study_results, name="study_results"),
    path("studies/<int:pk>/read/", views.study_read, name="study_read"),
    path("studies/<int:pk>/upload/", views.study_upload, name="study_upload"),
    path("images/<int:pk>/display.png", views.image_file, {"rendition": "display"}, name="image_display"),
    path("images/<int:pk>/pixels/", views.image_pixels, name="image_pixels"),
    path("images/<int:pk>/original/", views.image_file, {"rendition": "original"}, name="image_original"),
    path("images/<int:pk>/deidentified/", views.image_file, {"rendition": "deidentified"}, name="image_deidentified"),
    path("predictions/<int:pk>/heatmap.png", views.prediction_heatmap, name="prediction_heatmap"),
    path("predictions/<int:prediction_pk>/review/", views.review_submit, name="review_submit"),
    path("worklist/", views.worklist, name="worklist"),
    path("studies/<int:pk>/release/", views.study_release, name="study_release"),
    path("worklist/adjudication/", views.adjudication, name="adjudication"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:pk>/", views.model_detail, name="model_detail"),
    path("models/<int:pk>/promote/", views.model_promote, name="model_promote"),
    path("models/<int:pk>/evaluate/", views.model_evaluate, name="model_evaluate"),
    path("models/<int:pk>/rollback/", views.model_rollback, name="model_rollback"),
    path("learning/", views.learning, name="learning"),
    path("learning/<str:task>/items/", views.retraining_items, name="retraining_items"),
    path("learning/<str:task>/train/", views.training_start, name="training_start"),
    path("learning/items/<int:pk>/exclude/", views.retraining_item_exclude, name="retraining_item_exclude"),
    path("training-runs/<int:pk>/", views.training_run, name="training_run"),
    path("training-runs/<int:pk>/progress/", views.training_run_progress, name="training_run_progress"),
]
