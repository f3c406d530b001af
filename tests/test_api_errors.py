"""Every API error leaves in one shape: {"message": ..., "extra": {...}}."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions

from common.api import exception_handler
from common.errors import ApplicationError, Conflict


def handle(exc):
    response = exception_handler(exc, {})
    return response.status_code, response.data


def test_it_turns_an_application_error_into_message_and_extra():
    assert handle(ApplicationError("That song is still downloading.", extra={"song": "x"})) == (
        400,
        {"message": "That song is still downloading.", "extra": {"song": "x"}},
    )
    assert handle(Conflict("Already queued."))[0] == 409


def test_it_names_the_field_of_a_validation_error():
    status, body = handle(exceptions.ValidationError({"url": ["Enter a valid URL."]}))
    assert status == 400
    assert body["message"] == "url: Enter a valid URL."
    assert body["extra"] == {"fields": {"url": ["Enter a valid URL."]}}


def test_it_converts_django_errors():
    assert handle(Http404())[0] == 404
    status, body = handle(DjangoValidationError({"title": ["Too long."]}))
    assert status == 400 and body["message"] == "title: Too long."


def test_it_keeps_drf_statuses_in_the_same_shape():
    status, body = handle(exceptions.NotAuthenticated())
    assert status in (401, 403)
    assert set(body) == {"message", "extra"}
    assert "credentials" in body["message"]


def test_it_leaves_unexpected_errors_to_django():
    assert exception_handler(RuntimeError("boom"), {}) is None


def test_the_api_root_and_schema_answer(client):
    assert client.get("/api/").status_code == 200
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"Encore API" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_an_unauthenticated_api_call_gets_the_error_format(client, db):
    response = client.get("/api/does-not-exist/")
    assert response.status_code == 404
