from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("tokens/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("theme/", views.theme_set, name="theme_set"),
]
