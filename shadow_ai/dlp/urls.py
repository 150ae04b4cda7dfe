from django.urls import path

from shadow_ai.dlp import views

app_name = "dlp"

urlpatterns = [
    path("profiles/", views.profile_list, name="profile-list"),
    path("profiles/new/", views.profile_create, name="profile-create"),
    path("profiles/<int:profile_id>/", views.profile_detail, name="profile-detail"),
    path("profiles/<int:profile_id>/edit/", views.profile_edit, name="profile-edit"),
    path("profiles/<int:profile_id>/delete/", views.profile_delete, name="profile-delete"),
    path("profiles/<int:profile_id>/test/", views.profile_test, name="profile-test"),
    path("profiles/<int:profile_id>/entries/new/", views.entry_create, name="entry-create"),
    path("entries/<int:entry_id>/edit/", views.entry_edit, name="entry-edit"),
    path("entries/<int:entry_id>/toggle/", views.entry_toggle, name="entry-toggle"),
    path("entries/<int:entry_id>/delete/", views.entry_delete, name="entry-delete"),
]
