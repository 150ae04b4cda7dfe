"""The pieces every JSON API shares: bearer credentials and body-field readers."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from console.core.api import (
    BadRequest,
    BearerCredential,
    bearer_credential,
    error_answer,
    object_field,
    text_field,
)


@pytest.mark.parametrize(("header", "kind", "expected"), [
    ("Bearer ztc_ab12cd_s3cr_et", "ztc", BearerCredential("ab12cd", "s3cr_et")),  # the secret may hold "_"
    ("Bearer zts_ab12cd_secret", "zts", BearerCredential("ab12cd", "secret")),
    ("Bearer zts_ab12cd_secret", "ztc", None),  # another kind of credential
    ("Bearer ztc_nosecret", "ztc", None),
    ("Basic ztc_ab12cd_secret", "ztc", None),
    ("bearer ztc_ab12cd_secret", "ztc", None),
    ("", "ztc", None),
])
def test_bearer_credential_reads_kind_prefix_and_secret(header, kind, expected):
    assert bearer_credential(header, kind) == expected
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=header)
    assert bearer_credential(request, kind) == expected


def test_bearer_credential_without_a_header_is_none():
    assert bearer_credential(RequestFactory().get("/"), "ztc") is None


def test_text_field_names_the_field_that_is_wrong():
    assert text_field({"name": "  Ada "}, "name") == "Ada"
    assert text_field({}, "name") == ""
    for body, message in [({}, "user.email is required"), ({"email": 3}, "user.email must be a string"),
                          ({"email": "x" * 11}, "user.email is longer than 10 characters"),
                          ({"email": "a\x00b"}, "user.email contains a NUL character")]:
        with pytest.raises(BadRequest) as caught:
            text_field(body, "email", limit=10, required=True, where="user")
        assert (caught.value.message, caught.value.field) == (message, "user.email")


def test_object_field_is_an_object_or_absent():
    assert object_field({}, "user") is None
    assert object_field({"user": {"a": 1}}, "user") == {"a": 1}
    with pytest.raises(BadRequest, match="user must be an object") as caught:
        object_field({"user": []}, "user")
    assert caught.value.field == "user"


def test_error_answer_is_the_apis_error_body():
    response = error_answer(429, "Too many requests.", "Authorization", headers={"Retry-After": "60"})
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "60"
    assert json.loads(response.content) == {"error": "Too many requests.", "field": "Authorization"}
