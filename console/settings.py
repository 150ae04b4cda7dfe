"""Settings for the console, driven only by environment variables.

Three environments, chosen by ``CONSOLE_ENV``:

* ``development`` (default): the embedded default. SQLite and a filesystem Celery broker under
  ``var/``; a secret key generated once into ``var/``. Nothing to install.
* ``production``: every secret and service must be given; DEBUG is refused; cookies are secure.
* ``test``: used by the test suite (``console.settings_test`` sets it) against PostgreSQL and Redis.

``docs/configuration.md`` lists every variable.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CONSOLE_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

CONSOLE_ENV = env.str("CONSOLE_ENV", default="development")
if CONSOLE_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(
        f"CONSOLE_ENV must be development, production or test, not {CONSOLE_ENV!r}"
    )
PRODUCTION = CONSOLE_ENV == "production"


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when CONSOLE_ENV=production")
    return value


def _local_secret(filename: str, factory) -> str:
    """A secret generated once and kept under var/ (embedded default only)."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(factory())
        path.chmod(0o600)
    return path.read_text().strip()


def _new_fernet_key() -> str:
    return Fernet.generate_key().decode()


# --- Core -----------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=CONSOLE_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must not be enabled when CONSOLE_ENV=production")

if PRODUCTION:
    SECRET_KEY = _required("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret(
        "secret_key", lambda: secrets.token_urlsafe(50)
    )

# Keys for encrypting secrets at rest (IdP client secrets, connector credentials, TOTP keys).
# A comma-separated list of Fernet keys: the first encrypts, all decrypt (rotation).
if PRODUCTION:
    FIELD_ENCRYPTION_KEYS = [k.strip() for k in _required("FIELD_ENCRYPTION_KEYS").split(",")]
else:
    FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
        _local_secret("field_encryption_key", lambda: _new_fernet_key())
    ]


ALLOWED_HOSTS = (
    env.list("ALLOWED_HOSTS", default=[])
    if PRODUCTION
    else env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when CONSOLE_ENV=production")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "django_celery_results",
    "axes",
    "console.core",
    "console.audit",
    "console.access",
    "oauth2_provider",
    "console.access.idp",
    "accounts",
    "accounts.onboarding",
    "django_otp",
    "mfa",
    "risk",
    "risk.ssf",
    "shadow_ai",
    "shadow_ai.casb",
    "shadow_ai.dlp",
    "shadow_ai.prompts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Someone signed in only to enroll a first authenticator (onboarding, recovery) goes nowhere else.
    "accounts.onboarding.middleware.OnboardingGateMiddleware",
    # Someone whose role must pass MFA for the console verifies (or enrolls) before anything else.
    "mfa.middleware.ConsoleMfaMiddleware",
    "console.core.middleware.RequestContextMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "console.core.context_processors.console",
            ],
            "builtins": ["django.templatetags.static"],
        },
    }
]

# --- Database -------------------------------------------------------------------------------

if PRODUCTION:
    DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": env.db(
            "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'console.sqlite3'}"
        )
    }
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write to the same file: WAL lets readers and one
    # writer work at once, IMMEDIATE transactions avoid lock upgrades that fail under load.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    _db.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=45))
    _db.setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits and lockouts must be shared by every web process) --------------------

CACHE_URL = _required("CACHE_URL") if PRODUCTION else env.str("CACHE_URL", default="")
# A Redis that hangs must not hang every request: each command waits at most this long (and is
# tried once more on a fresh connection), so decisions fail closed in about two timeouts.
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.5)
CACHE_CONNECT_TIMEOUT = env.float("CACHE_CONNECT_TIMEOUT", default=0.5)
CACHE_RETRIES = env.int("CACHE_RETRIES", default=1)
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    from redis.backoff import NoBackoff as _NoBackoff
    from redis.retry import Retry as _Retry

    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="console"),
            "OPTIONS": {
                "socket_timeout": CACHE_SOCKET_TIMEOUT,
                "socket_connect_timeout": CACHE_CONNECT_TIMEOUT,
                "retry": _Retry(_NoBackoff(), CACHE_RETRIES),
            },
        }
    }
elif CACHE_URL:
    raise ImproperlyConfigured("CACHE_URL must be a redis:// URL")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Authentication -------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "accounts.oidc.ProviderOIDCBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"  # the OIDC callback is a top-level redirect: Strict would drop it
