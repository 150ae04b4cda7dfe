from django.urls import path

from console.access import api
from console.access.proxy import views as proxy_views

app_name = "api"

urlpatterns = [
    path("access/decide", api.decide, name="access-decide"),
    path("access/forward-auth", proxy_views.forward_auth, name="access-forward-auth"),
    # Envoy's ext_authz appends the original path to the endpoint's.
    path("access/forward-auth/", proxy_views.forward_auth, name="access-forward-auth-root"),
    path("access/forward-auth/<path:rest>", proxy_views.forward_auth, name="access-forward-auth-path"),
    path("access/jwks.json", api.jwks_view, name="access-jwks"),
    path("openapi.json", api.openapi_view, name="openapi"),
]
