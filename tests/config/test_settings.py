"""What ``config/settings.py`` makes of the environment, read in a fresh interpreter.

Settings are computed once, at import, so each case imports them in a subprocess with an
environment built from scratch: nothing from the test run (which uses
``config.settings_test``) can leak in.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Every variable config/settings.py reads; removed from the inherited environment so a case
# sees only what it sets.
SETTINGS_VARIABLES = {
    "DJANGO_SETTINGS_MODULE",
    "REDRESS_VAR_DIR",
    "REDRESS_REGULATORY_PROFILE",
    "REDRESS_JURISDICTION",
    "DJANGO_DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "REDRESS_DEMO",
    "DATABASE_URL",
    "REDRESS_DB_POOL_SIZE",
    "REDRESS_DB_POOL_TIMEOUT",
    "REDRESS_DB_PREPARED_STATEMENTS",
    "REDIS_URL",
    "TIME_ZONE",
    "STATIC_ROOT",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_ALLOW_PLAINTEXT_LOGIN",
    "REDRESS_EMAIL_CA_FILE",
    "EMAIL_SSL_CERTFILE",
    "EMAIL_SSL_KEYFILE",
    "EMAIL_TIMEOUT",
    "DEFAULT_FROM_EMAIL",
    "REDRESS_EMAIL_DOMAIN",
    "REDRESS_EMAIL_CLAIM_TIMEOUT",
    "REDRESS_PUBLIC_URL",
    "REDRESS_MAX_JSON_BODY_BYTES",
    "REDRESS_SWEEP_INTERVAL",
    "REDRESS_RISING_CAUSE_WEEKS",
    "REDRESS_RISING_CAUSE_MARGIN",
    "REDRESS_RISING_CAUSE_MIN_COUNT",
    "REDRESS_UNPICKED_ALERT_MINUTES",
    "REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE",
    "REDRESS_INBOUND_SECRET",
    "REDRESS_INBOUND_MAX_BYTES",
    "REDRESS_INBOUND_AUTHSERV_IDS",
    "REDRESS_INBOUND_OWN_LIST_IDS",
    "REDRESS_EMAIL_RETRY_HOURS",
    "MEDIA_ROOT",
    "REDRESS_ATTACHMENT_DIR",
    "REDRESS_ATTACHMENT_MAX_BYTES",
    "REDRESS_ATTACHMENTS_PER_COMPLAINT",
    "REDRESS_ATTACHMENTS_TOTAL_BYTES",
    "REDRESS_CLAMD_ADDRESS",
    "REDRESS_CLAMD_TIMEOUT",
    "EMAIL_FILE_PATH",
    "LOG_LEVEL",
    "REDRESS_TRUSTED_PROXIES",
    "REDRESS_TOKEN_TTL_HOURS",
    "REDRESS_SIGNIN_FAILURE_LIMIT",
    "REDRESS_SIGNIN_COOLOFF_MINUTES",
    "REDRESS_STAFF_2FA_REQUIRED",
    "REDRESS_OTP_ISSUER",
    "REDRESS_OIDC_ISSUER",
    "REDRESS_OIDC_DISCOVERY_URL",
    "REDRESS_OIDC_AUTHORIZATION_ENDPOINT",
    "REDRESS_OIDC_TOKEN_ENDPOINT",
    "REDRESS_OIDC_USERINFO_ENDPOINT",
    "REDRESS_OIDC_JWKS_URI",
    "REDRESS_OIDC_CLIENT_ID",
    "REDRESS_OIDC_CLIENT_SECRET",
    "REDRESS_OIDC_SCOPES",
    "REDRESS_OIDC_PROVIDER_NAME",
    "REDRESS_OIDC_GROUPS_CLAIM",
    "REDRESS_OIDC_TEAMS_CLAIM",
    "REDRESS_OIDC_ROLE_CLAIMS",
    "REDRESS_OIDC_TEAM_CLAIMS",
}

# Prints the settings under test as JSON; paths and tuples become strings and lists.
DUMP_SETTINGS = """
import json
from config import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "REDRESS_DEMO": s.REDRESS_DEMO,
    "REDRESS_EMBEDDED": s.REDRESS_EMBEDDED,
    "DATABASE": s.DATABASES["default"],
    "CHANNEL_LAYERS": s.CHANNEL_LAYERS,
    "CELERY_BROKER_URL": s.CELERY_BROKER_URL,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "DEFAULT_FROM_EMAIL": s.DEFAULT_FROM_EMAIL,
}, default=str))
"""

# Long and random enough for Django's deploy check (security.W009).
PRODUCTION_SECRET = secrets.token_urlsafe(50)


def run_python(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    # The SQLite fallback creates its directory on import: keep it out of the repository.
    clean["REDRESS_VAR_DIR"] = str(tmp_path / "var")
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_for(tmp_path: Path, **env: str) -> dict:
    done = run_python(["-c", DUMP_SETTINGS], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_without_secret_key_and_debug_off_settings_refuse_to_load(tmp_path):
    done = run_python(["-c", "import config.settings"], tmp_path)

    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DJANGO_DEBUG is off." in done.stderr


@pytest.mark.parametrize("command", ["ingest_email", "check", "migrate"])
def test_manage_py_without_secret_key_says_what_to_set_on_one_line(tmp_path, command):
    done = run_python(["manage.py", command], tmp_path)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr == (
        "Redress is not configured: SECRET_KEY must be set when DJANGO_DEBUG is off. Set "
        "SECRET_KEY to 50 or more random characters (or DJANGO_DEBUG=1 for development). "
        'See docs/operations.md, "Environment variables".\n'
    )


def test_the_from_address_is_derived_from_the_email_domain(tmp_path):
    loaded = settings_for(
        tmp_path, SECRET_KEY=PRODUCTION_SECRET, REDRESS_EMAIL_DOMAIN="complaints.example.com"
    )

    assert loaded["DEFAULT_FROM_EMAIL"] == "complaints@complaints.example.com"


def test_a_from_address_given_wins_over_the_derived_one(tmp_path):
    loaded = settings_for(
        tmp_path,
        SECRET_KEY=PRODUCTION_SECRET,
        REDRESS_EMAIL_DOMAIN="complaints.example.com",
        DEFAULT_FROM_EMAIL="Example <help@example.com>",
    )

    assert loaded["DEFAULT_FROM_EMAIL"] == "Example <help@example.com>"


@pytest.mark.parametrize(
    "env",
    [{}, {"DEFAULT_FROM_EMAIL": "Help <help@mail.invalid>"}],
    ids=["nothing-set", "explicit-invalid"],
)
def test_the_deploy_check_warns_of_a_from_address_on_invalid(tmp_path, env):
    done = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DJANGO_DEBUG="0",
        SECRET_KEY=PRODUCTION_SECRET,
        ALLOWED_HOSTS="redress.example.com",
        DATABASE_URL="postgres://redress@db.invalid:5432/redress",
        REDIS_URL="redis://redis.invalid:6379/0",
        **env,
    )

    assert done.returncode != 0
    assert "redress.W202" in done.stderr
    assert "Set REDRESS_EMAIL_DOMAIN" in done.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    loaded = settings_for(tmp_path, SECRET_KEY=PRODUCTION_SECRET)

    assert loaded["DEBUG"] is False
    # What follows from DEBUG being off: no demo accounts, no hosts, secure cookies, HSTS.
    assert loaded["REDRESS_DEMO"] is False
    assert loaded["ALLOWED_HOSTS"] == []
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == 31_536_000


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_debug_stays_off_for_false_looking_values(tmp_path, value):
    loaded = settings_for(tmp_path, SECRET_KEY=PRODUCTION_SECRET, DJANGO_DEBUG=value)

    assert loaded["DEBUG"] is False


def test_debug_on_allows_a_development_key_and_demo_accounts(tmp_path):
    loaded = settings_for(tmp_path, DJANGO_DEBUG="1")

    assert loaded["DEBUG"] is True
    assert loaded["SECRET_KEY"] == (tmp_path / "var" / "secret_key").read_text().strip()
    assert loaded["REDRESS_DEMO"] is True
    assert loaded["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]


def test_the_development_key_is_random_private_and_kept_in_the_data_folder(tmp_path):
    # A key written in the code would let anyone forge tracking links to an exposed demo.
    first = settings_for(tmp_path, DJANGO_DEBUG="1")["SECRET_KEY"]
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 50 and "insecure" not in first
    # Reused on every later start: links already sent keep working.
    assert settings_for(tmp_path, DJANGO_DEBUG="1")["SECRET_KEY"] == first
    # Another data folder, another demo: another key.
    other = settings_for(tmp_path, DJANGO_DEBUG="1", REDRESS_VAR_DIR=str(tmp_path / "other"))
    assert other["SECRET_KEY"] != first
    assert [p.name for p in (tmp_path / "var").iterdir() if "secret" in p.name] == ["secret_key"]


def test_a_given_secret_key_is_used_and_no_key_file_is_made(tmp_path):
    loaded = settings_for(tmp_path, DJANGO_DEBUG="1", SECRET_KEY=PRODUCTION_SECRET)

    assert loaded["SECRET_KEY"] == PRODUCTION_SECRET
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_never_makes_a_key_of_its_own(tmp_path):
    done = run_python(["-c", "import config.settings"], tmp_path, DJANGO_DEBUG="0")

    assert "SECRET_KEY must be set when DJANGO_DEBUG is off." in done.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_without_database_url_the_database_is_a_sqlite_file(tmp_path):
    loaded = settings_for(tmp_path, SECRET_KEY=PRODUCTION_SECRET)

    assert loaded["DATABASE"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["DATABASE"]["NAME"] == str(tmp_path / "var" / "redress.sqlite3")


def test_database_url_selects_postgresql(tmp_path):
    loaded = settings_for(
        tmp_path,
        SECRET_KEY=PRODUCTION_SECRET,
        DATABASE_URL="postgres://redress:pw@db.example.com:5432/redress",
    )

    assert loaded["DATABASE"]["ENGINE"] == "django.db.backends.postgresql"
    assert loaded["DATABASE"]["HOST"] == "db.example.com"
    assert loaded["DATABASE"]["NAME"] == "redress"


def test_without_redis_url_broker_and_channel_layer_are_in_memory(tmp_path):
    loaded = settings_for(tmp_path, SECRET_KEY=PRODUCTION_SECRET)

    assert loaded["REDRESS_EMBEDDED"] is True
    assert loaded["CELERY_BROKER_URL"] == "memory://localhost/"
    assert loaded["CHANNEL_LAYERS"] == {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }


def test_redis_url_selects_channels_redis_with_explicit_bounds(tmp_path):
    redis_url = "redis://redis.example.com:6379/2"

    loaded = settings_for(tmp_path, SECRET_KEY=PRODUCTION_SECRET, REDIS_URL=redis_url)

    assert loaded["REDRESS_EMBEDDED"] is False
    assert loaded["CELERY_BROKER_URL"] == redis_url
    layer = loaded["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    # Reads must outlast channels-redis's 5 s blocking wait, or idle consumers crash.
    assert layer["CONFIG"]["hosts"] == [{"address": redis_url, "socket_timeout": 10}]
    # Set explicitly rather than left to channels-redis's defaults (docs/operations.md).
    assert layer["CONFIG"]["capacity"] == 500
    assert layer["CONFIG"]["expiry"] == 30


def test_deploy_check_passes_with_production_environment(tmp_path):
    done = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DJANGO_DEBUG="0",
        SECRET_KEY=PRODUCTION_SECRET,
        ALLOWED_HOSTS="redress.example.com",
        # Customer emails come from a real domain (a From on .invalid is redress.W202).
        REDRESS_EMAIL_DOMAIN="redress.example.com",
        # Hosts that do not resolve: the check must not need to reach either service.
        DATABASE_URL="postgres://redress@db.invalid:5432/redress",
        REDIS_URL="redis://redis.invalid:6379/0",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def variables_read_by_settings() -> set[str]:
    source = (REPO / "config" / "settings.py").read_text()
    return set(
        re.findall(
            r"""(?:os\.environ\.get|env_bool|env_list|env_file|env_json_mapping)\(\s*["'](\w+)["']""",
            source,
        )
    )


