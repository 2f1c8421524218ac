"""Redress settings, read from the environment.

Two ways to run (docs/operations.md):
- embedded: no ``DATABASE_URL``/``REDIS_URL`` -> SQLite, in-memory channel layer, in-memory
  Celery broker with the worker and beat inside the ASGI process;
- production: PostgreSQL and Redis, separate ASGI, worker and beat processes.

Defaults are the safe ones: ``DEBUG`` is off unless ``DJANGO_DEBUG=1``, and without DEBUG a
``SECRET_KEY`` must be given.
"""

import json
import os
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE as CSP_NONCE
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("REDRESS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_file(name: str) -> str | None:
    """A file's path from the environment; one that names no file stops start-up."""
    value = os.environ.get(name, "")
    if value and not Path(value).is_file():
        raise ImproperlyConfigured(f"{name}: no such file: {value}")
    return value or None


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DJANGO_DEBUG is off. Set SECRET_KEY to 50 or more "
            "random characters (or DJANGO_DEBUG=1 for development)."
        )
    # Random, made on the first start and kept in the data folder (config.development_key):
    # a key written here would let anyone forge tracking links to an exposed demo.
    from config.development_key import development_secret_key

    SECRET_KEY = development_secret_key(VAR_DIR)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Demo accounts (seed_demo) exist for trying Redress out. Production settings refuse both
# the command and logins by demo accounts unless this is switched on deliberately.
REDRESS_DEMO = env_bool("REDRESS_DEMO", default=DEBUG)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
# Embedded mode: no Redis configured, so broker, worker, beat and channel layer run in-process.
REDRESS_EMBEDDED = not REDIS_URL

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens: hashed at rest, expiring, revocable (recovery.auth, docs/security.md).
    "knox",
    # Sign-in lockout and the sign-in audit log (docs/security.md).
    "axes",
    # The staff's optional TOTP second factor (recovery.second_factor, docs/security.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    # The complaint core, then the apps around it (docs/architecture.md).
    "recovery",
    "escalation",
    "notifications",
    "desk",
    "api",
    "insights",
    "imports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: a chunked request gets its real Content-Length.
    "config.chunked_body.ChunkedBodyLengthMiddleware",
    # A %00 in a path argument would reach PostgreSQL, which refuses NUL: 400 here instead.
    "config.nul_in_path.NulInPathMiddleware",
    # Pages serve GET, HEAD and POST only: TRACE or OPTIONS got a whole page back.
    "config.http_methods.PageMethodsMiddleware",
    # Content-Security-Policy with a fresh nonce per response; Permissions-Policy.
    "csp.middleware.CSPMiddleware",
    "config.security_headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): did this session pass the second factor?
    "django_otp.middleware.OTPMiddleware",
    # Sends a session that still owes its second factor (or its enrolment) to the right page.
    "desk.second_factor_gate.SecondFactorGate",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                # CSP_NONCE, for the few <style> blocks third-party pages (API docs) keep inline.
                "csp.context_processors.nonce",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "desk.context.desk",
            ],
            # One date format for every page (common/template_dates.py).
            "builtins": ["common.template_dates"],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# Each web process keeps this many PostgreSQL connections at most in a pool (psycopg_pool,
# Django's "pool" option); 0 opens one per request instead (behind PgBouncer, say).
REDRESS_DB_POOL_SIZE = int(os.environ.get("REDRESS_DB_POOL_SIZE", "20"))
# How long a request waits for a free pooled connection before it is answered 503.
REDRESS_DB_POOL_TIMEOUT = float(os.environ.get("REDRESS_DB_POOL_TIMEOUT", "10"))
# The hottest reads (common/compiled_queries.py) become prepared statements on the
# connection that ran them a few times; 0 turns that off (a PgBouncer in transaction mode
# older than 1.21 cannot keep prepared statements).
REDRESS_DB_PREPARED_STATEMENTS = os.environ.get("REDRESS_DB_PREPARED_STATEMENTS", "1") != "0"

