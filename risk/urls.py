from django.urls import path

from risk import views

app_name = "risk"

urlpatterns = [
    path("", views.index, name="index"),
    path("users/", views.user_list, name="user-list"),
    path("users/<int:user_id>/", views.user_detail, name="user-detail"),
    path("users/<int:user_id>/reset", views.user_reset, name="user-reset"),
    path("users/<int:user_id>/compromised", views.user_compromised, name="user-compromised"),
    path("rescore", views.rescore_start, name="rescore"),
    path("rescore/<int:run_id>", views.rescore_status, name="rescore-status"),
    path("behaviours/", views.behaviour_list, name="behaviour-list"),
    path("behaviours/settings", views.settings_update, name="settings"),
    path("behaviours/<str:key>/", views.behaviour_edit, name="behaviour-edit"),
    path("sources/", views.source_list, name="source-list"),
    path("sources/new", views.source_create, name="source-create"),
    path("sources/<int:source_id>/", views.source_detail, name="source-detail"),
    path("sources/<int:source_id>/revoke", views.source_revoke, name="source-revoke"),
    path("telemetry/", views.telemetry, name="telemetry"),
    path("telemetry/<str:kind>/<int:row_id>", views.telemetry_row, name="telemetry-row"),
]
