"""Every write of feedback surveys: settings, NPS sends, deciding who is asked (the claim),
claiming an invitation for sending, answering, and the follow-up ticket of a detractor.

Deciding and sending are two steps. Deciding (`survey_invitations_decide`) writes one
invitation per customer and occasion under a unique key, and claims the customer against
survey fatigue in the same statement-level way: an upsert of SurveyContact that only moves
the last-surveyed moment on when it is older than the window. Sending
(`survey_invitation_claim`) turns a pending invitation into a sent one with a fresh token in
one conditional UPDATE; only the claimer mails the link (support.feedback_mail)."""

import datetime
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.columns import text_error
from crm.transfer.exporting import InvalidFilter
from customers.services import timeline_event_add
from support.feedback_rules import complaint_keyword, skip_reason, survey_language
from support.feedback_selectors import (
    CHUNK,
    audience,
    contact_facts,
    external_ids_parse,
    feedback_settings,
    token_hash,
)
from support.models import Channel, Kind, Priority, Status, Ticket
from support.models_feedback import (
    DETRACTOR_AT_MOST,
    SCALES,
    FeedbackSettings,
    SurveyContact,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveySend,
)

# --- settings -------------------------------------------------------------------------------


@writes
@transaction.atomic
def feedback_settings_save(
    *,
    actor: User | None,
    csat_on_resolve: bool,
    ces_on_resolve: bool,
    resolve_delay_minutes: int,
    expiry_days: int,
    fatigue_days: int,
    complaint_keywords: Sequence[str],
) -> FeedbackSettings:
    errors = {}
    if not 0 <= resolve_delay_minutes <= 30 * 24 * 60:
        errors["resolve_delay_minutes"] = _("Between 0 minutes and 30 days.")
    if not 1 <= expiry_days <= 365:
        errors["expiry_days"] = _("Between 1 and 365 days.")
    if not 0 <= fatigue_days <= 365:
        errors["fatigue_days"] = _("Between 0 and 365 days.")
    keywords = sorted({k.strip()[:50] for k in complaint_keywords if k.strip()}, key=str.casefold)
    for keyword in keywords:
        error = text_error(keyword, 50)
        if error:
            errors["complaint_keywords"] = error
    if len(keywords) > 200:
        errors["complaint_keywords"] = _("At most 200 keywords.")
    if errors:
        raise ValidationError(errors)
    settings = FeedbackSettings.objects.select_for_update().get(pk=feedback_settings().pk)
    was_on = settings.csat_on_resolve or settings.ces_on_resolve
    if (csat_on_resolve or ces_on_resolve) and not was_on:
        # Tickets resolved while surveys were off are not surveyed now.
        settings.on_resolve_since = timezone.now()
    settings.csat_on_resolve = csat_on_resolve
    settings.ces_on_resolve = ces_on_resolve
    settings.resolve_delay_minutes = resolve_delay_minutes
    settings.expiry_days = expiry_days
    settings.fatigue_days = fatigue_days
    settings.complaint_keywords = keywords
    settings.save()
    return settings


# --- deciding who is asked ------------------------------------------------------------------


@dataclass(frozen=True)
class Occasion:
    """One customer to ask on one occasion, with what the answer is reported by."""

    customer_id: int
    key: str
    kind: str
    ticket_id: int | None = None
    send_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    category: str = ""
    channel: str = ""
    with_effort: bool = False


def _tenant_language() -> str:
    from crm.lib.tenancy import current_schema
    from crm.tenants.models import Tenant

    language = (
        Tenant.objects.filter(schema_name=current_schema())
        .values_list("language", flat=True)
        .first()
    )
    return language or "en"


def _fatigue_claim(customer_ids: list[int], now: datetime.datetime, fatigue_days: int) -> set[int]:
    """Claim the customers not surveyed within the window, in one statement: the upsert only
    moves `last_at` on where it is older than the window, and returns the rows it wrote. A
    concurrent claimer of the same customer waits on the row and then finds it too recent."""
    if not customer_ids:
        return set()
    table = SurveyContact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (customer_id, last_at)"
            " SELECT unnest(%s::bigint[]), %s"
            " ON CONFLICT (customer_id) DO UPDATE SET last_at = EXCLUDED.last_at"
            f" WHERE {table}.last_at <= %s"
            " RETURNING customer_id",
            [sorted(customer_ids), now, now - datetime.timedelta(days=fatigue_days)],
        )
        return {row[0] for row in cursor.fetchall()}