CSRF_COOKIE_HTTPONLY = False  # JavaScript reads it for htmx and WebAuthn posts after sign-in

# Local sign-in lockout (django-axes): five failures for one e-mail from one address lock it
# for the cool-off period; every lockout is written to the audit trail.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "console.core.request_context.client_ip"
AXES_USERNAME_FORM_FIELD = "username"
# Lockouts count per normalized e-mail, so changing the case does not buy more guesses.
AXES_USERNAME_CALLABLE = "accounts.models.lockout_username"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False
# Per-address ceiling on sign-in attempts, whatever the e-mail (spraying many accounts).
LOGIN_RATE_LIMIT_PER_IP = env.int("LOGIN_RATE_LIMIT_PER_IP", default=30)
LOGIN_RATE_LIMIT_WINDOW = env.int("LOGIN_RATE_LIMIT_WINDOW", default=300)

# How many reverse proxies stand in front of the console and append to X-Forwarded-For.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Outbound HTTP (console/core/outbound.py, docs/security.md#outbound-requests): every request the
# console makes itself goes only to public addresses, unless these allow more. Networks are CIDRs
# ("10.20.0.0/16", "fd12::/48"); hosts are exact names or ".example.com" for a domain and its
# subdomains. The embedded default allows this machine (the development identity-verification
# provider, local receivers); production allows nothing private unless told.
OUTBOUND_ALLOWED_NETWORKS = env.list(
    "OUTBOUND_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if CONSOLE_ENV == "development" else []
)
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", default=5.0)
OUTBOUND_READ_TIMEOUT = env.float("OUTBOUND_READ_TIMEOUT", default=15.0)
OUTBOUND_TOTAL_TIMEOUT = env.float("OUTBOUND_TOTAL_TIMEOUT", default=60.0)
OUTBOUND_MAX_RESPONSE_BYTES = env.int("OUTBOUND_MAX_RESPONSE_BYTES", default=2 * 1024 * 1024)
for _network in OUTBOUND_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {_exc}") from None

# OpenID Connect (mozilla-django-oidc). Providers live in the database; these are the shared knobs.
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_VERIFY_SSL = env.bool("OIDC_VERIFY_SSL", default=True)
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc-callback"
OIDC_REDIRECT_FIELD_NAME = "next"
OIDC_RP_CLIENT_ID = ""  # per provider, resolved at request time
OIDC_RP_CLIENT_SECRET = ""
OIDC_OP_AUTHORIZATION_ENDPOINT = ""
OIDC_OP_TOKEN_ENDPOINT = ""
OIDC_OP_USER_ENDPOINT = ""

# The "iss" of application tokens; proxies check it. Empty: the console's own URL per request.
ACCESS_TOKEN_ISSUER = env.str("ACCESS_TOKEN_ISSUER", default="")
# Keep what decisions read in each process (see console/access/hotcache.py).
ACCESS_HOT_CACHE = env.bool("ACCESS_HOT_CACHE", default=True)
# Decisions outside the API re-read the shared Access version at most this often (seconds).
ACCESS_CACHE_SECONDS = env.float("ACCESS_CACHE_SECONDS", default=1.0)
# Each of those process caches keeps at most this many entries (least recently used dropped).
ACCESS_CACHE_MAX_ENTRIES = env.int("ACCESS_CACHE_MAX_ENTRIES", default=20000)
if ACCESS_CACHE_MAX_ENTRIES < 1:
    raise ImproperlyConfigured("ACCESS_CACHE_MAX_ENTRIES must be at least 1")
# The Access authentication log is written in batches by each process (see docs/access.md).
ACCESS_LOG_BUFFERED = env.bool("ACCESS_LOG_BUFFERED", default=True)
ACCESS_LOG_FLUSH_SECONDS = env.float("ACCESS_LOG_FLUSH_SECONDS", default=1.0)
# Each answered decision is appended to a spool file of its process before the answer goes out.
ACCESS_LOG_SPOOL_DIR = Path(env.str("ACCESS_LOG_SPOOL_DIR", default=str(VAR_DIR / "access-log-spool")))
# Past this many unstored bytes per process, decisions still answer but their entries are lost (counted, logged).
ACCESS_LOG_SPOOL_MAX_BYTES = env.int("ACCESS_LOG_SPOOL_MAX_BYTES", default=256 * 1024 * 1024)
# fsync the spool after every entry (survives a host crash; costs a disk flush per decision).
ACCESS_LOG_SPOOL_FSYNC_EACH = env.bool("ACCESS_LOG_SPOOL_FSYNC_EACH", default=False)
# A session's expiry is written back at most this often while it is being used (seconds).
ACCESS_SESSION_WRITE_SECONDS = env.int("ACCESS_SESSION_WRITE_SECONDS", default=45)

