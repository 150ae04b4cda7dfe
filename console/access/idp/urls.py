"""Two sets of URLs: the protocol endpoints (namespace ``oauth2_provider``, the names
django-oauth-toolkit reverses in its metadata documents), mounted at the site's root, and the
console pages (namespace ``idp``)."""

from django.urls import path

from console.access.idp import views

protocol_patterns = [
    path(".well-known/openid-configuration", views.discovery, name="oidc-connect-discovery-info"),
    path(".well-known/oauth-authorization-server", views.server_metadata, name="oauth-server-metadata"),
    path("oauth/authorize/", views.authorize, name="authorize"),
    path("oauth/token/", views.token, name="token"),
    path("oauth/revoke/", views.revoke_token, name="revoke-token"),
    path("oauth/userinfo/", views.userinfo, name="user-info"),
    path("oauth/jwks/", views.jwks, name="jwks-info"),
    path("oauth/logout/", views.logout, name="rp-initiated-logout"),
]

console_patterns = [
    path("clients/", views.client_list, name="client-list"),
    path("clients/new/", views.machine_create, name="machine-create"),
    path("clients/<int:client_pk>/rotate/", views.client_rotate, name="client-rotate"),
    path("clients/<int:client_pk>/delete/", views.client_delete, name="client-delete"),
    path("keys/rotate/", views.key_rotate, name="key-rotate"),
    path("applications/<int:app_id>/oidc/", views.saas_create, name="saas-create"),
    path("applications/<int:app_id>/oidc/edit/", views.saas_edit, name="saas-edit"),
]
