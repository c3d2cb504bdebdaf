"""Dynamic segments: a named set of rules over customers (analytics.segment_rules), its
materialised membership, and what each refresh changed (who joined, who left).

Membership rows name customers by id without a foreign key: they are derived data, rebuilt at
every refresh, and must never stop a merge, an erasure or an import's undo from removing a
customer (a stale id simply matches no customer until the next refresh drops it)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # {"join": "and"|"or", "groups": [{"join": ..., "conditions": [{"field", "op", "value"}]}]}
    rules = models.JSONField(_("rules"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Set by each refresh of the membership (analytics.segment_services).
    refreshed_at = models.DateTimeField(_("refreshed"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("members"), default=0)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="segment_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    customer_id = models.BigIntegerField()
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer_id"], name="segment_member_unique"
            ),
        ]
        indexes = [models.Index(fields=["customer_id"], name="segment_member_customer")]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.customer_id}"


class SegmentRefresh(models.Model):
    """One refresh of one segment's membership: when, for which as-of date, and its counts."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="refreshes")
    at = models.DateTimeField(_("refreshed"), default=timezone.now)
    as_of = models.DateField(_("as of"))
    members = models.PositiveIntegerField(_("members"))
    joined = models.PositiveIntegerField(_("joined"))
    left = models.PositiveIntegerField(_("left"))

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["segment", "-at"], name="segment_refresh_at")]

    def __str__(self) -> str:
        return f"{self.segment_id} @ {self.at:%Y-%m-%d %H:%M}"


class SegmentChange(models.Model):
    """A customer joining (joined=True) or leaving a segment at a refresh."""

    refresh = models.ForeignKey(SegmentRefresh, on_delete=models.CASCADE, related_name="changes")
    customer_id = models.BigIntegerField()
    joined = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(
                fields=["refresh", "joined", "customer_id"], name="segment_change_refresh"
            ),
            models.Index(fields=["customer_id"], name="segment_change_customer"),
        ]

    def __str__(self) -> str:
        return f"{'+' if self.joined else '-'}{self.customer_id}"
