from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, Group, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts import capabilities, roles
from crm.accounts.capabilities import CAPABILITIES


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        # People type their address in any case; it is stored lower-cased.
        return self.get(email=(username or "").strip().lower())

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def create_tenant_owner(self, email: str, password: str | None, full_name: str = "") -> "User":
        """The first admin of a new tenant. Without a password they set one from an email link."""
        user, _created = self.get_or_create(
            email=self.normalize_email(email).lower(),
            defaults={"full_name": full_name},
        )
        if password:
            user.set_password(password)
        elif not user.has_usable_password():
            user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=roles.ADMIN))
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in: staff in a tenant's schema, platform operators in the public one."""

    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        help_text=_("Leave empty to use the workspace's language."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("Django admin access"),
        default=False,
        help_text=_("May open the Django admin pages."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="user_email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def role_names(self) -> list[str]:
        return [group.name for group in self.groups.all()]

    @property
    def is_tenant_admin(self) -> bool:
        return self.has_perm(capabilities.perm(capabilities.ADMINISTER))


class Capability(models.Model):
    """Holds no rows: it exists so the capabilities have Django permissions to attach to roles."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [(codename, str(label)) for codename, label, _help in CAPABILITIES]

    def __str__(self) -> str:
        return "capability"


class RecordScope(models.TextChoices):
    ALL = "all", _("All customers and tickets")
    TEAM = "team", _("Customers and tickets owned by the user or the user's teams")
    OWN = "own", _("Only customers and tickets owned by the user")


class RoleProfile(models.Model):
    """What a role (an auth Group) adds to the group: its record scope and description."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="profile")
    description = models.CharField(_("description"), max_length=300, blank=True)
    scope = models.CharField(
        _("record scope"), max_length=10, choices=RecordScope.choices, default=RecordScope.ALL
    )
    is_preset = models.BooleanField(_("preset"), default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["all", "team", "own"]), name="roleprofile_scope_known"
            )
        ]

    def __str__(self) -> str:
        return self.group.name


class Team(models.Model):
    """A group of staff; records owned by a team are in scope for its members."""

    name = models.CharField(_("name"), max_length=100)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="team_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """A single-use, expiring link for a new staff member. Only a hash of the token is kept."""

    email = models.EmailField(_("email"))
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    role = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+")
    teams = models.ManyToManyField(Team, blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open invitation per address.
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class AuditEntry(models.Model):
    """Who did what to which record, with before and after values.

    Row changes are written by database triggers (so bulk writes are caught too); sign-ins,
    exports and the like by crm.accounts.audit. The table is append-only: a trigger refuses
    UPDATE, DELETE and TRUNCATE."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=32, db_index=True)
    table_name = models.CharField(max_length=63, blank=True, db_index=True)
    record_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["table_name", "record_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.table_name}:{self.record_id}"
