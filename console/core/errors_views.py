from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from console.core import apijson


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):  # machines read the API's answers: JSON, as documented
        return apijson.json_response({"error": "No such API resource.", "field": "path"}, status=404)
    return render(request, "404.html", status=404)
