from django.urls import path

from diagnosis import views

app_name = "diagnosis"
urlpatterns = [
    path("", views.home, name="home"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:patient_pk>/studies/new/", views.study_create, name="study_create"),
    path("studies/<int:pk>/", views.study_detail, name="study_detail"),
    path("studies/<int:pk>/results/", views.study_results, name="study_results"),
    path("studies/<int:pk>/upload/", views.study_upload, name="study_upload"),
    path("images/<int:pk>/file/", views.image_file, name="image_file"),
    path("predictions/<int:prediction_pk>/review/", views.review_submit, name="review_submit"),
    path("worklist/", views.worklist, name="worklist"),
]
