from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from medsite.exceptions import api_fallback

# Admin logins go through allauth, so MFA, throttling and the audit trail apply to them too.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "MedSite administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include("diagnosis.api_urls")),
    path("fhir/", include("diagnosis.fhir_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/", api_fallback),  # a missing trailing slash is served as with it; else a JSON 404
    path("dicomweb/", include("diagnosis.dicomweb_urls")),
    path("", include("diagnosis.urls")),
]

handler404 = "medsite.exceptions.page_not_found"
handler500 = "accounts.views.server_error"
