"""The customer's RFM segment and churn flags beside a support ticket's conversation
(support.customer_context), registered from AnalyticsConfig.ready: one JSON subquery each in
the ticket page's side query, no query of their own."""

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from analytics.churn_rules import flags_shown
from analytics.models import RfmScore
from analytics.models_churn import ChurnScore
from analytics.rfm_map import segment_label
from support.customer_context import TicketContextItem, ticket_context_register


def _segments(customer_ids: list[int]) -> QuerySet[Any]:
    return RfmScore.objects.filter(customer_id__in=customer_ids).values("customer_id", "segment")


def _segment(row: Mapping[str, Any]) -> str:
    return segment_label(str(row["segment"] or ""))


def _churn(customer_ids: list[int]) -> QuerySet[Any]:
    return ChurnScore.objects.filter(customer_id__in=customer_ids).values("customer_id", "flags")


def _flags(row: Mapping[str, Any]) -> str:
    # A customer without a flag shows no line: the panel names risks, not their absence.
    return ", ".join(flag.label for flag in flags_shown(row["flags"] or []))


def register() -> None:
    ticket_context_register(
        TicketContextItem("analytics.segment", _("Segment"), _segments, _segment, position=30)
    )
    ticket_context_register(
        TicketContextItem("analytics.churn", _("Churn risk"), _churn, _flags, position=40)
    )
