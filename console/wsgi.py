import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

from console.core.wsgi_dispatch import build_application

application = build_application()
