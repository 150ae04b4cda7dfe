from django.http import HttpRequest

from console.core import navigation


def console(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_menu": []}
    return {"nav_menu": navigation.menu_for(user.role, request.path)}
