"""Saved views of the ticket queues: a queue and its filters under a name, the agent's own or
shared with everyone (support.saved_view_services decides who may share)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User


class TicketSavedView(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="saved_ticket_views")
    name = models.CharField(_("name"), max_length=100)
    # The queue page's query string (queue and filters), without the page's cursor.
    query = models.CharField(_("query"), max_length=1000, blank=True)
    shared = models.BooleanField(_("shared with everyone"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="ticketsavedview_name_per_user")
        ]
        indexes = [
            models.Index(
                fields=["name"], name="ticketsavedview_shared", condition=models.Q(shared=True)
            )
        ]

    def __str__(self) -> str:
        return self.name