# Reverse proxies in front of applications (forward-auth, docs/access.md "Put an application behind
# Access"). Only callers whose address is in these networks may say, in X-Forwarded-* headers,
# which host, path, method and client a request is about; anyone else is refused.
ACCESS_TRUSTED_PROXIES = env.list("ACCESS_TRUSTED_PROXIES", default=["127.0.0.1/32", "::1/128"])
for _network in ACCESS_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_network.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"ACCESS_TRUSTED_PROXIES: {_network!r} is not a network (write 10.0.0.0/8 or 2001:db8::/32)"
        ) from None
# The one-time code that carries a sign-in back to an application's host lives this long (seconds).
ACCESS_PROXY_CODE_SECONDS = env.int("ACCESS_PROXY_CODE_SECONDS", default=60)
# The application cookie that the callback sets on each application's own host.
ACCESS_PROXY_COOKIE_NAME = env.str("ACCESS_PROXY_COOKIE_NAME", default="access_session")

# Independent MFA. The WebAuthn relying party id is the console's host name (no port); the
# allowed origins are the URLs people open the console at. Empty: the host of each request.
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", default="")
WEBAUTHN_RP_NAME = env.str("WEBAUTHN_RP_NAME", default="Zero Trust Console")
WEBAUTHN_ALLOWED_ORIGINS = env.list("WEBAUTHN_ALLOWED_ORIGINS", default=[])
MFA_ALLOWED_AAGUIDS = env.list("MFA_ALLOWED_AAGUIDS", default=[])
MFA_ATTEMPTS_PER_USER = env.int("MFA_ATTEMPTS_PER_USER", default=10)
MFA_ATTEMPTS_PER_IP = env.int("MFA_ATTEMPTS_PER_IP", default=50)
MFA_ATTEMPT_WINDOW = env.int("MFA_ATTEMPT_WINDOW", default=300)
# Wrong authenticator-app codes in a row before each further one pauses the next try.
MFA_WRONG_CODES_BEFORE_PAUSE = env.int("MFA_WRONG_CODES_BEFORE_PAUSE", default=3)
MFA_RECENT_SECONDS = env.int("MFA_RECENT_SECONDS", default=600)
# Sensitive console actions (identity providers, API and service tokens, role changes, MFA removal,
# signing keys) need an MFA verification of the same session within this window.
CONSOLE_SENSITIVE_REVERIFY_SECONDS = env.int("CONSOLE_SENSITIVE_REVERIFY_SECONDS", default=600)

# Background jobs (rescores, telemetry batches, CASB scans, usage rollups; console/core/jobs.py):
# a worker holds a job's lease for this long and a heartbeat renews it every third of it, so a
# dead worker's job is taken over by another within about this long.
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=30)
if not 3 <= JOB_LEASE_SECONDS <= 3600:
    raise ImproperlyConfigured(f"JOB_LEASE_SECONDS must be between 3 and 3600 seconds (got {JOB_LEASE_SECONDS})")
for _replaced in ("RISK_RESCORE_LEASE_SECONDS", "CASB_SCAN_LEASE_SECONDS"):
    if _replaced in os.environ:
        raise ImproperlyConfigured(f"{_replaced} was replaced by JOB_LEASE_SECONDS (one lease for every job, "
                                   "renewed by a heartbeat): set that instead")

