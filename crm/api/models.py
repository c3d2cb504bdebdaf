from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User


class ApiToken(models.Model):
    """A key another system uses to call the API of this tenant (it lives in the tenant's
    schema, so it means nothing on another tenant's host). Only a SHA-256 of the secret is
    kept; the secret is shown once, when the token is made, and `prefix` lets people recognise
    it afterwards."""

    class Origin(models.TextChoices):
        # Made by an administrator on the "API tokens" page: never shows more personal data
        # than that administrator may see now (nothing, once they are deleted or deactivated).
        PAGE = "page", _("API tokens page")
        # Made with `manage.py api_token` by a platform operator: no maker in the workspace.
        COMMAND_LINE = "command_line", _("Command line")

    name = models.CharField(_("name"), max_length=100)
    # Told apart explicitly: a page-made token whose maker was deleted has no maker either.
    origin = models.CharField(_("made on"), max_length=12, choices=Origin.choices)
    scopes = ArrayField(models.CharField(max_length=20), verbose_name=_("scopes"))
    prefix = models.CharField(_("prefix"), max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(scopes=[]), name="api_token_has_a_scope"),
            models.CheckConstraint(
                condition=Q(origin="page") | Q(origin="command_line", created_by__isnull=True),
                name="api_token_origin",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_label(self) -> str:
        """How the audit log names what this token did."""
        return f"API token: {self.name}"


class IdempotentAnswer(models.Model):
    """The answer to a write sent with an Idempotency-Key, so the same key again gets it again
    without a second effect. The row is claimed in the transaction that does the work (a
    concurrent request with the same key waits on it), so only answers of work that committed
    are kept; `fingerprint` tells a retry from another request reusing the key."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="api_idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return self.key
