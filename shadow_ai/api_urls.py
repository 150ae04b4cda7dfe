from django.urls import path

from shadow_ai.gateway import api

app_name = "gateway_api"

urlpatterns = [
    path("evaluate", api.evaluate, name="evaluate"),
]