# User risk scoring (see docs/risk.md). Batches larger than RISK_INGEST_SYNC_MAX_BYTES (after
# gzip) are stored by a worker; the sender polls the batch's status URL.
RISK_INGEST_MAX_BYTES = env.int("RISK_INGEST_MAX_BYTES", default=50 * 1024 * 1024)
RISK_INGEST_MAX_INFLATED_BYTES = env.int("RISK_INGEST_MAX_INFLATED_BYTES", default=64 * 1024 * 1024)
RISK_INGEST_SYNC_MAX_BYTES = env.int("RISK_INGEST_SYNC_MAX_BYTES", default=1024 * 1024)
RISK_INGEST_MAX_REPORTED_REJECTS = env.int("RISK_INGEST_MAX_REPORTED_REJECTS", default=1000)
# A MaxMind-format city database (GeoLite2 City, DB-IP City Lite) for impossible travel. Empty:
# addresses are placed at their country's capital.
RISK_GEOIP_CITY_DATABASE = env.str("RISK_GEOIP_CITY_DATABASE", default="")
# SentinelOne threats name the logged-in user as DOMAIN\user: which Windows domain (NetBIOS or DNS
# name) is which mail domain, as "ACME=acme.example,CORP.LOCAL=corp.example" (see docs/risk.md).
RISK_SENTINELONE_DOMAINS = {}
for _entry in env.list("RISK_SENTINELONE_DOMAINS", default=[]):
    _windows, _, _mail = (part.strip() for part in _entry.partition("="))
    if not _windows or "@" in _mail or "." not in _mail:
        raise ImproperlyConfigured(f"RISK_SENTINELONE_DOMAINS: {_entry!r} should look like ACME=acme.example")
    RISK_SENTINELONE_DOMAINS[_windows] = _mail
RISK_RESCORE_CHUNK = env.int("RISK_RESCORE_CHUNK", default=10000)
RISK_RESCORE_MINUTES = env.int("RISK_RESCORE_MINUTES", default=15)
# Raw telemetry is deleted after this many days (risk events and scores stay); batch records
# (counts and rejected rows) after RISK_BATCH_RETENTION_DAYS.
RISK_TELEMETRY_RETENTION_DAYS = env.int("RISK_TELEMETRY_RETENTION_DAYS", default=180)
RISK_BATCH_RETENTION_DAYS = env.int("RISK_BATCH_RETENTION_DAYS", default=30)
# Stored telemetry whose detection job has not finished after this many seconds is queued again
# by the detection sweep (every 15 s; each further wait is twice the last); a batch record still
# queued or processing with nothing left to store it from is ended "failed" after
# RISK_BATCH_STALE_MINUTES.
RISK_DETECTION_RETRY_SECONDS = env.int("RISK_DETECTION_RETRY_SECONDS", default=30)
RISK_BATCH_STALE_MINUTES = env.int("RISK_BATCH_STALE_MINUTES", default=30)
OTP_TOTP_THROTTLE_FACTOR = env.int("OTP_TOTP_THROTTLE_FACTOR", default=1)

# Shadow AI usage discovery (see docs/shadow_ai.md): how often the scheduler rolls up the days
# that received Gateway HTTP logs, how long an application counts as newly seen, how long
# dashboard results are cached (0: not at all) and rollups kept, and the memory a day's rollup
# may use on PostgreSQL.
SHADOW_AI_USAGE_ROLLUP_SECONDS = env.int("SHADOW_AI_USAGE_ROLLUP_SECONDS", default=120)
SHADOW_AI_USAGE_NEW_DAYS = env.int("SHADOW_AI_USAGE_NEW_DAYS", default=7)
SHADOW_AI_USAGE_CACHE_SECONDS = env.int("SHADOW_AI_USAGE_CACHE_SECONDS", default=3600)
SHADOW_AI_USAGE_RETENTION_DAYS = env.int("SHADOW_AI_USAGE_RETENTION_DAYS", default=400)
SHADOW_AI_USAGE_WORK_MEM = env.str("SHADOW_AI_USAGE_WORK_MEM", default="64MB")

# The AI prompt log (see docs/prompt_protection.md): entries older than this many days are
# deleted by a scheduled job.
PROMPT_LOG_RETENTION_DAYS = env.int("PROMPT_LOG_RETENTION_DAYS", default=30)
# Inspected requests (prompts up to GATEWAY_INSPECT_MAX_BYTES each) a web gateway queues for the
# prompt log and the jailbreak signal while the database is away; past that they are dropped
# (counted and logged).
PROMPT_LOG_MAX_PENDING = env.int("PROMPT_LOG_MAX_PENDING", default=5000)