@writes
@transaction.atomic
def survey_invitations_decide(
    *, actor: User | None, occasions: Sequence[Occasion], now: datetime.datetime | None = None
) -> list[int]:
    """Write the invitation of every occasion not decided yet: pending for a customer who
    may be asked (email consent, an email, not erased) and whom the fatigue claim won, else
    skipped with the reason. Returns the ids of the new pending invitations. Safe to repeat:
    the key's unique constraint and the fatigue claim decide, not a read before."""
    now = now or timezone.now()
    if not occasions:
        return []
    settings = feedback_settings()
    customer_ids = sorted({o.customer_id for o in occasions})
    decided = set(
        SurveyInvitation.objects.filter(key__in={o.key for o in occasions}).values_list(
            "key", flat=True
        )
    )
    fresh = [o for o in occasions if o.key not in decided]
    facts = {f.customer_id: f for f in contact_facts(customer_ids)}
    askable = [o for o in fresh if not skip_reason(facts.get(o.customer_id))]
    claimed = _fatigue_claim(sorted({o.customer_id for o in askable}), now, settings.fatigue_days)
    tenant_language = _tenant_language()
    rows = []
    taken: set[int] = set()
    for occasion in fresh:
        fact = facts.get(occasion.customer_id)
        reason = skip_reason(fact)
        if not reason and (occasion.customer_id not in claimed or occasion.customer_id in taken):
            # Lost the fatigue claim (or a second occasion for the same customer in this
            # batch: one survey is enough).
            reason = SurveyInvitation.Skip.FATIGUE
        if not reason:
            taken.add(occasion.customer_id)
        rows.append(
            SurveyInvitation(
                kind=occasion.kind,
                key=occasion.key,
                customer_id=occasion.customer_id,
                ticket_id=occasion.ticket_id,
                send_id=occasion.send_id,
                agent_id=occasion.agent_id,
                team_id=occasion.team_id if occasion.team_id else (fact.team_id if fact else None),
                category=occasion.category,
                channel=occasion.channel,
                with_effort=occasion.with_effort,
                email=fact.email if fact and not reason else "",
                language=survey_language(
                    language=fact.language if fact else "",
                    name=fact.name if fact else "",
                    tenant_language=tenant_language,
                ),
                state=SurveyInvitation.State.SKIPPED if reason else SurveyInvitation.State.PENDING,
                skip_reason=reason,
                created_at=now,
            )
        )
    # A key a concurrent run wrote first is left to it (that run also won the fatigue claim).
    # ignore_conflicts gives no ids: the pending rows this call wrote are read back.
    SurveyInvitation.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        SurveyInvitation.objects.filter(
            customer_id__in=list(taken),
            key__in={o.key for o in fresh},
            state=SurveyInvitation.State.PENDING,
            created_at=now,
        ).values_list("pk", flat=True)
    )


def _resolved_tickets_due(settings: FeedbackSettings, now: datetime.datetime) -> list[Ticket]:
    cutoff = now - datetime.timedelta(minutes=settings.resolve_delay_minutes)
    # A week back at most: a worker that was down for a day still catches up, a ticket
    # resolved months ago is not surveyed.
    floor = max(settings.on_resolve_since, cutoff - datetime.timedelta(days=7))
    return list(
        Ticket.objects.filter(
            status__in=[Status.RESOLVED, Status.CLOSED],
            resolved_at__lte=cutoff,
            resolved_at__gte=floor,
            customer__isnull=False,
            merged_into__isnull=True,
        )
        .exclude(Exists(SurveyInvitation.objects.filter(ticket=OuterRef("pk"))))
        .only("id", "customer_id", "assignee_id", "team_id", "category", "channel")
        .order_by("resolved_at", "id")[:CHUNK]
    )


