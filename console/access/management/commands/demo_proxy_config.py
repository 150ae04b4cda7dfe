import os
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.access.proxy.demo_app import nginx_config


class Command(BaseCommand):
    help = ("Write the nginx configuration that puts the demo application behind Access "
            "(./dev run uses it; development and demo only). Prints the file's path.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", required=True, help="Directory for nginx.conf and everything nginx writes.")
        parser.add_argument("--port", type=int, required=True, help="Loopback port nginx listens on.")
        parser.add_argument("--upstream", required=True,
                            help="Where the demo application listens, e.g. http://127.0.0.1:8089")
        parser.add_argument("--host", default="app.localhost",
                            help="The application's hostname (default app.localhost).")
        parser.add_argument("--console", default="",
                            help="Where nginx reaches the console (default: CONSOLE_URL on 127.0.0.1).")

    def handle(self, *args, dir: str, port: int, upstream: str, host: str, console: str, **options) -> None:
        if urlsplit(upstream).scheme not in ("http", "https") or not urlsplit(upstream).hostname:
            raise CommandError(f"--upstream must be an http(s) URL, not {upstream!r}")
        public = urlsplit(settings.CONSOLE_URL)
        console_host = public.netloc
        if not console:
            # Browsers and nginx alike reach the development console on loopback; the console is
            # asked under the name it is configured with (CONSOLE_URL).
            console = f"{public.scheme}://127.0.0.1:{public.port or 80}"
        prefix = Path(dir).resolve()
        prefix.mkdir(parents=True, exist_ok=True)
        path = prefix / "nginx.conf"
        path.write_text(nginx_config(prefix=str(prefix), host=host, port=port, upstream=upstream, console=console,
                                     console_host=console_host, run_as_root=os.geteuid() == 0))
        self.stdout.write(str(path))