# The web gateway (`manage.py gateway`, see docs/gateway.md): where it listens, whether it refuses
# (closed) or passes and logs (open) requests when the policies cannot be loaded, how long a new
# organization CA is published before gateways sign with it, how often logs are written, and the
# test mode that maps hostnames to local servers (never in production).
GATEWAY_LISTEN = env.str("GATEWAY_LISTEN", default="127.0.0.1:8080")
# The address people's browsers use (a load balancer in front of several gateways, say).
GATEWAY_PROXY_ADDRESS = env.str("GATEWAY_PROXY_ADDRESS", default="") or GATEWAY_LISTEN
# Several gateway processes on one machine may listen on the same port (SO_REUSEPORT).
GATEWAY_REUSE_PORT = env.bool("GATEWAY_REUSE_PORT", default=True)
GATEWAY_FAIL_MODE = env.str("GATEWAY_FAIL_MODE", default="closed")
if GATEWAY_FAIL_MODE not in ("closed", "open"):
    raise ImproperlyConfigured(f"GATEWAY_FAIL_MODE must be closed or open, not {GATEWAY_FAIL_MODE!r}")
GATEWAY_CA_OVERLAP_DAYS = env.int("GATEWAY_CA_OVERLAP_DAYS", default=14)
GATEWAY_CA_VALID_DAYS = env.int("GATEWAY_CA_VALID_DAYS", default=3 * 365)
GATEWAY_LOG_FLUSH_SECONDS = env.float("GATEWAY_LOG_FLUSH_SECONDS", default=1.0)
GATEWAY_LOG_MAX_PENDING = env.int("GATEWAY_LOG_MAX_PENDING", default=200_000)
GATEWAY_INSPECT_MAX_BYTES = env.int("GATEWAY_INSPECT_MAX_BYTES", default=1_000_000)
GATEWAY_TEST_UPSTREAMS = env.str("GATEWAY_TEST_UPSTREAMS", default="")
GATEWAY_TEST_UPSTREAM_CA = env.str("GATEWAY_TEST_UPSTREAM_CA", default="")
if PRODUCTION and GATEWAY_TEST_UPSTREAMS:
    raise ImproperlyConfigured("GATEWAY_TEST_UPSTREAMS is a test mode: it cannot be set when CONSOLE_ENV=production")

# Shared Signals transmitter (see docs/ssf.md). The issuer receivers know us by; empty: the
# console's own URL per request (it is stored with each stream when the stream is created).
SSF_ISSUER = env.str("SSF_ISSUER", default="")
SSF_DEFAULT_SUBJECTS = env.str("SSF_DEFAULT_SUBJECTS", default="ALL")
if SSF_DEFAULT_SUBJECTS not in ("ALL", "NONE"):
    raise ImproperlyConfigured("SSF_DEFAULT_SUBJECTS must be ALL or NONE")