if DATABASE_URL:
    # No persistent connections: under ASGI every request runs in a fresh thread, so a kept
    # connection is never reused, only leaked until garbage collection (Django's ASGI docs).
    # The pool instead hands each request's thread a connection opened before, and takes it
    # back when the request ends: no connection set-up per request, on either side.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and (
        REDRESS_DB_POOL_SIZE > 0
    ):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": REDRESS_DB_POOL_SIZE,
            "timeout": REDRESS_DB_POOL_TIMEOUT,
        }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django turns psycopg's prepared statements off unless asked; Django's own cursors
        # bind on the client and are never prepared, whatever this says.
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            5 if REDRESS_DB_PREPARED_STATEMENTS else None
        )
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "redress.sqlite3",
            # Wait up to 20 s for the write lock instead of failing with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "recovery.auth.RedressModelBackend",
    # Single sign-on; answers only the OIDC callback, and only when it is configured.
    "recovery.oidc.RedressOIDCBackend",
]

# Where the client address comes from (common.client_address): the number of proxies we run
# in front of Redress that append to X-Forwarded-For. 0 ignores the header altogether.
REDRESS_TRUSTED_PROXIES = int(os.environ.get("REDRESS_TRUSTED_PROXIES", "0"))

# API tokens (django-rest-knox). A week: long enough for a weekly script, short enough that
# a token copied into a forgotten file stops working on its own.
REDRESS_TOKEN_TTL_HOURS = float(os.environ.get("REDRESS_TOKEN_TTL_HOURS", "168"))
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=REDRESS_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
}

