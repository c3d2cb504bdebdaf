"""One settings module for every deploy; every deploy-specific value comes from the environment.

Development defaults work on a machine with PostgreSQL and Redis on localhost. Production sets
DJANGO_DEBUG=0, DJANGO_SECRET_KEY, CRM_BASE_DOMAIN, DATABASE_URL, REDIS_URL and EMAIL_URL.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from crm.lib.env import env_bool, env_int, env_list, env_str, parse_email_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-0123456789abcdefghijklmnop"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")

# Tenants live at <slug>.<base domain>; the bare base domain is the platform console.
CRM_BASE_DOMAIN = env_str("CRM_BASE_DOMAIN", "localhost").lower()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [CRM_BASE_DOMAIN, f".{CRM_BASE_DOMAIN}"])
# Scheme and port used in links we send by email (password resets, invitations).
CRM_PUBLIC_SCHEME = env_str("CRM_PUBLIC_SCHEME", "http" if DEBUG else "https")
CRM_PUBLIC_PORT = env_str("CRM_PUBLIC_PORT", "8000" if DEBUG else "")

# --- applications -------------------------------------------------------------------------
# auth, sessions, contenttypes, admin and accounts are in both lists: platform operators live in
# the public schema, each tenant's staff in its own, and sessions always beside their users.
SHARED_APPS = [
    "django_tenants",
    "crm.tenants",
    "crm.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",  # intcomma: large figures grouped as the language writes them
    "ninja",  # the API's docs page: its template and static files (crm.api)
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]
TENANT_APPS = [
    "crm.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    # Sign-in security lives beside the users it protects: lockouts and two-factor devices of a
    # tenant's staff in its schema, the operators' in public.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "import_export",  # the Django admin's exports (crm/accounts/admin_site.py)
    "customers",
    "crm.transfer",
    "support",
    "loyalty",
    "analytics",
    "crm.api",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
# One `SET search_path` per connection and tenant instead of one before every cursor (4 round
# trips fewer on a list page). Safe with django-tenants >= 4.0.1 (pyproject): it forgets the
# path it set on set_tenant, close, rollback and savepoint rollback, since PostgreSQL undoes a
# SET inside a transaction that rolls back (tests/tenants/test_search_path.py holds it to that).
TENANT_LIMIT_SET_CALLS = True
PUBLIC_SCHEMA_URLCONF = "crm.urls_public"
ROOT_URLCONF = "crm.urls_tenant"
# New tenants are cloned from this schema (crm/tenants/cloning.py); migrate_schemas keeps it
# current because it is a tenant row.
CRM_TEMPLATE_SCHEMA = "tenant_template"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"  # the home page of either site
LOGOUT_REDIRECT_URL = "accounts:login"

MIDDLEWARE = [
    "crm.tenants.lookup.CachedTenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "crm.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "crm.tenants.middleware.TenantAvailabilityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.middleware.PrivateResponseMiddleware",
    "crm.accounts.middleware.SessionTenantBindingMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "crm.accounts.middleware.TwoFactorMiddleware",
    "crm.accounts.audit.AuditActorMiddleware",
    "crm.accounts.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into our lockout page.
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.site",
            ],
            # `{% url %}` answers remembered per process (the navigation's links on every page).
            "builtins": ["crm.lib.url_tag"],
            "libraries": {"memo": "crm.lib.memo_tag"},
        },
    },
]

# `{% memo %}` blocks (the page frame) are drawn anyway and compared with what was remembered:
# a value missing from a block's key then fails a test instead of showing one reader another's.
TEMPLATE_MEMO_VERIFY = env_bool("TEMPLATE_MEMO_VERIFY", DEBUG)

WSGI_APPLICATION = "crm.wsgi.application"

# --- data stores --------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        engine="django_tenants.postgresql_backend",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# JIT off: our queries are short and index-driven, and PostgreSQL's JIT compiled any whose
# estimated cost passed jit_above_cost, spending 20 ms compiling a 12 ms search (customer list,
# phone digits, docs/benchmarks.md). Reports that scan whole tables still run fine without it.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME", "test_crm")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "crm.lib.cache.ReusedClientRedisCache",
        "LOCATION": REDIS_URL,
        # Keys carry the schema name so one tenant can never read another's cache entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "crm"),
    }
}

# How long a rendered page of the customer list is kept (customers.list_cache). Any change to
# what it shows moves the data version in its key first; this only bounds how long an unused
# page takes up memory. 0 turns the cache off.
CUSTOMER_LIST_CACHE_SECONDS = env_int("CUSTOMER_LIST_CACHE_SECONDS", 600)

# --- JSON API (crm.api) ----------------------------------------------------------------------
# Requests one token may make per window (fixed window, counted in Redis); over it: 429.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 120)
API_RATE_WINDOW_SECONDS = env_int("API_RATE_WINDOW_SECONDS", 60)
# Bodies above this are refused with a 400 before they are read or parsed.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024)

# --- background jobs ----------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "crm")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"

# --- sessions, passwords, security --------------------------------------------------------
# Sessions are rows in each tenant's schema, read through Redis: one query fewer a request.
# Cache keys carry the schema (CACHES' KEY_FUNCTION), as the rows do.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24 * 3
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list(
    "DJANGO_PASSWORD_HASHERS",
    [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ],
)

# --- sign-in security (crm/accounts/lockout.py, security.py) -----------------------------
# django-axes refuses sign-ins for an email from one client address after repeated failures.
# Its attempts table is in every schema, so a tenant's failures never lock anyone out elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm.accounts.backends.PermissionBackend",
]
# Password reset links one email address may ask for from one address, and one address for any
# email, within the window (crm.accounts.reset_limit).
PASSWORD_RESET_PER_EMAIL = env_int("PASSWORD_RESET_PER_EMAIL", 5)
PASSWORD_RESET_PER_IP = env_int("PASSWORD_RESET_PER_IP", 20)
PASSWORD_RESET_WINDOW_SECONDS = env_int("PASSWORD_RESET_WINDOW_SECONDS", 60 * 60)
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_USERNAME_FORM_FIELD = "username"
# The form lower-cases the email; these make axes key on that same email and on the address
# the audit log records, and answer a lockout with our own page.
AXES_USERNAME_CALLABLE = "crm.accounts.lockout.username_for"
AXES_CLIENT_IP_CALLABLE = "crm.accounts.lockout.client_ip_for"
AXES_LOCKOUT_CALLABLE = "crm.accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# The audit log already records every sign-in; axes keeps only what lockouts need.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no start-up banner in every manage.py command's output
# Two-factor sign-in (TOTP apps, with django-otp static tokens as recovery codes) is required
# by crm.accounts.middleware.TwoFactorMiddleware; see crm.accounts.security for who needs it.

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = False
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Off only for plain-http trials on localhost (docker compose); never in a real deploy.
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    CSRF_TRUSTED_ORIGINS = env_list(
        "DJANGO_CSRF_TRUSTED_ORIGINS",
        [f"https://{CRM_BASE_DOMAIN}", f"https://*.{CRM_BASE_DOMAIN}"],
    )

# Strict CSP: everything, scripts and styles included, comes from our own static files.
CRM_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)

# --- mail ---------------------------------------------------------------------------------
_email = parse_email_url(env_str("EMAIL_URL", "console://"))
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
EMAIL_FILE_PATH = _email.file_path
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"CRM <no-reply@{CRM_BASE_DOMAIN}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- i18n ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "crm_language"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Uploaded import files, rejected-row reports and finished exports: one folder per tenant
# schema, outside STATIC/MEDIA, served only through permission-checking views.
CRM_PRIVATE_MEDIA_ROOT = Path(env_str("CRM_PRIVATE_MEDIA_ROOT", str(BASE_DIR / "var" / "private")))
CRM_IMPORT_MAX_BYTES = env_int("CRM_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
# Support email (issue 16): an inbound mail's size, attachments' size and count per message.
CRM_INBOUND_MAIL_MAX_BYTES = env_int("CRM_INBOUND_MAIL_MAX_BYTES", 25 * 1024 * 1024)
CRM_ATTACHMENT_MAX_BYTES = env_int("CRM_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
CRM_ATTACHMENT_MAX_COUNT = env_int("CRM_ATTACHMENT_MAX_COUNT", 10)
# The domain of our replies' Message-IDs: an inbound mail carrying one is our own (a loop).
CRM_MAIL_ID_DOMAIN = env_str("CRM_MAIL_ID_DOMAIN", f"mail.{CRM_BASE_DOMAIN}")
# Data rows (2,000,000 so the 1,000,000-order benchmark fits with room) and columns an import
# file may have; an XLSX declaring more rows is refused before any row is read.
CRM_IMPORT_MAX_ROWS = env_int("CRM_IMPORT_MAX_ROWS", 2_000_000)
CRM_IMPORT_MAX_COLUMNS = env_int("CRM_IMPORT_MAX_COLUMNS", 200)
# Above this many rows an import's dry run and commit, or an export, run in a worker.
CRM_TRANSFER_INLINE_ROWS = env_int("CRM_TRANSFER_INLINE_ROWS", 2000)
# ... and only when the file (an XLSX: its sheet's XML) is at most this large: the rows of a
# file this small are counted, not estimated, before the work is placed.
CRM_TRANSFER_INLINE_BYTES = env_int("CRM_TRANSFER_INLINE_BYTES", 1024 * 1024)
CRM_IMPORT_UNDO_DAYS = 30
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failures and lockouts are warnings; axes logs every successful sign-in at INFO.
        "axes": {"level": "WARNING"},
    },
}