# Plain http push endpoints only outside production (a receiver on this machine, a test).
SSF_ALLOW_HTTP_ENDPOINTS = env.bool("SSF_ALLOW_HTTP_ENDPOINTS", default=not PRODUCTION)
SSF_PUSH_CONNECT_TIMEOUT = env.float("SSF_PUSH_CONNECT_TIMEOUT", default=5.0)
SSF_PUSH_READ_TIMEOUT = env.float("SSF_PUSH_READ_TIMEOUT", default=15.0)
SSF_PUSH_BATCH = env.int("SSF_PUSH_BATCH", default=200)
SSF_RETRY_BASE_SECONDS = env.float("SSF_RETRY_BASE_SECONDS", default=5.0)
SSF_RETRY_MAX_SECONDS = env.float("SSF_RETRY_MAX_SECONDS", default=3600.0)
SSF_MAX_ATTEMPTS = env.int("SSF_MAX_ATTEMPTS", default=20)
SSF_DELIVERY_LOCK_SECONDS = env.int("SSF_DELIVERY_LOCK_SECONDS", default=300)
SSF_SWEEP_SECONDS = env.int("SSF_SWEEP_SECONDS", default=45)
SSF_POLL_WAIT_SECONDS = env.float("SSF_POLL_WAIT_SECONDS", default=10.0)
SSF_POLL_REDELIVER_SECONDS = env.int("SSF_POLL_REDELIVER_SECONDS", default=45)
SSF_MIN_VERIFICATION_INTERVAL = env.int("SSF_MIN_VERIFICATION_INTERVAL", default=10)
SSF_KEY_RETENTION_DAYS = env.int("SSF_KEY_RETENTION_DAYS", default=7)
SSF_MAX_SUBJECTS_PER_STREAM = env.int("SSF_MAX_SUBJECTS_PER_STREAM", default=100_000)
SSF_OUTBOX_RETENTION_DAYS = env.int("SSF_OUTBOX_RETENTION_DAYS", default=30)
# Refuse push endpoints on private, loopback and link-local addresses (production).
SSF_ALLOW_PRIVATE_ENDPOINTS = env.bool("SSF_ALLOW_PRIVATE_ENDPOINTS", default=not PRODUCTION)
# Identity-verified onboarding (docs/onboarding.md).
ONBOARDING_INVITATION_HOURS = env.int("ONBOARDING_INVITATION_HOURS", default=72)
VERIFICATION_RETENTION_DAYS = env.int("VERIFICATION_RETENTION_DAYS", default=365)
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=30)
VERIFICATION_FLOW_SECONDS = env.int("VERIFICATION_FLOW_SECONDS", default=900)
VERIFICATION_CLOCK_SKEW_SECONDS = env.int("VERIFICATION_CLOCK_SKEW_SECONDS", default=45)
VERIFICATION_ATTEMPTS_PER_IP = env.int("VERIFICATION_ATTEMPTS_PER_IP", default=30)
VERIFICATION_ATTEMPTS_PER_PERSON = env.int("VERIFICATION_ATTEMPTS_PER_PERSON", default=10)
VERIFICATION_ATTEMPT_WINDOW = env.int("VERIFICATION_ATTEMPT_WINDOW", default=300)
# Account recovery: how long a second admin's approval stays valid, how long the owner waits
# before removing the suspended authenticators themselves, how long "This wasn't me" links work.
RECOVERY_APPROVAL_HOURS = env.int("RECOVERY_APPROVAL_HOURS", default=24)
RECOVERY_CONFIRM_WAIT_HOURS = env.int("RECOVERY_CONFIRM_WAIT_HOURS", default=72)
RECOVERY_REPORT_DAYS = env.int("RECOVERY_REPORT_DAYS", default=14)
if VERIFICATION_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("VERIFICATION_RETENTION_DAYS must be at least 1")
# The development identity-verification provider that `./dev run` starts. It can never be
# used in production: setting it there is refused, and providers whose discovery document says
# they are for development only are refused too.
DEV_VERIFICATION_PROVIDER = env.bool("DEV_VERIFICATION_PROVIDER", default=CONSOLE_ENV == "development")
if PRODUCTION and DEV_VERIFICATION_PROVIDER:
    raise ImproperlyConfigured(
        "DEV_VERIFICATION_PROVIDER cannot be enabled when CONSOLE_ENV=production: the development "
        "identity-verification provider accepts anyone. Connect a real verification vendor."
    )
DEV_VERIFICATION_PROVIDER_URL = env.str("DEV_VERIFICATION_PROVIDER_URL", default="http://localhost:8001")
DEV_VERIFICATION_PROVIDER_CLIENT_SECRET = env.str("DEV_VERIFICATION_PROVIDER_CLIENT_SECRET", default="")
# CASB scans of SaaS and AI vendors (docs/casb.md). The vendors' API hosts are fixed; outside
# production an integration may send them to another address instead (tests, local replay).
CASB_ALLOW_BASE_URL_OVERRIDE = env.bool("CASB_ALLOW_BASE_URL_OVERRIDE", default=not PRODUCTION)
if PRODUCTION and CASB_ALLOW_BASE_URL_OVERRIDE:
    raise ImproperlyConfigured(
        "CASB_ALLOW_BASE_URL_OVERRIDE cannot be enabled when CONSOLE_ENV=production: integrations must talk to "
        "the vendors' own API hosts."
    )
