from django.urls import path

from accounts import passkey_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/passkey/options/", passkey_views.passkey_options, name="passkey-options"),
    path("login/passkey/", passkey_views.passkey_sign_in, name="passkey-sign-in"),
    path("logout/", views.logout_view, name="logout"),
    path("oidc/<slug:slug>/start/", views.oidc_start, name="oidc-start"),
    path("oidc/callback/", views.oidc_callback, name="oidc-callback"),
    path("oidc/link/", views.oidc_link, name="oidc-link"),
    path("users/", views.user_list, name="user-list"),
    path("users/new/", views.user_create, name="user-create"),
    path("users/import/", views.user_import, name="user-import"),
    path("users/import/sample.csv", views.user_import_sample, name="user-import-sample"),
    path("users/<int:user_id>/", views.user_detail, name="user-detail"),
    path("users/<int:user_id>/edit/", views.user_edit, name="user-edit"),
    path("users/<int:user_id>/deactivate/", views.user_deactivate, name="user-deactivate"),
    path("users/<int:user_id>/reactivate/", views.user_reactivate, name="user-reactivate"),
    path("users/<int:user_id>/unlock/", views.user_unlock, name="user-unlock"),
    path("groups/", views.group_list, name="group-list"),
    path("groups/new/", views.group_create, name="group-create"),
    path("groups/<int:group_id>/", views.group_detail, name="group-detail"),
    path("groups/<int:group_id>/edit/", views.group_edit, name="group-edit"),
    path("groups/<int:group_id>/delete/", views.group_delete, name="group-delete"),
    path("groups/<int:group_id>/members/add/", views.group_add_member, name="group-add-member"),
    path(
        "groups/<int:group_id>/members/<int:user_id>/remove/",
        views.group_remove_member, name="group-remove-member",
    ),
    path("identity-providers/", views.idp_list, name="idp-list"),
    path("identity-providers/new/", views.idp_create, name="idp-create"),
    path("identity-providers/<int:idp_id>/", views.idp_detail, name="idp-detail"),
    path("identity-providers/<int:idp_id>/edit/", views.idp_edit, name="idp-edit"),
    path("identity-providers/<int:idp_id>/delete/", views.idp_delete, name="idp-delete"),
    path("identity-providers/<int:idp_id>/test/", views.idp_test, name="idp-test"),
    path("identity-providers/<int:idp_id>/refresh/", views.idp_refresh, name="idp-refresh"),
    path("identity-providers/<int:idp_id>/links/<int:link_id>/unlink/", views.idp_unlink, name="idp-unlink"),
]
