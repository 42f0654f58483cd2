import hashlib
import hmac
import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone
from knox.models import AbstractAuthToken


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who logs in with their email address."""

    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def memberships_by_role(self) -> list["Membership"]:
        """This user's memberships with their sites, by role then site name: read once and kept on this object
        (the request's user is loaded afresh for every request), so a page's site checks and its navigation
        share one query."""
        held = self.__dict__.get("_memberships_by_role")
        if held is None:
            held = list(self.memberships.select_related("site").order_by("role", "site__name"))
            self.__dict__["_memberships_by_role"] = held
        return held


class Site(models.Model):
    """A hospital or department. Every patient belongs to exactly one site."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    second_reader = models.BooleanField(
        default=False,
        help_text="Every AI result needs two radiologists; when they disagree, a third adjudicates",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    RADIOLOGIST = "radiologist", "Radiologist"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    """A user's role at one site. A user may belong to several sites."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="one_membership_per_site")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.site}"


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    """An admin's invitation: the only way to sign up."""

    email = models.EmailField()
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=20, choices=Role.choices)
    token = models.CharField(max_length=64, unique=True, default=_new_token, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invitation for {self.email} ({self.get_role_display()} at {self.site})"

    @property
    def expires_at(self):
        return self.created_at + timedelta(days=settings.INVITATION_VALID_DAYS)

    def is_usable(self) -> bool:
        return self.accepted_at is None and timezone.now() < self.expires_at


class AuditEvent(models.Model):
    """Who did what to which record, from where, and when.

    Rows are only inserted (by accounts.audit.audit_record); a database trigger refuses UPDATE and
    DELETE. Each row extends one of a few parallel hash chains (`chain`): its hash is an HMAC, under a key
    the database never sees (MEDSITE_AUDIT_KEY), of its contents and the hash of the chain's row before it,
    so an edit or a removal made behind the trigger's back breaks that chain, and whoever owns the database
    cannot recompute it. `manage.py verify_audit` checks the links and the signed checkpoints of the chain heads.
    """

    class Action(models.TextChoices):
        LOGIN = "login", "Logged in"
        LOGOUT = "logout", "Logged out"
        LOGIN_FAILED = "login_failed", "Failed login"
        MFA_CHANGE = "mfa_change", "Changed MFA"
        ROLE_CHANGE = "role_change", "Changed role"
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        VIEW = "view", "Viewed"
        DENIED = "denied", "Denied access"
        BREAK_GLASS = "break_glass", "Break-glass access"
        DOWNLOAD = "download", "Downloaded"
        REVIEW = "review", "Reviewed"
        ACTIVATE = "activate", "Activated model"
        ROLLBACK = "rollback", "Rolled back model"
        MODEL_STATUS = "model_status", "Changed model status"
        EXCLUDE = "exclude", "Excluded from training"
        TRAIN = "train", "Started training"
        EVALUATE = "evaluate", "Evaluated model"
        SEND = "send", "Sent to another system"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True, help_text="As written at the time")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    chain = models.PositiveSmallIntegerField(default=0, help_text="Which parallel hash chain this event extends")
    key_id = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="Fingerprint of the audit key whose HMAC links this event; empty for an unkeyed SHA-256 link "
        "(events written before migration 0008)",
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["chain", "id"], name="accounts_au_chain_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_email or '-'} {self.action} {self.object_type} {self.object_id}"

    def compute_hash(self, key: bytes | None = None) -> str:
        """The link: HMAC-SHA256 under the audit key (``key``) of the previous hash and the canonical content; an
        event written before keys (``key_id`` empty) has the unkeyed SHA-256 of the same text."""
        message = (self.prev_hash + self.canonical_content()).encode()
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def canonical_content(self) -> str:
        """What the hash covers besides the previous hash: the fields as sorted, compact JSON (ASCII only)."""
        content = {
            "at": self.at.isoformat(),
            "actor": self.actor_id,
            "actor_email": self.actor_email,
            "site": self.site_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "detail": self.detail,
            "ip": self.ip,
            "user_agent": self.user_agent,
        }
        return json.dumps(content, sort_keys=True, separators=(",", ":"))


class ApiToken(AbstractAuthToken):
    """An API token a user created for a program on /accounts/tokens/, stored only as a hash (django-rest-knox's
    SHA-512 `digest`, the primary key; `token_key` holds the first 15 characters, shown to tell tokens apart), with
    an expiry (REST_KNOX's TOKEN_TTL).

    The owner sees each token's name and when it was last used (written at most once a minute), and can revoke it.
    Authentication: accounts.backends.TokenAuthentication.
    """

    name = models.CharField(max_length=100, help_text="What the token is for, e.g. the PACS bridge")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_key}…) for {self.user}"
