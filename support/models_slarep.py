"""SLA overrides: faster (or slower) targets for the customers a customer-list filter picks,
such as loyalty's tier or analytics' segment, and the targets each ticket was given.

An override names a filter registered with customers.list_columns (its key) and a value that
filter's own form field accepts; support never imports the app that registered it. Targets
are per priority, in business minutes, like SlaPolicy's; a priority without a row here falls
back to SlaPolicy for that override."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from support.models import Priority, Ticket


class SlaOverride(models.Model):
    name = models.CharField(_("name"), max_length=100)
    # customers.list_columns.ListFilter.key, and the raw value its field cleans (re-cleaned
    # whenever the override is read: a tier deleted since is "no longer valid", not an error).
    filter_key = models.CharField(_("customer filter"), max_length=50)
    filter_value = models.CharField(_("value"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["filter_key", "filter_value"], name="slaoverride_filter_once"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="slaoverride_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class SlaOverrideTarget(models.Model):
    override = models.ForeignKey(SlaOverride, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(_("first response (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (business minutes)"))

    class Meta:
        ordering = ["override_id", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["override", "priority"], name="slaoverridetarget_priority_once"
            ),
            models.CheckConstraint(
                condition=Q(first_response_minutes__gt=0, resolution_minutes__gt=0),
                name="slaoverridetarget_targets_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.override_id} {self.priority}"


class TicketSla(models.Model):
    """The targets a ticket's due moments were computed from, and where they came from (an
    override, or the priority's standard policy when `override_name` is blank). Kept when the
    clock resumes or the ticket reopens, so a target changed since does not move its dues;
    decided again when the ticket's customer or priority changes."""

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, primary_key=True, related_name="sla_applied"
    )
    override = models.ForeignKey(
        SlaOverride, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The override's name when it was applied (the override may be renamed or removed later).
    override_name = models.CharField(max_length=100, blank=True)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    decided_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.override_name or 'standard'}"
