"""The 500 handler: a database that is unreachable for a moment is a 503 with Retry-After, not a bare 500."""

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import path

from medsite.urls import urlpatterns as project_urls


def _database_down(request):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


def _bug(request):
    raise ZeroDivisionError


urlpatterns = [path("down/", _database_down), path("api/v1/down/", _database_down), path("bug/", _bug), *project_urls]
handler500 = "accounts.views.server_error"


@pytest.fixture
def client(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def test_an_unreachable_database_is_a_503_page_with_retry_after(client):
    response = client.get("/down/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "nothing was stored" in response.content.decode() and "5432" not in response.content.decode()


def test_the_api_answers_json(client):
    response = client.get("/api/v1/down/")
    assert response.status_code == 503 and "nothing was stored" in response.json()["detail"]


def test_other_errors_stay_a_500_without_details(client):
    response = client.get("/bug/")
    assert response.status_code == 500 and "ZeroDivisionError" not in response.content.decode()