CASB_HTTP_TIMEOUT = env.float("CASB_HTTP_TIMEOUT", default=30.0)
# The largest file a CASB scan downloads to check against DLP profiles (text-based files only).
CASB_DLP_MAX_BYTES = env.int("CASB_DLP_MAX_BYTES", default=10 * 1024 * 1024)
CASB_HTTP_MAX_RETRIES = env.int("CASB_HTTP_MAX_RETRIES", default=4)
CASB_HTTP_MAX_WAIT_SECONDS = env.float("CASB_HTTP_MAX_WAIT_SECONDS", default=60.0)
CASB_SCAN_SLICE_SECONDS = env.int("CASB_SCAN_SLICE_SECONDS", default=300)
CASB_SCAN_MAX_ATTEMPTS = env.int("CASB_SCAN_MAX_ATTEMPTS", default=6)
CASB_RETRY_BASE_SECONDS = env.float("CASB_RETRY_BASE_SECONDS", default=30.0)
CASB_RETRY_MAX_SECONDS = env.float("CASB_RETRY_MAX_SECONDS", default=1800.0)
CASB_DISPATCH_SECONDS = env.int("CASB_DISPATCH_SECONDS", default=15)
# Empty: scans run on the default queue. Set (e.g. "connectors") to run them on workers started
# with -Q connectors only.
CASB_QUEUE = env.str("CASB_QUEUE", default="")
CASB_TEST_CONNECTION_LIMIT = env.int("CASB_TEST_CONNECTION_LIMIT", default=10)
CASB_KEY_ROTATION_DAYS = env.int("CASB_KEY_ROTATION_DAYS", default=90)
CASB_UNUSED_DAYS = env.int("CASB_UNUSED_DAYS", default=30)
CASB_INACTIVE_DAYS = env.int("CASB_INACTIVE_DAYS", default=30)
CASB_STALE_INVITE_DAYS = env.int("CASB_STALE_INVITE_DAYS", default=7)
CASB_STALE_REPOSITORY_DAYS = env.int("CASB_STALE_REPOSITORY_DAYS", default=365)
CASB_PASSWORD_AGE_DAYS = env.int("CASB_PASSWORD_AGE_DAYS", default=90)
CASB_SYNC_AGE_DAYS = env.int("CASB_SYNC_AGE_DAYS", default=7)
# The DNS resolvers the SPF/DMARC checks of Google Workspace and Microsoft 365 domains ask: IP
# addresses with an optional port ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:5353"); empty:
# the system's resolver (/etc/resolv.conf). Seconds allowed per lookup (a timeout leaves the
# findings as they were; it never reports a record as missing).
CASB_DNS_RESOLVERS = env.list("CASB_DNS_RESOLVERS", default=[])
CASB_DNS_TIMEOUT = env.float("CASB_DNS_TIMEOUT", default=5.0)
# Where people open the console, for links in e-mails sent outside a request (the demo data).
CONSOLE_URL = env.str("CONSOLE_URL", default="http://localhost:8000")

# --- The console as OpenID provider and OAuth authorization server (docs/saas.md) -------------

# The "iss" of ID tokens and of the server's metadata. Empty: the console's own URL per request.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")


def _pkce_required(client_id: str) -> bool:
    # Imported on call: the settings load before the apps and their models.
    from console.access.idp.validator import pkce_required

    return pkce_required(client_id)


OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": OIDC_ISSUER,
    "OAUTH2_VALIDATOR_CLASS": "console.access.idp.validator.ConsoleValidator",
    "SCOPES_BACKEND_CLASS": "console.access.idp.scopes.RegisteredScopes",
    # Public clients always; confidential ones unless an admin turned it off for that client.
    "PKCE_REQUIRED": _pkce_required,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=3600),
    "ID_TOKEN_EXPIRE_SECONDS": env.int("OIDC_ID_TOKEN_SECONDS", default=600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=14 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token", "client_credentials"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    # Signed out without a question when the application names the person's own ID token.
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    # Redirect URIs: https only in production; http too elsewhere (development, loopback tests).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if PRODUCTION else ["http", "https"],
    "ALLOWED_SCHEMES": ["https"] if PRODUCTION else ["http", "https"],
    # RFC 9700 (OAuth 2.0 Security Best Current Practice), every gate on: no implicit or password
    # grant, S256 PKCE only, tokens only in the Authorization header, "iss" in authorization
    # responses, access and refresh tokens stored hashed.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # Next: the MCP portal turns on dynamic client registration ("DCR_ENABLED", with its own
    # permission class, and RFC 8707 resource indicators, which the token checks already honour),
    # and the device client adds the device authorization grant ("OAUTH_DEVICE_VERIFICATION_URI",
    # RFC 8628) with a client kind of its own in console.access.idp.models.Client.
    "DCR_ENABLED": False,
}
if PRODUCTION:
    OAUTH2_PROVIDER["COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME"] = True
