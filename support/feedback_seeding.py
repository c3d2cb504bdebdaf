"""Demo survey answers for the demo tenant, so the feedback reports and comments have
something to show: CSAT of resolved demo tickets and NPS answers over the last six months,
in English and Chinese. Deterministic for a seed; safe twice (the invitations' keys)."""

import datetime
import random

from django.db import transaction
from django.utils import timezone

from crm.tenants.seeding import SeedOptions
from customers.models import Customer
from support.feedback_rules import complaint_keyword
from support.feedback_selectors import feedback_settings
from support.models import Status, Ticket
from support.models_feedback import (
    DETRACTOR_AT_MOST,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
)

_COMMENTS = {
    "good": [
        "Quick and friendly, thank you!",
        "问题很快就解决了，谢谢！",
        "",
        "",
        "Great service.",
    ],
    "bad": ["Nobody called me back.", "客服态度差，等了很久。", "I want a refund.", ""],
}


def _answer(rng: random.Random, kind: SurveyKind) -> tuple[int, str]:
    low = rng.random() < 0.2
    if kind == SurveyKind.NPS:
        score = rng.randint(0, 6) if low else rng.randint(7, 10)
    else:
        score = rng.randint(1, 2) if low else rng.randint(3, 5)
    return score, rng.choice(_COMMENTS["bad" if low else "good"])


def surveys_seed(rng: random.Random, options: SeedOptions) -> str:
    if SurveyInvitation.objects.filter(key__startswith="demo:").exists():
        return "survey answers already seeded"
    keywords = feedback_settings().complaint_keywords
    now = timezone.now()
    occasions: list[tuple[SurveyInvitation, SurveyKind, datetime.datetime]] = []
    for ticket in Ticket.objects.filter(
        status__in=[Status.RESOLVED, Status.CLOSED], customer__isnull=False
    ).order_by("id")[:200]:
        at = (ticket.resolved_at or now) + datetime.timedelta(hours=2)
        invitation = SurveyInvitation(
            kind=SurveyKind.CSAT,
            key=f"demo:ticket:{ticket.pk}",
            customer_id=ticket.customer_id,  # type: ignore[misc]  # filtered: not null
            ticket=ticket,
            agent_id=ticket.assignee_id,
            team_id=ticket.team_id,
            category=ticket.category,
            channel=ticket.channel,
        )
        occasions.append((invitation, SurveyKind.CSAT, at))
    customers = list(
        Customer.objects.filter(erased_at__isnull=True)
        .order_by("id")
        .values_list("pk", "team_id")[:400]
    )
    for pk, team_id in rng.sample(customers, min(len(customers), max(20, options.customers // 25))):
        at = now - datetime.timedelta(days=rng.randint(1, 180), minutes=rng.randint(0, 600))
        invitation = SurveyInvitation(
            kind=SurveyKind.NPS, key=f"demo:nps:{pk}", customer_id=pk, team_id=team_id
        )
        occasions.append((invitation, SurveyKind.NPS, at))
    with transaction.atomic():
        responses = []
        for invitation, kind, at in occasions:
            at = min(at, now)
            invitation.state = SurveyInvitation.State.SENT
            invitation.created_at = invitation.sent_at = at - datetime.timedelta(hours=1)
            invitation.expires_at = at + datetime.timedelta(days=14)
            invitation.answered_at = at
            score, comment = _answer(rng, kind)
            keyword = complaint_keyword(comment, keywords)
            low = score <= DETRACTOR_AT_MOST[kind]
            responses.append(
                SurveyResponse(
                    invitation=invitation,
                    kind=kind,
                    customer_id=invitation.customer_id,
                    score=score,
                    comment=comment,
                    answered_at=at,
                    detractor=low or bool(keyword),
                    detractor_reason="score" if low else keyword,
                )
            )
        SurveyInvitation.objects.bulk_create([o[0] for o in occasions])
        SurveyResponse.objects.bulk_create(responses)
    return f"{len(responses)} survey answers"
