from django.urls import path

from console.access import api

app_name = "api"

urlpatterns = [
    path("access/decide", api.decide, name="access-decide"),
    path("access/jwks.json", api.jwks_view, name="access-jwks"),
    path("openapi.json", api.openapi_view, name="openapi"),
]
