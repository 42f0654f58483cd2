"""MedSite settings, read from the environment.

Fail closed: DEBUG is off unless DJANGO_DEBUG turns it on (``make run`` does), and a
production process refuses to start without DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS.
Every variable is listed, with its default, in ``.env.example``.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Runtime state (SQLite file, broker folders, media, model bundles) lives under var/.
VAR_DIR = Path(env_str("MEDSITE_VAR_DIR", str(BASE_DIR / "var")))

# The audit trail (accounts/audit.py). Each event's link is an HMAC under MEDSITE_AUDIT_KEY, a key the database
# never sees: required in production, and never DJANGO_SECRET_KEY. To rotate it, move the old key to the front of
# MEDSITE_AUDIT_OLD_KEYS (comma-separated) so that the events and checkpoints it signed still verify.
MEDSITE_AUDIT_KEY = env_str("MEDSITE_AUDIT_KEY")
if MEDSITE_AUDIT_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("MEDSITE_AUDIT_KEY must be set when DJANGO_DEBUG is off")
    MEDSITE_AUDIT_KEY = "insecure-development-audit-key-only-for-debug-mode"
MEDSITE_AUDIT_OLD_KEYS = env_list("MEDSITE_AUDIT_OLD_KEYS", [])
if not DEBUG and (len(MEDSITE_AUDIT_KEY) < 32 or MEDSITE_AUDIT_KEY == SECRET_KEY):
    raise ImproperlyConfigured("MEDSITE_AUDIT_KEY must have 32 or more characters and differ from DJANGO_SECRET_KEY")
# Signed checkpoints of the chain heads, one JSON line each, appended to this file (keep it append-only and ship
# it off the host: docs/deployment.md) every MEDSITE_AUDIT_CHECKPOINT_SECONDS by Celery beat.
MEDSITE_AUDIT_CHECKPOINT_FILE = Path(
    env_str("MEDSITE_AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit" / "checkpoints.jsonl"))
)
MEDSITE_AUDIT_CHECKPOINT_SECONDS = env_int("MEDSITE_AUDIT_CHECKPOINT_SECONDS", 300)
if not 10 <= MEDSITE_AUDIT_CHECKPOINT_SECONDS <= 86400:
    raise ImproperlyConfigured("MEDSITE_AUDIT_CHECKPOINT_SECONDS must be between 10 and 86400")
# Optionally each checkpoint also goes, as one object, to an S3 bucket created with Object Lock: written in compliance
# mode, no one can change or delete it for MEDSITE_AUDIT_CHECKPOINT_S3_RETAIN_DAYS. The endpoint and credentials are
# those of MEDSITE_S3_ENDPOINT_URL, MEDSITE_S3_REGION, MEDSITE_S3_ACCESS_KEY_ID and MEDSITE_S3_SECRET_ACCESS_KEY.
MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET = env_str("MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET")
MEDSITE_AUDIT_CHECKPOINT_S3_RETAIN_DAYS = env_int("MEDSITE_AUDIT_CHECKPOINT_S3_RETAIN_DAYS", 3650)
MEDSITE_AUDIT_CHECKPOINT_S3_CLIENT = {
    "endpoint_url": env_str("MEDSITE_S3_ENDPOINT_URL"),
    "region_name": env_str("MEDSITE_S3_REGION"),
    "aws_access_key_id": env_str("MEDSITE_S3_ACCESS_KEY_ID"),
    "aws_secret_access_key": env_str("MEDSITE_S3_SECRET_ACCESS_KEY"),
}
# Every audit event also goes to this syslog collector (RFC 5424): udp://host:514, tcp://host:601 or
# tls://host:6514 (verified against MEDSITE_AUDIT_SYSLOG_CA_FILE, or the system's CAs). Unset: not sent.
MEDSITE_AUDIT_SYSLOG_URL = env_str("MEDSITE_AUDIT_SYSLOG_URL")
MEDSITE_AUDIT_SYSLOG_CA_FILE = env_str("MEDSITE_AUDIT_SYSLOG_CA_FILE")
if MEDSITE_AUDIT_SYSLOG_URL is not None:
    _syslog = urlsplit(MEDSITE_AUDIT_SYSLOG_URL)
    try:
        _syslog_port = _syslog.port
    except ValueError:
        _syslog_port = None
    if _syslog.scheme not in ("udp", "tcp", "tls") or not _syslog.hostname or _syslog_port is None:
        raise ImproperlyConfigured(
            f"MEDSITE_AUDIT_SYSLOG_URL must look like udp://host:514, tcp://host:601 or tls://host:6514, "
            f"not {MEDSITE_AUDIT_SYSLOG_URL!r}"
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "diagnosis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.SessionRenewalMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "medsite.middleware.NoStoreMiddleware",  # Cache-Control: no-store on every signed-in response
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.RequireMFAMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "medsite.urls"
WSGI_APPLICATION = "medsite.wsgi.application"

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
            ],
        },
    },
]

# Database: SQLite under var/ by default, PostgreSQL (or any dj-database-url URL) when set.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Keep connections open between requests (opening one costs a PostgreSQL backend process each time);
        # health checks replace a connection that died, e.g. after a database restart, before it is used.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Web and worker are separate processes: WAL lets them read while the other writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# Django's and allauth's backends, each loading the request's user and its memberships in one query
# (accounts.backends).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.ModelBackend",
    "accounts.backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-allauth: login by email, sign-up by invitation only (accounts.adapter).
ACCOUNT_ADAPTER = "accounts.adapter.InvitationOnlyAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"  # the invitation link already proves the address
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
# Multi-factor login (TOTP, with recovery codes). Users holding one of these roles at any site, and
# superusers, must set up TOTP before they can use anything else (accounts.middleware).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "MedSite"
# "none" turns the requirement off (the local demo does this); users may still turn MFA on themselves.
MEDSITE_MFA_REQUIRED_ROLES = [
    role for role in env_list("MEDSITE_MFA_REQUIRED_ROLES", ["admin", "radiologist"]) if role != "none"
]
LOGIN_REDIRECT_URL = "diagnosis:start"  # the worklist for a radiologist, else the patients (views.start)
LOGIN_URL = "account_login"
INVITATION_VALID_DAYS = env_int("MEDSITE_INVITATION_VALID_DAYS", 7)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Media is never served from a URL: files go out only through the audited,
# permission-checked views in diagnosis.views. MEDIA_URL is deliberately unset.
# Local disk by default; S3-compatible object storage (AWS, MinIO, Ceph...) when MEDSITE_S3_BUCKET is set.
# Objects are private: no ACL, no public URL; the app streams them through its audited views.
MEDIA_ROOT = Path(env_str("MEDSITE_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDSITE_S3_BUCKET = env_str("MEDSITE_S3_BUCKET")
if MEDSITE_S3_BUCKET:
    MEDIA_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDSITE_S3_BUCKET,
            "endpoint_url": env_str("MEDSITE_S3_ENDPOINT_URL"),
            "region_name": env_str("MEDSITE_S3_REGION"),
            "access_key": env_str("MEDSITE_S3_ACCESS_KEY_ID"),
            "secret_key": env_str("MEDSITE_S3_SECRET_ACCESS_KEY"),
            "location": env_str("MEDSITE_S3_PREFIX", "medsite"),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "object_parameters": {"ServerSideEncryption": env_str("MEDSITE_S3_SSE", "AES256")},
        },
    }
else:
    MEDIA_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    }
STORAGES = {
    "default": MEDIA_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# Uploads
MEDSITE_MAX_UPLOAD_BYTES = env_int("MEDSITE_MAX_UPLOAD_MB", 200) * 1024 * 1024
# The DICOM receiver (manage.py dicom_listener; docs/dicom-conformance.md): simultaneous associations it accepts,
# and the largest PDU it receives, in bytes (0: no limit).
MEDSITE_DICOM_MAX_ASSOCIATIONS = env_int("MEDSITE_DICOM_MAX_ASSOCIATIONS", 10)
MEDSITE_DICOM_MAX_PDU = env_int("MEDSITE_DICOM_MAX_PDU", 65536)
# A study received over DICOM is analysed once it is complete: when the sender releases its association, or when no
# instance of it has arrived for this many seconds (a sender that keeps its association open, or aborts it).
MEDSITE_DICOM_STUDY_QUIET_SECONDS = env_int("MEDSITE_DICOM_STUDY_QUIET_SECONDS", 30)
# A radiologist who opens a study to read it claims it ("being read by" on the others' worklists); the claim lapses
# after this many minutes without a decision, so a reader who walked away does not hide the study for good.
MEDSITE_READING_CLAIM_MINUTES = env_int("MEDSITE_READING_CLAIM_MINUTES", 15)
# Results routing (docs/integration.md): each network step of a C-STORE to a destination (connect, association,
# each DIMSE message) gives up after MEDSITE_DICOM_SEND_TIMEOUT seconds; a send that failed for a passing reason
# (no answer, a transient rejection) is tried again MEDSITE_RESULT_SEND_RETRIES times, waiting 1, 2, 4... seconds
# up to RESULT_SEND_BACKOFF_MAX, then it is failed, visibly, for a person to send again. A delivery whose message
# was lost (a broker restart) is sent again once nothing has happened to it for MEDSITE_RESULT_RESEND_AFTER seconds.
MEDSITE_DICOM_SEND_TIMEOUT = env_int("MEDSITE_DICOM_SEND_TIMEOUT", 10)
if not 1 <= MEDSITE_DICOM_SEND_TIMEOUT <= 600:
    raise ImproperlyConfigured("MEDSITE_DICOM_SEND_TIMEOUT must be between 1 and 600 seconds")
MEDSITE_RESULT_SEND_RETRIES = env_int("MEDSITE_RESULT_SEND_RETRIES", 8)
if not 0 <= MEDSITE_RESULT_SEND_RETRIES <= 50:
    raise ImproperlyConfigured("MEDSITE_RESULT_SEND_RETRIES must be between 0 and 50")
RESULT_SEND_BACKOFF_MAX = 300
RESULT_SEND_TIME_LIMIT = 60 + 4 * MEDSITE_DICOM_SEND_TIMEOUT  # connect, associate, store, release
_RESULT_RESEND_AFTER_MIN = RESULT_SEND_BACKOFF_MAX + RESULT_SEND_TIME_LIMIT  # the longest wait plus a try
MEDSITE_RESULT_RESEND_AFTER = env_int("MEDSITE_RESULT_RESEND_AFTER", max(900, _RESULT_RESEND_AFTER_MIN))
if MEDSITE_RESULT_RESEND_AFTER < _RESULT_RESEND_AFTER_MIN:
    raise ImproperlyConfigured(
        f"MEDSITE_RESULT_RESEND_AFTER must be at least {_RESULT_RESEND_AFTER_MIN} seconds (the longest wait between "
        "two tries plus a try), or deliveries waiting for a retry get a second message"
    )
MEDSITE_MAX_IMAGE_PIXELS = env_int("MEDSITE_MAX_IMAGE_PIXELS", 80_000_000)
MEDSITE_MAX_IMAGE_SIDE = env_int("MEDSITE_MAX_IMAGE_SIDE", 16384)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Models: immutable bundles addressed by sha256. The demo registers the committed starter bundles (mlcore/starter),
# uses the Kermany chest X-ray folder as the chest model's learning-loop data, and trains a brain MRI model from the
# brain tumour folder when it is there.
MEDSITE_MODEL_ROOT = Path(env_str("MEDSITE_MODEL_ROOT", str(VAR_DIR / "models")))
MEDSITE_STARTER_BUNDLES = BASE_DIR / "mlcore" / "starter"
MEDSITE_STARTER_DATASET = Path(
    env_str("MEDSITE_STARTER_DATASET", str(BASE_DIR.parent / "shared" / "datasets" / "kermany-cxr-224"))
)
MEDSITE_BRAIN_DATASET = Path(
    env_str("MEDSITE_BRAIN_DATASET", str(BASE_DIR.parent / "shared" / "datasets" / "brain-tumor-mri"))
)

# Celery: Redis when CELERY_BROKER_URL is set, otherwise kombu's filesystem transport
# under var/broker, which needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_IS_FILESYSTEM = CELERY_BROKER_URL.startswith("filesystem://")
CELERY_INFERENCE_TIME_LIMIT = env_int("MEDSITE_INFERENCE_TIME_LIMIT", 300)
CELERY_TRAINING_TIME_LIMIT = env_int("MEDSITE_TRAINING_TIME_LIMIT", 4 * 3600)
if CELERY_BROKER_IS_FILESYSTEM:
    for folder in ("queue", "processed", "control"):
        (VAR_DIR / "broker" / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    # Unacknowledged tasks are redelivered after this; it must exceed the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TRAINING_TIME_LIMIT + 3600}
# Caches. Redis at MEDSITE_CACHE_URL, or at the broker's URL when the broker is Redis. "default" holds the login rate
# limits, API throttles and TOTP codes already used, for every process alike (medsite.cache: while Redis is
# unreachable, each process counts in its own memory); without Redis it is each process's own memory. "shared" holds
# the list pages' data versions (diagnosis.listings; an unreachable Redis there means pages are built from the
# database); without Redis, files under var/cache. "listings" keeps rendered worklist and study-list pages
# in each web process's own memory (they hold names and MRNs, which therefore never reach Redis) for at most
# MEDSITE_LIST_CACHE_SECONDS: people's changes show at once, workers' results within that time; 0 switches it off.
CACHE_URL = env_str("MEDSITE_CACHE_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
MEDSITE_LIST_CACHE_SECONDS = env_int("MEDSITE_LIST_CACHE_SECONDS", 5)
_REDIS_CACHE = {
    "LOCATION": CACHE_URL,
    "KEY_PREFIX": "medsite",
    "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},  # an unreachable Redis fails fast
}
CACHES = {
    "default": (
        {"BACKEND": "medsite.cache.FallbackRedisCache", **_REDIS_CACHE}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"}
    ),
    "shared": (
        {"BACKEND": "medsite.cache.RedisCache", **_REDIS_CACHE}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    ),
    "listings": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "listings",
        "OPTIONS": {"MAX_ENTRIES": 200},
    },
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Task queues (inference, training, default) are declared beside the task names in diagnosis/task_names.py, time
# limits at each task (diagnosis/tasks.py); medsite/celery.py routes by them.
# Inference: a worker that takes an image also takes up to BATCH_SIZE - 1 other waiting images of the same
# task and runs them in one forward pass. Images whose message was lost (a broker restart) or whose worker
# died are sent again by a periodic sweep (Celery beat) once they have waited REQUEUE_AFTER seconds, or
# once a worker's claim is older than the inference time limit.
MEDSITE_INFERENCE_BATCH_SIZE = env_int("MEDSITE_INFERENCE_BATCH_SIZE", 8)
MEDSITE_INFERENCE_REQUEUE_AFTER = env_int("MEDSITE_INFERENCE_REQUEUE_AFTER", 120)
MEDSITE_HEATMAP_MAX_SIDE = env_int("MEDSITE_HEATMAP_MAX_SIDE", 512)
# A training run still queued this long after its message was sent gets the message again (a broker restart can
# lose it); the retraining-due sweep below checks.
MEDSITE_TRAINING_RESEND_AFTER = env_int("MEDSITE_TRAINING_RESEND_AFTER", 900)
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-inference": {
        "task": "diagnosis.tasks.requeue_stalled_inference_task",
        "schedule": env_int("MEDSITE_INFERENCE_SWEEP_SECONDS", 60),
    },
    # Studies received over DICOM that went quiet (the receiver checks too; this covers a receiver that stopped).
    "release-quiet-dicom-studies": {
        "task": "diagnosis.tasks.release_quiet_studies_task",
        "schedule": max(5, MEDSITE_DICOM_STUDY_QUIET_SECONDS // 2),
    },
    # Result deliveries still pending whose message was lost, or whose worker died while sending.
    "requeue-stalled-deliveries": {
        "task": "diagnosis.tasks.requeue_stalled_deliveries_task",
        "schedule": 60,
    },
    # Starts a training run for each task whose retraining queue reached its policy's retrain_after.
    "retraining-due": {
        "task": "diagnosis.tasks.retraining_due_task",
        "schedule": env_int("MEDSITE_RETRAINING_CHECK_SECONDS", 300),
    },
    # The API's Idempotency-Key answers are kept 24 hours (diagnosis.services.idempotency).
    "purge-idempotency-records": {
        "task": "diagnosis.tasks.purge_idempotency_records_task",
        "schedule": 3600,
    },
    # A signed line with each audit chain's head, appended to MEDSITE_AUDIT_CHECKPOINT_FILE.
    "audit-checkpoint": {
        "task": "accounts.tasks.audit_checkpoint_task",
        "schedule": MEDSITE_AUDIT_CHECKPOINT_SECONDS,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The filesystem transport has no broadcast: no remote control (run the worker
# with --without-gossip --without-mingle, as `make run` does).
CELERY_WORKER_ENABLE_REMOTE_CONTROL = not CELERY_BROKER_IS_FILESYSTEM

# REST API
# API tokens (django-rest-knox): stored as SHA-512 digests, each with an expiry; see accounts.ApiToken.
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own migrations create its AuthToken table even though accounts.ApiToken replaces it (they ignore the swap),
# and that unused table's key to accounts_user breaks the flush after every transactional test. Without them no
# table is made for the swapped model; accounts 0009 drops the one that earlier migrations made.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env_int("MEDSITE_API_TOKEN_TTL_DAYS", 90)),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_MODEL": "accounts.ApiToken",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.backends.TokenAuthentication",  # accounts.ApiToken (hashed, expiring): token, user, memberships
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ?page_size= up to 200; a page past the end is empty (see diagnosis.api.pagination)
    "DEFAULT_PAGINATION_CLASS": "diagnosis.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # An unknown query parameter or ordering is a 400; ?search= only where a view sets search_fields with SearchFilter.
    "DEFAULT_FILTER_BACKENDS": [
        "diagnosis.filters.KnownParametersFilter",
        "django_filters.rest_framework.DjangoFilterBackend",
        "diagnosis.filters.StrictOrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "medsite.throttling.AnonRateThrottle",
        "medsite.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("MEDSITE_API_THROTTLE_ANON", "60/min"),
        "user": env_str("MEDSITE_API_THROTTLE_USER", "3000/min"),
    },
    # Every error under /api/ is an RFC 9457 problem (application/problem+json). A 401 (no credentials, a bad,
    # expired or refused token) counts against the client address; 429 past "anon".
    "EXCEPTION_HANDLER": "medsite.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MedSite API",
    "DESCRIPTION": "Patients, studies, image uploads, AI predictions and radiologist reviews.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "StudyStatusEnum": "diagnosis.models.Study.Status",
        "ImageStatusEnum": "diagnosis.models.Image.Status",
        "ModelVersionStatusEnum": "diagnosis.models.ModelVersion.Status",
    },
    # Each operation's error responses, as the one problem+json shape (medsite/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "medsite.schema.problem_responses"],
}

# Email (invitations). Console in development; SMTP settings from the environment otherwise.
EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "medsite@localhost")

# Security. Production defaults are strict; a TLS-terminating proxy must set
# DJANGO_SECURE_PROXY_SSL_HEADER=true so Django sees the original scheme.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_ENGINE = "accounts.sessions"  # Django's database sessions, read with one fixed statement
# Sessions end after this much inactivity: accounts.middleware.SessionRenewalMiddleware renews a signed-in
# session (and its cookie) at most once a minute.
SESSION_COOKIE_AGE = env_int("MEDSITE_SESSION_IDLE_MINUTES", 30) * 60
MEDSITE_SESSION_RENEW_SECONDS = 60
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated). The client address
# (audit trail, login rate limits, API throttles) is the first one from the right that is not one of them.
MEDSITE_TRUSTED_PROXIES = env_list("MEDSITE_TRUSTED_PROXIES", [])
for _proxy in MEDSITE_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"MEDSITE_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network") from None

if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Logging: to stderr; patient identifiers are never logged (log primary keys only).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