@dataclass(frozen=True)
class OnResolveRound:
    tickets: int  # tickets decided in this round (0: none is due)
    pending: list[int]  # the invitations to send


@writes
@transaction.atomic
def surveys_on_resolve_decide(
    *, actor: User | None, now: datetime.datetime | None = None
) -> OnResolveRound:
    """The CSAT (or CES) invitations of tickets resolved at least the settings' delay ago
    (one chunk). The ticket is the occasion: each is surveyed at most once, even when it is
    reopened and resolved again."""
    now = now or timezone.now()
    settings = feedback_settings()
    if not (settings.csat_on_resolve or settings.ces_on_resolve):
        return OnResolveRound(0, [])
    kind = SurveyKind.CSAT if settings.csat_on_resolve else SurveyKind.CES
    occasions = [
        Occasion(
            customer_id=t.customer_id,  # type: ignore[arg-type]
            key=f"ticket:{t.pk}",
            kind=kind,
            ticket_id=t.pk,
            agent_id=t.assignee_id,
            team_id=t.team_id,
            category=t.category,
            channel=t.channel,
            with_effort=settings.csat_on_resolve and settings.ces_on_resolve,
        )
        for t in _resolved_tickets_due(settings, now)
    ]
    pending = survey_invitations_decide(actor=actor, occasions=occasions, now=now)
    return OnResolveRound(len(occasions), pending)


# --- NPS sends ------------------------------------------------------------------------------


@writes
@transaction.atomic
def survey_send_create(
    *, actor: User | None, name: str, audience_query: str, external_ids: str
) -> SurveySend:
    """An NPS send to the customer list's filter (its query string) or to pasted external
    ids; planned and sent by workers after commit (support.feedback_tasks)."""
    name = name.strip()
    errors = {}
    if not name:
        errors["name"] = _("Give the send a name.")
    error = text_error(name, 100)
    if error:
        errors["name"] = error
    if errors:
        raise ValidationError(errors)
    if external_ids.strip() and not external_ids_parse(external_ids):
        raise ValidationError({"external_ids": _("No external ids found.")})
    try:
        audience(actor, audience_query=audience_query, external_ids=external_ids).exists()
    except InvalidFilter as exc:
        raise ValidationError({"audience_query": str(exc)}) from None
    send = SurveySend.objects.create(
        kind=SurveyKind.NPS,
        name=name,
        audience_query=audience_query if not external_ids.strip() else "",
        external_ids="\n".join(external_ids_parse(external_ids)),
        created_by=actor,
    )
    from support.feedback_tasks import survey_send_plan_task

    transaction.on_commit(lambda: survey_send_plan_task.delay(send.pk))
    return send


@writes
@transaction.atomic
def survey_send_plan(*, actor: User | None, send: SurveySend) -> list[list[int]]:
    """Resolve the send's audience as its creator sees it now and split it into chunks of
    about 500 customers; returns the chunks (the task hands each to a worker). Only a queued
    send is planned, so a redelivered task plans nothing twice."""
    send = SurveySend.objects.select_for_update().get(pk=send.pk)
    if send.status != SurveySend.Status.QUEUED:
        return []
    creator = send.created_by
    if creator is None or not creator.is_active:
        send.status = SurveySend.Status.FAILED
        with translation.override(_tenant_language()):
            send.status_detail = _("The sender's account is deactivated; nothing was sent.")
        send.save(update_fields=["status", "status_detail"])
        return []
    try:
        customers = audience(
            creator, audience_query=send.audience_query, external_ids=send.external_ids
        )
        ids = list(customers.order_by("id").values_list("pk", flat=True))
    except InvalidFilter as exc:
        send.status = SurveySend.Status.FAILED
        send.status_detail = str(exc)
        send.save(update_fields=["status", "status_detail"])
        return []
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    send.total = len(ids)
    send.chunks = len(chunks)
    send.status = SurveySend.Status.SENDING if chunks else SurveySend.Status.DONE
    if send.external_ids:
        unknown = len(external_ids_parse(send.external_ids)) - len(ids)
        if unknown > 0:
            with translation.override(_tenant_language()):
                send.status_detail = ngettext(
                    "%(count)d external id matched no customer the sender may see.",
                    "%(count)d external ids matched no customer the sender may see.",
                    unknown,
                ) % {"count": unknown}
    send.save(update_fields=["total", "chunks", "status", "status_detail"])
    return chunks