def test_every_variable_settings_read_is_isolated_here_and_documented():
    read = variables_read_by_settings()
    operations_guide = (REPO / "docs" / "operations.md").read_text()

    assert read, "the pattern no longer finds how settings read the environment"
    assert read <= SETTINGS_VARIABLES
    assert sorted(name for name in read if f"`{name}`" not in operations_guide) == []


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        (
            {"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"},
            "EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL (TLS from the start) exclude each other",
        ),
        (
            {"EMAIL_HOST_USER": "redress", "EMAIL_HOST_PASSWORD": "pw"},
            "EMAIL_HOST_USER is set but neither EMAIL_USE_TLS nor EMAIL_USE_SSL",
        ),
        ({"REDRESS_EMAIL_CA_FILE": "/nonexistent/ca.pem"}, "REDRESS_EMAIL_CA_FILE: no such file"),
        ({"EMAIL_SSL_CERTFILE": "/nonexistent/client.pem"}, "EMAIL_SSL_CERTFILE: no such file"),
    ],
)
def test_unsafe_or_broken_smtp_settings_refuse_to_load(tmp_path, env, refusal):
    done = run_python(
        ["-c", "import config.settings"], tmp_path, SECRET_KEY=PRODUCTION_SECRET, **env
    )

    assert done.returncode != 0
    assert f"ImproperlyConfigured: {refusal}" in done.stderr