# django-oauth-toolkit's own models, named so that migrations can refer to them (not swapped).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "oauth2_provider.DeviceGrant"

# --- Security headers -----------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Static files ---------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- E-mail ---------------------------------------------------------------------------------



def _mailer(url: str) -> dict:
    """``smtp://user:pass@host:587?tls=1`` (or ``smtps://`` for implicit TLS), ``console://``,
    ``locmem://``, ``file:///path`` or ``outbox://`` (kept in the console's Outbox page) as a
    Django 6.1 ``MAILERS`` entry."""

    parts = urlsplit(url)
    backends = {
        "smtp": "django.core.mail.backends.smtp.EmailBackend",
        "smtps": "django.core.mail.backends.smtp.EmailBackend",
        "console": "django.core.mail.backends.console.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "file": "django.core.mail.backends.filebased.EmailBackend",
        "outbox": "accounts.onboarding.mail.OutboxBackend",
    }
    if parts.scheme not in backends:
        raise ImproperlyConfigured(f"EMAIL_URL scheme must be one of {', '.join(backends)}")
    options: dict = {}
    if parts.scheme in ("smtp", "smtps"):
        query = parse_qs(parts.query)
        options = {
            "host": parts.hostname or "localhost",
            "port": parts.port or (465 if parts.scheme == "smtps" else 25),
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_ssl": parts.scheme == "smtps",
            "use_tls": query.get("tls", ["0"])[0] in ("1", "true", "yes"),
            "timeout": 20,
        }
    elif parts.scheme == "file":
        options = {"file_path": parts.path}
    return {"BACKEND": backends[parts.scheme], "OPTIONS": options}


MAILERS = {
    "default": _mailer(
        env.str("EMAIL_URL", default="smtp://localhost:25" if PRODUCTION else "outbox://")
    )
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="console@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ---------------------------------------------------------------------------------

if PRODUCTION:
    CELERY_BROKER_URL = _required("CELERY_BROKER_URL")
else:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        # kombu's default is ./control, which wrote broadcast state into the working tree.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker dies is redelivered after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        # How often each worker looks for such tasks (kombu's default cadence, every 100 s).
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_SECONDS", default=100),
        "unacked_restore_throttle": 1,
        # A broker that hangs must not hang the request that queues a task (ingest answers 503).
        "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0),
        "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=1.0),
    }
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=1.0)
# Publishing retries once, quickly, then raises (the caller answers 503); Celery's default
# would keep a web request waiting for seconds.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                    "interval_max": 0.2}
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = timedelta(days=7)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_DEFAULT_QUEUE", default="default")
# Telemetry storing and risk detection/scoring run on queues of their own (console/celery.py
# ROUTES); a worker started without -Q consumes every queue below. Empty: the default queue.
CELERY_INGEST_QUEUE = env.str("CELERY_INGEST_QUEUE", default="ingest")
CELERY_SCORING_QUEUE = env.str("CELERY_SCORING_QUEUE", default="scoring")
CELERY_TASK_QUEUES = [Queue(name) for name in dict.fromkeys(
    [CELERY_TASK_DEFAULT_QUEUE, CELERY_INGEST_QUEUE, CELERY_SCORING_QUEUE]) if name]
CELERY_TASK_ROUTES = ("console.celery.route_task",)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Seconds between heartbeats that the health page reads.
HEARTBEAT_INTERVAL = env.int("HEARTBEAT_INTERVAL", default=30)

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Logging --------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"expected_forbidden": {"()": "console.core.logfilters.ExpectedForbidden"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": sys.stderr, "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": env.str("LOG_LEVEL", default="INFO")},
    # A role check saying no is logged as one line, not a traceback (console/core/logfilters.py).
    "loggers": {"axes": {"level": "WARNING"}, "django.request": {"filters": ["expected_forbidden"]}},
}