@writes
@transaction.atomic
def survey_send_chunk_decide(
    *, actor: User | None, send: SurveySend, customer_ids: Sequence[int]
) -> list[int]:
    """Decide one chunk of a send: the invitations (keyed by the send), pending or skipped."""
    occasions = [
        Occasion(customer_id=pk, key=f"send:{send.pk}:{pk}", kind=send.kind, send_id=send.pk)
        for pk in customer_ids
    ]
    return survey_invitations_decide(actor=actor, occasions=occasions)


@writes
@transaction.atomic
def survey_send_finish(*, actor: User | None, send: SurveySend) -> bool:
    """Mark the send done once every customer of it is decided and none waits to be sent."""
    decided = send.invitations.count()
    waiting = send.invitations.filter(state=SurveyInvitation.State.PENDING).exists()
    if send.total is None or decided < send.total or waiting:
        return False
    return bool(
        SurveySend.objects.filter(pk=send.pk, status=SurveySend.Status.SENDING).update(
            status=SurveySend.Status.DONE
        )
    )


# --- sending --------------------------------------------------------------------------------


@writes
@transaction.atomic
def survey_invitation_claim(
    *, actor: User | None, invitation_id: int, now: datetime.datetime | None = None
) -> str | None:
    """Claim a pending invitation for sending: one conditional UPDATE gives it a fresh token
    (only its hash is stored), the sent state and its expiry. Returns the token, or None when
    another worker claimed it first (or it is not pending)."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(24)
    expires = now + datetime.timedelta(days=feedback_settings().expiry_days)
    claimed = SurveyInvitation.objects.filter(
        pk=invitation_id, state=SurveyInvitation.State.PENDING
    ).update(
        state=SurveyInvitation.State.SENT,
        token_hash=token_hash(token),
        sent_at=now,
        expires_at=expires,
    )
    return token if claimed else None


@writes
@transaction.atomic
def survey_invitations_withhold(*, actor: User | None, reasons: dict[int, str]) -> int:
    """Pending invitations whose customer may no longer be asked (consent withdrawn, address
    removed, erased since they were decided): skipped with the reason, never sent."""
    withheld = 0
    for invitation_id, reason in reasons.items():
        withheld += SurveyInvitation.objects.filter(
            pk=invitation_id, state=SurveyInvitation.State.PENDING
        ).update(state=SurveyInvitation.State.SKIPPED, skip_reason=reason, email="")
    return withheld


@writes
@transaction.atomic
def survey_invitation_failed(*, actor: User | None, invitation_id: int) -> None:
    """The mail relay refused the survey: the link never reached anyone, so it is void."""
    SurveyInvitation.objects.filter(pk=invitation_id).update(
        state=SurveyInvitation.State.FAILED, token_hash=None
    )


# --- answering ------------------------------------------------------------------------------


class SurveyClosed(Exception):
    """The link was answered already or has expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "answered" or "expired"


def _checked_score(kind: str, score: int | None, name: str = "score") -> int:
    low, high = SCALES[SurveyKind(kind)]
    if score is None or not low <= score <= high:
        raise ValidationError(
            {name: _("Choose a score from %(low)d to %(high)d.") % {"low": low, "high": high}}
        )
    return score