# Sign-in lockout (django-axes): failures are counted per account and per client address,
# in the database (no Redis needed). Ten failures leave room for a few typos by a person and
# stop a password-guessing script after ten guesses per quarter hour.
AXES_FAILURE_LIMIT = int(os.environ.get("REDRESS_SIGNIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("REDRESS_SIGNIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_CLIENT_IP_CALLABLE = "common.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
# Failures as well as successes are kept for the audit (admin -> Axes).
AXES_ENABLE_ACCESS_FAILURE_LOG = True

# The second factor (TOTP, django-otp). When on, staff without a device must enrol before
# using the desk, the admin or the API; off by default so an upgrade locks nobody out.
REDRESS_STAFF_2FA_REQUIRED = env_bool("REDRESS_STAFF_2FA_REQUIRED")
# The name authenticator apps show next to the account.
OTP_TOTP_ISSUER = os.environ.get("REDRESS_OTP_ISSUER", "Redress")
# After each wrong code a device refuses further codes for 1, 2, 4, 8 … seconds (django-otp's
# throttle): on top of the sign-in lockout, which counts wrong codes as failed sign-ins.
OTP_TOTP_THROTTLE_FACTOR = 1
# How long the code page waits for the code after the password was right: long enough to
# find a phone, short enough that an abandoned half sign-in does not linger.
REDRESS_2FA_PENDING_SECONDS = 300


def env_json_mapping(name: str) -> dict[str, str]:
    """A JSON object of strings from the environment; anything else stops start-up."""
    raw = os.environ.get(name, "")
    if not raw:
        return {}
    try:
        mapping = json.loads(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not JSON: {error}") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in mapping.items()
    ):
        raise ImproperlyConfigured(f'{name} must be a JSON object of strings: {{"claim": "name"}}')
    return mapping


# Single sign-on for staff (OpenID Connect, recovery.oidc; docs/security.md). On when a client
# id and either an issuer (endpoints from its discovery document) or the endpoints are set.
REDRESS_OIDC_ISSUER = os.environ.get("REDRESS_OIDC_ISSUER", "").rstrip("/")
REDRESS_OIDC_DISCOVERY_URL = os.environ.get("REDRESS_OIDC_DISCOVERY_URL", "") or (
    f"{REDRESS_OIDC_ISSUER}/.well-known/openid-configuration" if REDRESS_OIDC_ISSUER else ""
)
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("REDRESS_OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("REDRESS_OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("REDRESS_OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("REDRESS_OIDC_JWKS_URI", "")
OIDC_RP_CLIENT_ID = os.environ.get("REDRESS_OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("REDRESS_OIDC_CLIENT_SECRET", "")
# Providers differ in the scope that releases groups (some refuse scopes they do not know),
# so none is asked for by default: add the one yours needs.
OIDC_RP_SCOPES = os.environ.get("REDRESS_OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = "RS256"
# PKCE (RFC 7636) on top of the client secret: a stolen code is useless without the verifier.
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10  # seconds per request to the provider: a dead one fails the sign-in quickly
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
REDRESS_OIDC_ENABLED = bool(
    OIDC_RP_CLIENT_ID
    and (REDRESS_OIDC_DISCOVERY_URL or (OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT))
)
REDRESS_OIDC_PROVIDER_NAME = os.environ.get("REDRESS_OIDC_PROVIDER_NAME", "single sign-on")
# Which claim lists a person's groups, and which of its values give which role and team:
# REDRESS_OIDC_ROLE_CLAIMS='{"complaints-agents": "agents"}', values among the staff roles
# (recovery.roles); REDRESS_OIDC_TEAM_CLAIMS='{"cx-billing": "billing"}', values Team slugs.
REDRESS_OIDC_GROUPS_CLAIM = os.environ.get("REDRESS_OIDC_GROUPS_CLAIM", "groups")
REDRESS_OIDC_TEAMS_CLAIM = os.environ.get("REDRESS_OIDC_TEAMS_CLAIM", REDRESS_OIDC_GROUPS_CLAIM)
REDRESS_OIDC_ROLE_CLAIMS = env_json_mapping("REDRESS_OIDC_ROLE_CLAIMS")
REDRESS_OIDC_TEAM_CLAIMS = env_json_mapping("REDRESS_OIDC_TEAM_CLAIMS")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# The web pages' own CSS and JavaScript (no build step, nothing loaded from a CDN).
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve static files from the finders too, so the embedded run needs no collectstatic.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "desk:login"
LOGIN_REDIRECT_URL = "desk:my-queue"
LOGOUT_REDIRECT_URL = "desk:login"
# Database sessions, their read compiled once per process (config/sessions.py).
SESSION_ENGINE = "config.sessions"

# Security: production-safe unless DEBUG (manage.py check --deploy runs in CI).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
# Preloading commits the whole domain, subdomains included, to HTTPS in browsers for good:
# the operator's decision (SECURE_HSTS_PRELOAD=1), not a default, so its warning is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Django's defaults, stated: no cross-origin window keeps a handle on ours; other sites learn
# only our origin from a link, never a complaint's path.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
# Everything the pages load is served by Redress itself (static files, the API-docs sidecar),
# and no inline script or style runs except one carrying the response's nonce
# (docs/security.md). The websockets are same-origin, which 'self' covers (ws: and wss:).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF, CSP_NONCE],
        "style-src": [CSP_SELF, CSP_NONCE],
        # Swagger UI draws its logo and icons as data: URLs.
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    }
}

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    # Django's SMTP backend, trusting REDRESS_EMAIL_CA_FILE when it is set (notifications.smtp).
    else "notifications.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
# STARTTLS on the plain port (587, 25), or TLS from the first byte (465): one or the other.
# Either verifies the server's certificate and host name.
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL (TLS from the start) exclude each other: "
        "set one."
    )
# Logging in sends the password; in clear, anyone on the path reads it. Only for a relay on
# this machine or a test server, and only when asked for.
EMAIL_ALLOW_PLAINTEXT_LOGIN = env_bool("EMAIL_ALLOW_PLAINTEXT_LOGIN")
if EMAIL_HOST_USER and not (EMAIL_USE_TLS or EMAIL_USE_SSL or EMAIL_ALLOW_PLAINTEXT_LOGIN):
    raise ImproperlyConfigured(
        "EMAIL_HOST_USER is set but neither EMAIL_USE_TLS nor EMAIL_USE_SSL: the SMTP password "
        "would be sent in clear. Set one of them (EMAIL_ALLOW_PLAINTEXT_LOGIN=1 is for a relay "
        "on this machine only)."
    )
# PEM bundle of the CAs that sign the SMTP server's certificate (a private CA), trusted
# instead of the system's. Read by notifications.smtp.EmailBackend.
REDRESS_EMAIL_CA_FILE = env_file("REDRESS_EMAIL_CA_FILE")
# A client certificate and its key, for a server that asks for one.
EMAIL_SSL_CERTFILE = env_file("EMAIL_SSL_CERTFILE")
EMAIL_SSL_KEYFILE = env_file("EMAIL_SSL_KEYFILE")
# Seconds to wait on the SMTP server per operation: a dead server must fail the send (which
# is retried) rather than hold a worker forever, Django's default.
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "30"))
# Where the file-based backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend)
# writes each message: development, and tests that read what a worker process sent.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "emails"))
# How old a customer email's "sending" claim must be before the redelivery sweep sends it
# again (its worker died mid-send; docs/operations.md). Well above the longest an SMTP
# conversation can take: connect, EHLO, (STARTTLS, AUTH,) MAIL, RCPT, DATA, each up to
# EMAIL_TIMEOUT; 10 minutes is also short enough for a complaint's receipt.
REDRESS_EMAIL_CLAIM_TIMEOUT = float(os.environ.get("REDRESS_EMAIL_CLAIM_TIMEOUT", "600"))
# How long a customer email our mail server could not take for a reason that may pass (relay
# down, 4xx, TLS) is tried again before it is marked failed and its handler told, like a mail
# server's queue lifetime (RFC 5321 suggests 4-5 days; a complaint's email is worth a person's
# look sooner). Tries back off from 10 s to one every 30 minutes (docs/operations.md).
REDRESS_EMAIL_RETRY_HOURS = float(os.environ.get("REDRESS_EMAIL_RETRY_HOURS", "24"))
# The right-hand side of the Message-IDs we mint; replies that reference them thread back.
REDRESS_EMAIL_DOMAIN = os.environ.get("REDRESS_EMAIL_DOMAIN", "redress.invalid")
# The address customer emails come from. Unset, it is complaints@ the domain above, so one
# setting (REDRESS_EMAIL_DOMAIN) gives a working From; an address on .invalid (neither set)
# is a deploy-check warning without DEBUG (notifications/checks.py).
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or f"complaints@{REDRESS_EMAIL_DOMAIN}"
# Where people reach Redress: every emailed link (tracking page, survey, the desk) starts with
# it. Not derived from PORT here: honcho gives each Procfile process a PORT of its own (the
# worker, which renders the emails, 8100), so `./redress run` exports it from the web's PORT.
# notifications/checks.py refuses one without scheme or host at start-up.
REDRESS_PUBLIC_URL = os.environ.get("REDRESS_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# How long a customer's tracking link keeps working after the complaint is closed (loop
# closed or withdrawn), in days (docs/security.md, "Tracking links"). 90: a quarter, long
# enough to come back to a closed complaint's answer, short enough that an old email found
# later does not open it.
REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE = int(
    os.environ.get("REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE", "90")
)
# Inbound email (docs/notifications.md, "Inbound email"). The webhook answers 503 until a
# shared secret is set: an unauthenticated endpoint that opens complaints is never a default.
REDRESS_INBOUND_SECRET = os.environ.get("REDRESS_INBOUND_SECRET", "")
# 25 MiB is the message size limit most providers use (Gmail, Microsoft 365 send 25 MB);
# anything larger is quarantined unparsed, and the webhook refuses it with 413.
REDRESS_INBOUND_MAX_BYTES = int(os.environ.get("REDRESS_INBOUND_MAX_BYTES", 25 * 1024 * 1024))
# The authserv-ids (RFC 8601) of the servers that receive our mail and write their SPF, DKIM
# and DMARC results into it ("mx.example.com"): only their Authentication-Results headers are
# believed, as anyone can write such a header into a message. Empty: none is believed.
REDRESS_INBOUND_AUTHSERV_IDS = env_list("REDRESS_INBOUND_AUTHSERV_IDS")
# The List-Ids of our own complaints inbox when it is a group (a Google Group adds List-Id
# and "Precedence: list" to every customer's mail): such mail is not list mail, so a new
# complaint through it is opened, not ignored ("complaints.example.com").
REDRESS_INBOUND_OWN_LIST_IDS = env_list("REDRESS_INBOUND_OWN_LIST_IDS")
# The regime of complaints that name none (the public form, email, API calls without one):
# a firm regulated by the FCA sets uk_fca_disp here so that no complaint lacks its legal
# deadlines. Unknown codes stop start-up (escalation/checks.py lists the known ones).
REDRESS_REGULATORY_PROFILE = os.environ.get("REDRESS_REGULATORY_PROFILE", "")
REDRESS_JURISDICTION = os.environ.get("REDRESS_JURISDICTION", "")
# Uploaded files: email attachments (notifications.InboundAttachment).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Files attached to complaints (docs/security.md, "Attachments"): kept here, outside anything
# the web server serves, each under a random name; only the desk and the tracking page hand
# them out, to whoever may see the complaint.
REDRESS_ATTACHMENT_DIR = Path(os.environ.get("REDRESS_ATTACHMENT_DIR", VAR_DIR / "attachments"))
# 10 MiB a file: a phone's photo or a scanned letter, well under what mail servers take
# (25 MB), as the agent's reply carries its files by email.
REDRESS_ATTACHMENT_MAX_BYTES = int(os.environ.get("REDRESS_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
# Per complaint, whoever sent them: enough for the evidence of one complaint, and a bound on
# what one complaint can fill the disk with.
REDRESS_ATTACHMENTS_PER_COMPLAINT = int(os.environ.get("REDRESS_ATTACHMENTS_PER_COMPLAINT", "20"))
REDRESS_ATTACHMENTS_TOTAL_BYTES = int(
    os.environ.get("REDRESS_ATTACHMENTS_TOTAL_BYTES", 50 * 1024 * 1024)
)
# A file over the limit stops being kept once it passes it (config/upload_limits.py).
FILE_UPLOAD_HANDLERS = [
    "config.upload_limits.AttachmentSizeLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# ClamAV's daemon, "unix:/run/clamav/clamd.ctl" or "tcp://clamav:3310". Empty: files are
# stored unscanned and the desk says so beside each; set but unreachable: files are refused
# until it answers (fail closed).
REDRESS_CLAMD_ADDRESS = os.environ.get("REDRESS_CLAMD_ADDRESS", "")
# Seconds per socket operation: clamd scans 10 MiB in well under a second; a request waits
# at most this long before the upload is refused as "scanner unavailable".
REDRESS_CLAMD_TIMEOUT = float(os.environ.get("REDRESS_CLAMD_TIMEOUT", "10"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "recovery.auth.RedressTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["common.rest.parsers.BoundedJSONParser"],
    # JSON only: the browsable API is an HTML page per endpoint, outside the documented
    # schema and the pages' policies; the API's own pages are /api/docs/.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.RedressAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    # OPTIONS answers the endpoint's description in JSON whatever Accept asks for.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "common.rest.negotiation.OptionsInJson",
    "DEFAULT_THROTTLE_RATES": {"token": "30/minute", "survey": "60/minute"},
    # Our throttles count by common.client_address; this keeps DRF's own rule the same.
    "NUM_PROXIES": REDRESS_TRUSTED_PROXIES,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Redress API",
    "DESCRIPTION": "Complaint handling and service recovery.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from the app itself (drf-spectacular-sidecar), no CDN. There is no
    # Redoc page: Redoc needs style-src 'unsafe-inline' (docs/security.md).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A complaint's state and a transition's expected_state share one set of choices: name it
    # once, so clients get one enum (and the schema check does not warn of two names).
    "ENUM_NAME_OVERRIDES": {
        "ComplaintStateEnum": "recovery.models.State",
        "RecoveryTypeEnum": "recovery.models.RecoveryType",
        "RecoveryStatusEnum": "recovery.models.RecoveryStatus",
        "CorrectiveActionKindEnum": "recovery.models.CorrectiveActionKind",
        "CorrectiveActionStatusEnum": "recovery.models.CorrectiveActionStatus",
    },
}

# Largest JSON body the API accepts; a complaint description is capped at 50,000 characters,
# so 2 MiB leaves room for escaped text and never lets a client make us buffer more.
REDRESS_MAX_JSON_BODY_BYTES = int(os.environ.get("REDRESS_MAX_JSON_BODY_BYTES", 2 * 1024 * 1024))

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times out reads after 5 s, exactly as long as channels-redis blocks
                # waiting for a message: an idle socket consumer would crash. Read longer.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 10}],
                # A socket group message is a doorbell: the event itself is in the database and
                # replayed on reconnect, so a small per-channel buffer (capacity) that drops when
                # a client stalls, and a short expiry, are safe and bound Redis memory.
                "capacity": 500,
                "expiry": 30,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    # Rate limits (the complaint form's per-address throttle, the API token endpoint's) must
    # count across every web process, so they live in Redis, not in each process's memory.
    # While Redis is down they fall back to each process's memory (config.fallback_cache);
    # the short timeouts keep an unreachable Redis from holding a request for long.
    CACHES = {
        "default": {
            "BACKEND": "config.fallback_cache.RedisCacheWithFallback",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "redress",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # kombu's in-process transport; the host name is only there so kombu does not warn
    # that none was supplied (the in-memory broker connects to nothing).
    CELERY_BROKER_URL = "memory://localhost/"

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fix-up closes the worker's database connections around every task unless
# this is set; then only every this many tasks. config/celery.py closes them as Django does
# around a request instead (broken, or older than the worker's CONN_MAX_AGE).
CELERY_DB_REUSE_MAX = 1000
# A broker that is down must not hang a request: the outbox row is the record and is
# redelivered later, so give up on the fast path quickly.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "socket_connect_timeout": 2}
# The clock sweeper tick (docs/sla.md). Each tick expires after one interval so that a
# stalled worker does not come back to a queue of stale ticks.
REDRESS_SWEEP_INTERVAL = float(os.environ.get("REDRESS_SWEEP_INTERVAL", "30"))
CELERY_BEAT_SCHEDULE = {
    "sweep-clocks": {
        "task": "escalation.sweep_clocks",
        "schedule": REDRESS_SWEEP_INTERVAL,
        "options": {"expires": REDRESS_SWEEP_INTERVAL},
    },
    # Outbox rows and emails the fast path missed (docs/notifications.md).
    "redeliver-outbox": {
        "task": "notifications.redeliver",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Staff notification emails: digests, what quiet hours held back, retries. Every minute,
    # so an hourly digest or the end of quiet hours is at most a minute late. It also sends
    # the daily digests: each is due at 08:00 on its reader's clock, and people's 08:00 fall
    # at different instants, which a once-a-day entry could not serve (docs/notifications.md).
    "staff-emails": {
        "task": "notifications.staff_emails",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
CELERY_TIMEZONE = "UTC"
# Rising root causes (docs/insights.md): hourly is soon enough for a weekly signal, and one
# alert per cause and week makes the extra runs harmless.
CELERY_BEAT_SCHEDULE["raise-rising-causes"] = {
    "task": "recovery.insights.raise_rising_causes",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# Insight summaries: a read refreshes the days changed since the last refresh; this keeps
# that work small (a minute of changes) and builds them after a deploy or an import.
CELERY_BEAT_SCHEDULE["refresh-insight-summaries"] = {
    "task": "recovery.insights.refresh_summaries",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}
# Complaints nobody picked up (docs/recovery.md): open, unassigned and older than this many
# minutes (wall-clock, not business time: someone should look whatever the hour). Checked
# every minute, so an alert comes at most a minute after the time is up.
REDRESS_UNPICKED_ALERT_MINUTES = int(os.environ.get("REDRESS_UNPICKED_ALERT_MINUTES", "30"))
if REDRESS_UNPICKED_ALERT_MINUTES < 1:
    raise ImproperlyConfigured("REDRESS_UNPICKED_ALERT_MINUTES must be a whole number from 1.")
CELERY_BEAT_SCHEDULE["alert-unpicked-complaints"] = {
    "task": "recovery.alert_unpicked",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}
# The desk's one-time form tokens, once older than their retention (desk.submissions,
# docs/web.md). Hourly: each run deletes an hour's forms, and a beat restarted more often
# than daily still runs it.
CELERY_BEAT_SCHEDULE["expire-form-submissions"] = {
    "task": "desk.expire_form_submissions",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# A cause is rising when its complaints this week number at least
# REDRESS_RISING_CAUSE_MIN_COUNT and exceed the mean of the previous REDRESS_RISING_CAUSE_WEEKS
# weeks by more than REDRESS_RISING_CAUSE_MARGIN (0.5: more than 50 % above).
REDRESS_RISING_CAUSE_WEEKS = int(os.environ.get("REDRESS_RISING_CAUSE_WEEKS", "8"))
REDRESS_RISING_CAUSE_MARGIN = float(os.environ.get("REDRESS_RISING_CAUSE_MARGIN", "0.5"))
REDRESS_RISING_CAUSE_MIN_COUNT = int(os.environ.get("REDRESS_RISING_CAUSE_MIN_COUNT", "5"))
# Insights over PostgreSQL read per-day summaries (insights/summaries.py) where
# the scope allows; False makes every insight aggregate the complaints directly (the tests
# run both ways). SQLite always aggregates directly.
INSIGHT_SUMMARIES = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "client_errors_as_info": {"()": "config.log_filters.ClientErrorsAsInfo"},
        "redact_secrets": {"()": "config.log_filters.RedactSecretsInPaths"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors_as_info", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default config gives "django" a console handler of its own in debug, and
        # its records reach the root's too: every line would be logged twice.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # axes announces itself at INFO on every start of every command: noise, not news.
        "axes": {"level": "WARNING"},
    },
}

# WhiteNoise serves static files with a synchronous iterator, which Django's ASGI handler
# consumes in a thread and warns about on every file; harmless for files this small, and
# nothing else here streams a synchronous iterator.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators", category=Warning
)
