"""Demo survey answers for the demo tenant, so the feedback reports and comments have
something to show: CSAT of resolved demo tickets and NPS answers over the last six months,
in English and Chinese. Deterministic for a seed; safe twice (the invitations' keys)."""

import datetime
import random

from django.db import transaction
from django.utils import timezone

from crm.accounts.models import User
from crm.tenants.seeding import SeedOptions
from customers.models import Customer
from support import sla
from support.feedback_rules import complaint_keyword
from support.feedback_selectors import feedback_settings
from support.feedback_services import survey_follow_up_open
from support.models import Status, Ticket, TicketMessage
from support.models_feedback import (
    DETRACTOR_AT_MOST,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
)
from support.services import ticket_reply, ticket_status_set

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
        follow_ups = _follow_ups(rng, [r for r in responses if r.detractor], now)
    return f"{len(responses)} survey answers, {follow_ups} follow-up tickets"


def _follow_ups(
    rng: random.Random, detractors: list[SurveyResponse], now: datetime.datetime
) -> int:
    """Each detractor's follow-up ticket, as the answer would have opened it (the same service),
    opened when they answered; those of more than two days ago were answered and resolved."""
    from support.seeding import demo_responder, ticket_lived, ticket_opened_at

    agents = list(User.objects.filter(is_active=True, groups__name="Agent").order_by("id"))
    calendar = sla.calendar_load()
    opened = 0
    for n, response in enumerate(detractors):
        ticket = survey_follow_up_open(actor=None, response=response)
        if ticket is None:
            continue
        opened += 1
        ticket_opened_at(ticket, response.answered_at, calendar)
        if response.answered_at > now - datetime.timedelta(days=2):
            continue
        responder = demo_responder(ticket, agents, n)
        ticket_reply(actor=responder, ticket=ticket, body=_FOLLOW_UP_REPLY)
        ticket_status_set(actor=responder, ticket=ticket, status=Status.RESOLVED)
        ticket_lived(ticket, rng, now)
    # Demo replies are history, never emailed: their send tasks find nothing pending.
    TicketMessage.objects.filter(
        ticket__survey_response__in=detractors, delivery=TicketMessage.Delivery.PENDING
    ).update(delivery=TicketMessage.Delivery.NONE)
    return opened


_FOLLOW_UP_REPLY = "Thank you for telling us. I am sorry it went wrong; here is what we have done."
