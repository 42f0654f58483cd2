from django.urls import path

from diagnosis import api

app_name = "api"
urlpatterns = [
    path("studies/<int:pk>/", api.study_detail, name="study_detail"),
]
