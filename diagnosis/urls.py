from django.urls import path

from diagnosis import views

app_name = "diagnosis"
urlpatterns = [
    path("", views.home, name="home"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_update, name="patient_update"),
    path("import/", views.dicom_import, name="dicom_import"),
    path("patients/<int:patient_pk>/studies/new/", views.study_create, name="study_create"),
    path("studies/<int:pk>/", views.study_detail, name="study_detail"),
    path("studies/<int:pk>/edit/", views.study_update, name="study_update"),
    path("studies/<int:pk>/results/", views.study_results, name="study_results"),
    path("studies/<int:pk>/upload/", views.study_upload, name="study_upload"),
    path("images/<int:pk>/display.png", views.image_file, {"rendition": "display"}, name="image_display"),
    path("images/<int:pk>/original/", views.image_file, {"rendition": "original"}, name="image_original"),
    path("images/<int:pk>/deidentified/", views.image_file, {"rendition": "deidentified"}, name="image_deidentified"),
    path("predictions/<int:pk>/heatmap.png", views.prediction_heatmap, name="prediction_heatmap"),
    path("predictions/<int:prediction_pk>/review/", views.review_submit, name="review_submit"),
    path("worklist/", views.worklist, name="worklist"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:pk>/", views.model_detail, name="model_detail"),
]
