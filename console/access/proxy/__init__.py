"""Access in front of real applications: the forward-auth endpoint that reverse proxies (nginx,
Caddy, Traefik, Envoy) call on every request, the sign-in round trip that gives a browser its
application cookie on the application's own host, and the proxy configurations the console
hands out (docs/access.md, "Put an application behind Access")."""
