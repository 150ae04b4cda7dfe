from django.urls import path

from risk.ssf import api

app_name = "ssf-api"

urlpatterns = [
    path(".well-known/ssf-configuration", api.configuration, name="configuration"),
    path(".well-known/oauth-protected-resource/ssf", api.protected_resource, name="protected-resource"),
    path("ssf/jwks.json", api.jwks, name="jwks"),
    path("ssf/streams", api.streams, name="streams"),
    path("ssf/status", api.status, name="status"),
    path("ssf/subjects/add", api.subjects_add, name="subjects-add"),
    path("ssf/subjects/remove", api.subjects_remove, name="subjects-remove"),
    path("ssf/verify", api.verify, name="verify"),
    path("ssf/poll/<str:stream_id>", api.poll, name="poll"),
]
