"""The production WSGI application sends the decision API through its short path and
everything else through the full console stack."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from console.access import services

pytestmark = pytest.mark.django_db(transaction=True)


def call(app, path, method="GET", body=b"", headers=None):
    environ = {}
    setup_testing_defaults(environ)
    environ.update({"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO(body),
                    "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
                    "SERVER_NAME": "testserver", "HTTP_HOST": "testserver"})
    environ.update(headers or {})
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(response_headers)

    content = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], content


def test_the_decision_api_takes_the_short_path_and_still_works(super_admin, employee):
    from console.wsgi import application

    app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted", domain="w.corp.example")
    policy = services.policy_create(actor=super_admin, name="All", action="allow",
                                    rules={"include": [{"type": "everyone"}]})
    services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
    _, secret = services.api_token_create(actor=super_admin, name="edge", scopes=["access:decide"])
    body = json.dumps({"application": app.aud, "user": {"email": employee.email}}).encode()
    status, headers, content = call(application, "/api/v1/access/decide", "POST", body,
                                    {"HTTP_AUTHORIZATION": f"Bearer {secret}"})
    assert status == 200 and json.loads(content)["decision"] == "allow"
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert "Content-Security-Policy" not in headers  # the page middleware does not
    status, _, content = call(application, "/api/v1/access/decide", "POST", body)
    assert status == 401 and json.loads(content)["decision"] == "deny"
    status, headers, _ = call(application, "/accounts/login/")
    assert status == 200 and "Content-Security-Policy" in headers  # pages keep the full stack