def test_smtp_login_over_tls_or_explicitly_in_clear_loads(tmp_path):
    dump = (
        "from config import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_USE_SSL, s.EMAIL_TIMEOUT)"
    )
    user = {"SECRET_KEY": PRODUCTION_SECRET, "EMAIL_HOST_USER": "redress"}

    for env in (
        {"EMAIL_USE_TLS": "1"},
        {"EMAIL_USE_SSL": "1"},
        {"EMAIL_ALLOW_PLAINTEXT_LOGIN": "1"},
    ):
        done = run_python(["-c", dump], tmp_path, **user, **env)
        assert done.returncode == 0, done.stderr
        # Without debug, mail goes out through the backend that knows REDRESS_EMAIL_CA_FILE.
        assert done.stdout.split()[0] == "notifications.smtp.EmailBackend"
    assert done.stdout.split()[1:] == ["False", "30.0"]


SSO_DUMP = (
    "import json; from config import settings as s; print(json.dumps([s.REDRESS_OIDC_ENABLED,"
    " s.REDRESS_OIDC_DISCOVERY_URL, s.REDRESS_OIDC_ROLE_CLAIMS, s.REDRESS_OIDC_TEAMS_CLAIM]))"
)


def test_single_sign_on_is_off_until_a_client_and_a_provider_are_set(tmp_path):
    def sso(**env):
        done = run_python(["-c", SSO_DUMP], tmp_path, SECRET_KEY=PRODUCTION_SECRET, **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    issuer = "https://id.example.com/realms/staff"
    roles = '{"complaints-agents": "agents"}'

    assert sso() == [False, "", {}, "groups"]
    assert sso(REDRESS_OIDC_ISSUER=issuer)[0] is False  # no client yet
    assert sso(
        REDRESS_OIDC_ISSUER=issuer + "/",
        REDRESS_OIDC_CLIENT_ID="redress",
        REDRESS_OIDC_ROLE_CLAIMS=roles,
    ) == [
        True,
        f"{issuer}/.well-known/openid-configuration",
        {"complaints-agents": "agents"},
        "groups",
    ]
    explicit = sso(
        REDRESS_OIDC_CLIENT_ID="redress",
        REDRESS_OIDC_AUTHORIZATION_ENDPOINT=f"{issuer}/auth",
        REDRESS_OIDC_TOKEN_ENDPOINT=f"{issuer}/token",
    )
    assert explicit[:2] == [True, ""]


@pytest.mark.parametrize("value", ['{"a": ', '["agents"]', '{"a": 1}'], ids=str)
def test_a_claim_mapping_that_is_not_a_json_object_of_strings_refuses_to_load(tmp_path, value):
    done = run_python(
        ["-c", "import config.settings"],
        tmp_path,
        SECRET_KEY=PRODUCTION_SECRET,
        REDRESS_OIDC_ROLE_CLAIMS=value,
    )

    assert done.returncode != 0
    assert "ImproperlyConfigured: REDRESS_OIDC_ROLE_CLAIMS" in done.stderr


def test_a_claim_mapped_to_no_staff_role_stops_start_up(tmp_path):
    done = run_python(
        ["manage.py", "check"],
        tmp_path,
        DJANGO_DEBUG="1",
        REDRESS_OIDC_ROLE_CLAIMS='{"complaints-agents": "agents", "everyone": "customers"}',
    )

    assert done.returncode != 0
    assert "redress.E201" in done.stderr
    assert "maps to customers, not staff roles" in done.stderr


def test_prepared_statements_are_on_unless_turned_off(tmp_path):
    url = "postgres://redress:pw@db.example.com:5432/redress"
    on = settings_for(tmp_path, SECRET_KEY=PRODUCTION_SECRET, DATABASE_URL=url)
    assert on["DATABASE"]["OPTIONS"]["prepare_threshold"] == 5
    off = settings_for(
        tmp_path,
        SECRET_KEY=PRODUCTION_SECRET,
        DATABASE_URL=url,
        REDRESS_DB_PREPARED_STATEMENTS="0",
    )
    assert off["DATABASE"]["OPTIONS"]["prepare_threshold"] is None