@writes
@transaction.atomic
def survey_answer(
    *,
    actor: User | None,
    token: str,
    score: int | None,
    comment: str = "",
    effort: int | None = None,
    now: datetime.datetime | None = None,
) -> SurveyResponse:
    """Record the answer to the survey the link names: once (the invitation is locked and the
    response's one-to-one key holds), before it expires. A detractor's answer opens its
    follow-up ticket in the same transaction; the customer's timeline says they answered."""
    from support.feedback_selectors import invitation_for_token

    now = now or timezone.now()
    found = invitation_for_token(token)
    if found is None:
        raise SurveyInvitation.DoesNotExist
    invitation = SurveyInvitation.objects.select_for_update().get(pk=found.pk)
    if invitation.answered_at is not None:
        raise SurveyClosed("answered")
    if invitation.expires_at is not None and invitation.expires_at <= now:
        raise SurveyClosed("expired")
    if invitation.customer.erased_at is not None:
        raise SurveyClosed("expired")
    score = _checked_score(invitation.kind, score)
    if invitation.with_effort and effort is not None:
        effort = _checked_score(SurveyKind.CES, effort, "effort")
    else:
        effort = None
    comment = comment.strip()
    error = text_error(comment, 5000)
    if error:
        raise ValidationError({"comment": error})
    keyword = complaint_keyword(comment, feedback_settings().complaint_keywords)
    low_score = score <= DETRACTOR_AT_MOST[SurveyKind(invitation.kind)] or (
        effort is not None and effort <= DETRACTOR_AT_MOST[SurveyKind.CES]
    )
    response = SurveyResponse.objects.create(
        invitation=invitation,
        kind=invitation.kind,
        customer=invitation.customer,
        score=score,
        effort=effort,
        comment=comment,
        answered_at=now,
        detractor=bool(low_score or keyword),
        detractor_reason=("score" if low_score else keyword)[:60],
    )
    invitation.answered_at = now
    invitation.save(update_fields=["answered_at"])
    timeline_event_add(
        actor=actor,
        customer=invitation.customer,
        event="survey_answered",
        title=_("%(kind)s answer: %(score)d")
        % {"kind": _kind_short(invitation.kind), "score": score},
        body=comment,
        occurred_at=now,
    )
    if response.detractor:
        response.follow_up = survey_follow_up_open(actor=actor, response=response)
    return response


def _kind_short(kind: str) -> str:
    return {SurveyKind.CSAT: "CSAT", SurveyKind.NPS: "NPS", SurveyKind.CES: "CES"}.get(
        SurveyKind(kind), kind
    )


@writes
@transaction.atomic
def survey_follow_up_open(*, actor: User | None, response: SurveyResponse) -> Ticket | None:
    """Open the follow-up ticket of a detractor's answer for the team that owns the customer
    (else the surveyed ticket's team), through the ticket service; once per answer (the
    response row is locked and its follow-up is set in the same transaction)."""
    from support.services import TicketInput, ticket_create

    response = (
        SurveyResponse.objects.select_for_update(of=("self",))
        .select_related("invitation", "customer", "invitation__ticket")
        .get(pk=response.pk)
    )
    if response.follow_up_id is not None or not response.detractor:
        return response.follow_up
    customer = response.customer
    invitation = response.invitation
    surveyed = invitation.ticket
    with translation.override(_tenant_language()):
        subject = _("Follow up: %(kind)s %(score)d from %(name)s") % {
            "kind": _kind_short(response.kind),
            "score": response.score,
            "name": customer.name,
        }
        lines = [
            _("A survey answer needs a follow-up (%(reason)s).")
            % {
                "reason": _("low score")
                if response.detractor_reason == "score"
                else _("complaint keyword: %(k)s") % {"k": response.detractor_reason}
            },
        ]
        if surveyed is not None:
            lines.append(_("Surveyed ticket: %(reference)s") % {"reference": surveyed.reference})
        if response.comment:
            lines.append(_("Comment: %(comment)s") % {"comment": response.comment})
        category = str(_("Feedback follow-up"))
    team = customer.team if customer.team_id else invitation.team
    ticket = ticket_create(
        actor=actor,
        data=TicketInput(
            subject=subject[:200],
            description="\n\n".join(str(line) for line in lines),
            customer=customer,
            channel=Channel.WEB,
            category=category[:60],
            priority=Priority.HIGH,
            kind=Kind.COMPLAINT if response.detractor_reason != "score" else Kind.QUESTION,
            team=team,
        ),
    )
    response.follow_up = ticket
    response.save(update_fields=["follow_up"])
    return ticket
