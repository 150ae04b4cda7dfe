"""``manage.py gateway``: run one web gateway process (docs/gateway.md)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shadow_ai.gateway import process


class Command(BaseCommand):
    help = "Run the web gateway (an HTTP/HTTPS proxy enforcing the Gateway HTTP policies)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--listen", default="", help="host:port to listen on (default: GATEWAY_LISTEN)")
        parser.add_argument("--full-addons", action="store_true",
                            help="load all of mitmproxy's default addons (for comparison; slower)")

    def handle(self, *args: Any, **options: Any) -> None:
        listen = options["listen"] or settings.GATEWAY_LISTEN
        try:
            process.parse_listen(listen)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        # The proxy's event loop calls Django's ORM synchronously: only on a process-cache miss
        # (once per cache version) and in the log writer's own thread, never per request.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        try:
            asyncio.run(process.serve(listen=listen, full_addons=options["full_addons"]))
        except OSError as exc:
            raise CommandError(f"the gateway cannot listen on {listen}: {exc}") from None
