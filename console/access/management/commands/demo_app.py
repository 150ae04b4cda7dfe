from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from console.access.proxy.demo_app import make_app
from console.access.proxy.views import proxy_issuer


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        self.server_log(format % args)

    def server_log(self, line: str) -> None:
        print(f"{self.address_string()} {line}", flush=True)


class Command(BaseCommand):
    help = ("Serve the demo application that ./dev run puts behind nginx and Access (development "
            "and demo only): it shows the identity headers and the verified token.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8089, help="Loopback port to listen on (default 8089).")

    def handle(self, *args, port: int, **options) -> None:
        wsgi = make_app(proxy_issuer())

        def app(environ, start_response):
            try:
                return wsgi(environ, start_response)
            finally:
                close_old_connections()

        server = make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_Quiet)
        self.stdout.write(f"Demo application on http://127.0.0.1:{port}/")
        self.stdout.flush()
        server.serve_forever()
