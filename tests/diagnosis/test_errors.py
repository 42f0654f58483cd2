"""medsite.errors.DomainError: the one error services raise, shown the same way by the web and the API."""

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from diagnosis.models import Review
from diagnosis.services import review
from medsite.errors import DomainError


def test_a_domain_error_is_a_validation_error_for_the_callers_that_catch_those():
    error = DomainError("A run is already going.", code="run_in_progress", kind="conflict")
    assert isinstance(error, ValidationError)
    assert (error.messages, error.code, error.kind, error.status) == (
        ["A run is already going."],
        "run_in_progress",
        "conflict",
        409,
    )


def test_a_domain_error_about_one_field_names_it():
    error = DomainError("Give a reason.", code="required", field="reason")
    assert error.message_dict == {"reason": ["Give a reason."]} and error.status == 400


def test_a_kind_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="kind"):
        DomainError("?", kind="teapot")


def test_the_review_service_refuses_a_label_that_is_not_a_class_with_a_domain_error(radiologist, world):
    with pytest.raises(DomainError) as refused:
        review.review_submit(prediction=world.prediction, reviewer=radiologist, label="banana")
    assert refused.value.message_dict == {"label": ["'banana' is not one of this model's classes: normal, pneumonia"]}
    assert not Review.objects.exists()


def test_the_web_shows_a_service_refusal_as_its_message(login, superuser):
    response = login(superuser).post(reverse("diagnosis:training_start", args=["chest-xray"]))
    assert response.status_code == 302
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["chest-xray has no learning policy: an admin sets its base and held-out data first."]
