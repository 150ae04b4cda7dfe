from django.urls import path

from shadow_ai.prompts import views

app_name = "prompts"

urlpatterns = [
    path("log/", views.log, name="log"),
    path("log/export/", views.export, name="export"),
    path("log/<int:entry_id>/", views.entry, name="entry"),
    path("log/<int:entry_id>/viewed/", views.entry_viewed, name="entry-viewed"),
    path("key/", views.key, name="key"),
]
