"""Reads for feedback surveys: the settings, who an NPS send reaches, a survey link's
invitation, the reports and the comments, and the detractors analytics' churn flags read."""

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import TruncMonth
from django.http import QueryDict
from django.utils import timezone

from customers.models import ConsentEvent, Customer, CustomerEmail
from customers.selectors import customers_filtered, visible_customers
from customers.transfer_exports import customer_query
from support.models_feedback import (
    DEFAULT_COMPLAINT_KEYWORDS,
    DETRACTOR_AT_MOST,
    FeedbackSettings,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveySend,
)

CHUNK = 500
# More external ids than this in one paste is a file's job (an import), not a text box's.
EXTERNAL_IDS_MAX = 50_000


def feedback_settings() -> FeedbackSettings:
    settings, _created = FeedbackSettings.objects.get_or_create(
        id=1, defaults={"complaint_keywords": list(DEFAULT_COMPLAINT_KEYWORDS)}
    )
    return settings


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_for_token(token: str) -> SurveyInvitation | None:
    """The invitation a survey link names (sent, in this tenant's schema), or None."""
    if not token or len(token) > 100:
        return None
    return (
        SurveyInvitation.objects.filter(
            token_hash=token_hash(token), state=SurveyInvitation.State.SENT
        )
        .select_related("customer", "ticket")
        .first()
    )


# --- the audience of an NPS send ------------------------------------------------------------


def external_ids_parse(text: str) -> list[str]:
    """One id per line (or separated by commas, semicolons or spaces), duplicates dropped."""
    seen: dict[str, None] = {}
    for part in re.split(r"[\s,;，；]+", text):
        if part:
            seen.setdefault(part[:100], None)
    return list(seen)


def audience(user: Any, *, audience_query: str, external_ids: str) -> QuerySet[Customer]:
    """The customers a send is for, within `user`'s record scope: those with the listed
    external ids, else those the customer list's filter (its query string) shows. A filter
    that cannot be read raises crm.transfer.exporting.InvalidFilter."""
    if external_ids.strip():
        ids = external_ids_parse(external_ids)[:EXTERNAL_IDS_MAX]
        return visible_customers(user).filter(external_id__in=ids)
    return customers_filtered(user, customer_query(QueryDict(audience_query), user))


def _latest_email_consent() -> Subquery:
    return Subquery(
        ConsentEvent.objects.filter(customer=OuterRef("pk"), channel=ConsentEvent.Channel.EMAIL)
        .order_by("-at", "-id")
        .values("granted")[:1]
    )


def _first_email() -> Subquery:
    return Subquery(
        CustomerEmail.objects.filter(customer=OuterRef("pk"))
        .order_by("-is_primary", "id")
        .values("email")[:1]
    )


def reachable(customers: QuerySet[Customer], *, now: datetime.datetime) -> QuerySet[Customer]:
    """Those of `customers` a survey may go to now: not erased, email consent granted (their
    latest email consent event), an email, and not surveyed within the fatigue window."""
    from support.models_feedback import SurveyContact

    window = now - datetime.timedelta(days=feedback_settings().fatigue_days)
    return (
        customers.filter(erased_at__isnull=True)
        .annotate(email_consent=_latest_email_consent())
        .filter(email_consent=True)
        .filter(Exists(CustomerEmail.objects.filter(customer=OuterRef("pk"))))
        .exclude(Exists(SurveyContact.objects.filter(customer=OuterRef("pk"), last_at__gt=window)))
    )


@dataclass(frozen=True)
class AudienceCount:
    matched: int
    reachable: int
    external_ids: int  # how many distinct ids were pasted (0: the list's filter was used)


def audience_count(user: Any, *, audience_query: str, external_ids: str) -> AudienceCount:
    customers = audience(user, audience_query=audience_query, external_ids=external_ids)
    customers = customers.order_by()
    return AudienceCount(
        matched=customers.count(),
        reachable=reachable(customers, now=timezone.now()).count(),
        external_ids=len(external_ids_parse(external_ids)) if external_ids.strip() else 0,
    )


@dataclass(frozen=True)
class ContactFacts:
    customer_id: int
    name: str
    team_id: int | None
    erased: bool
    consent: bool
    email: str
    language: str = ""  # the preferred language, "" when not known


def contact_facts(customer_ids: list[int]) -> list[ContactFacts]:
    """What deciding a survey needs to know of each customer: one query."""
    rows = (
        Customer.objects.filter(pk__in=customer_ids)
        .annotate(email_consent=_latest_email_consent(), first_email=_first_email())
        .values_list(
            "pk", "name", "team_id", "erased_at", "email_consent", "first_email", "language"
        )
    )
    return [
        ContactFacts(pk, name, team_id, erased is not None, bool(consent), email or "", language)
        for pk, name, team_id, erased, consent, email, language in rows
    ]


# --- sends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendProgress:
    send: SurveySend
    decided: int  # invitations decided (sent, failed, skipped or waiting)
    sent: int
    failed: int
    skipped: int
    pending: int
    answered: int

    @property
    def percent(self) -> int:
        total = self.send.total or 0
        if not total:
            return 100 if self.send.status == SurveySend.Status.DONE else 0
        return min(100, round(100 * (self.decided - self.pending) / total))


def send_progress(send: SurveySend) -> SendProgress:
    State = SurveyInvitation.State
    counts = send.invitations.aggregate(
        decided=Count("id"),
        sent=Count("id", filter=Q(state=State.SENT)),
        failed=Count("id", filter=Q(state=State.FAILED)),
        skipped=Count("id", filter=Q(state=State.SKIPPED)),
        pending=Count("id", filter=Q(state=State.PENDING)),
        answered=Count("id", filter=Q(answered_at__isnull=False)),
    )
    return SendProgress(send=send, **{k: int(v or 0) for k, v in counts.items()})


def sends_recent(*, size: int = 50) -> list[SurveySend]:
    return list(SurveySend.objects.select_related("created_by").order_by("-id")[:size])


# --- reports ----------------------------------------------------------------------------------


def _responses(user: Any, since: datetime.datetime, until: datetime.datetime) -> QuerySet[Any]:
    return SurveyResponse.objects.filter(
        answered_at__gte=since,
        answered_at__lt=until,
        customer__in=visible_customers(user).values("pk"),
    )


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class ReportRow:
    label: str
    answers: int
    satisfied: int  # CSAT 4-5
    csat: float | None  # % satisfied
    effort: float | None  # mean CES (the CES survey's score or the effort asked beside CSAT)
    nps: float | None = None  # of the group's NPS answers


@dataclass(frozen=True)
class NpsMonth:
    month: datetime.date
    answers: int
    promoters: int
    detractors: int
    nps: float | None  # % promoters - % detractors


@dataclass(frozen=True)
class FeedbackReport:
    since: datetime.date
    until: datetime.date
    csat: ReportRow
    nps_answers: int
    nps: float | None
    nps_months: list[NpsMonth]
    by_agent: list[ReportRow]
    by_team: list[ReportRow]
    by_category: list[ReportRow]
    by_channel: list[ReportRow]
    detractors: int
    follow_ups: int


def _effort_avg() -> Any:
    # A CES survey's score, or the effort question asked beside CSAT (NULL for NPS answers,
    # which AVG skips).
    from django.db.models import Case, When

    return Avg(
        Case(
            When(kind=SurveyKind.CES, then=F("score")),
            When(kind=SurveyKind.CSAT, then=F("effort")),
            default=None,
            output_field=IntegerField(),
        )
    )


def _grouped(responses: QuerySet[Any], field: str, labels: dict[Any, str]) -> list[ReportRow]:
    nps = Q(kind=SurveyKind.NPS)
    rows = (
        responses.values(field)
        .annotate(
            answers=Count("id"),
            csat_answers=Count("id", filter=Q(kind=SurveyKind.CSAT)),
            satisfied=Count("id", filter=Q(kind=SurveyKind.CSAT, score__gte=4)),
            effort=_effort_avg(),
            nps_answers=Count("id", filter=nps),
            promoters=Count("id", filter=nps & Q(score__gte=9)),
            detractors=Count("id", filter=nps & Q(score__lte=DETRACTOR_AT_MOST[SurveyKind.NPS])),
        )
        .order_by("-answers")[:100]
    )
    return [
        ReportRow(
            label=labels.get(row[field], str(row[field])) if row[field] not in (None, "") else "—",
            answers=row["answers"],
            satisfied=row["satisfied"],
            csat=_percent(row["satisfied"], row["csat_answers"]),
            effort=round(row["effort"], 2) if row["effort"] is not None else None,
            nps=_nps(row["promoters"], row["detractors"], row["nps_answers"]),
        )
        for row in rows
    ]


def feedback_report(user: Any, *, since: datetime.date, until: datetime.date) -> FeedbackReport:
    """CSAT % (share of 4-5), NPS by month (% 9-10 minus % 0-6), mean effort; CSAT, effort and
    NPS by the agent, team, category and channel the surveyed ticket had (an NPS send's answer:
    the customer's team); within the reader's customers. A handful of grouped queries,
    whatever the number of answers."""
    from crm.accounts.models import Team, User
    from support.models import Channel

    start = _day_start(since)
    end = _day_start(until + datetime.timedelta(days=1))
    responses = _responses(user, start, end)
    csat = responses.filter(kind=SurveyKind.CSAT).aggregate(
        answers=Count("id"), satisfied=Count("id", filter=Q(score__gte=4))
    )
    effort = responses.filter(Q(kind=SurveyKind.CES) | Q(effort__isnull=False)).aggregate(
        mean=_effort_avg()
    )["mean"]
    nps = responses.filter(kind=SurveyKind.NPS)
    months = [
        NpsMonth(
            month=row["month"].date() if hasattr(row["month"], "date") else row["month"],
            answers=row["answers"],
            promoters=row["promoters"],
            detractors=row["detractors"],
            nps=_nps(row["promoters"], row["detractors"], row["answers"]),
        )
        for row in nps.annotate(month=TruncMonth("answered_at"))
        .values("month")
        .annotate(
            answers=Count("id"),
            promoters=Count("id", filter=Q(score__gte=9)),
            detractors=Count("id", filter=Q(score__lte=DETRACTOR_AT_MOST[SurveyKind.NPS])),
        )
        .order_by("month")
    ]
    nps_total = sum(m.answers for m in months)
    flags = responses.aggregate(
        detractors=Count("id", filter=Q(detractor=True)),
        follow_ups=Count("id", filter=Q(follow_up__isnull=False)),
    )
    agents = dict(
        (u.pk, u.full_name or u.email) for u in User.objects.only("id", "full_name", "email")
    )
    teams = dict(Team.objects.values_list("id", "name"))
    channels = {value: str(label) for value, label in Channel.choices}
    return FeedbackReport(
        since=since,
        until=until,
        csat=ReportRow(
            label="",
            answers=csat["answers"],
            satisfied=csat["satisfied"],
            csat=_percent(csat["satisfied"], csat["answers"]),
            effort=round(effort, 2) if effort is not None else None,
        ),
        nps_answers=nps_total,
        nps=_nps(sum(m.promoters for m in months), sum(m.detractors for m in months), nps_total),
        nps_months=months,
        by_agent=_grouped(responses, "invitation__agent", agents),
        by_team=_grouped(responses, "invitation__team", teams),
        by_category=_grouped(responses, "invitation__category", {}),
        by_channel=_grouped(responses, "invitation__channel", channels),
        detractors=flags["detractors"],
        follow_ups=flags["follow_ups"],
    )


def _nps(promoters: int, detractors: int, answers: int) -> float | None:
    if not answers:
        return None
    return round(100 * (promoters - detractors) / answers, 1)


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# --- comments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentQuery:
    kind: str = ""
    detractors_only: bool = False
    text: str = ""
    since: datetime.date | None = None
    until: datetime.date | None = None


@dataclass
class CommentPage:
    responses: list[SurveyResponse]
    next_after: int | None


def comment_page(
    user: Any, query: CommentQuery, *, after: int | None, size: int = 25
) -> CommentPage:
    """Answers with a comment, newest first, keyset by id (no COUNT, no OFFSET), within the
    reader's customers."""
    responses = SurveyResponse.objects.exclude(comment="").filter(
        customer__in=visible_customers(user).values("pk")
    )
    if query.kind in SurveyKind.values:
        responses = responses.filter(kind=query.kind)
    if query.detractors_only:
        responses = responses.filter(detractor=True)
    if query.text.strip():
        responses = responses.filter(comment__icontains=query.text.strip())
    if query.since:
        responses = responses.filter(answered_at__gte=_day_start(query.since))
    if query.until:
        responses = responses.filter(
            answered_at__lt=_day_start(query.until + datetime.timedelta(days=1))
        )
    if after:
        responses = responses.filter(id__lt=after)
    found = list(
        responses.select_related(
            "customer", "follow_up", "invitation", "invitation__ticket", "invitation__agent"
        )
        .only(
            "id",
            "kind",
            "score",
            "effort",
            "comment",
            "answered_at",
            "detractor",
            "detractor_reason",
            "customer__id",
            "customer__name",
            "follow_up__id",
            "follow_up__number",
            "invitation__id",
            "invitation__ticket__id",
            "invitation__ticket__number",
            "invitation__agent__id",
            "invitation__agent__full_name",
            "invitation__agent__email",
        )
        .order_by("-id")[: size + 1]
    )
    more = len(found) > size
    found = found[:size]
    return CommentPage(found, found[-1].pk if more and found else None)


# --- for other apps ---------------------------------------------------------------------------


def detractor_customer_ids(*, since: datetime.datetime) -> set[int]:
    """Customers who answered a survey as detractors (by score or a complaint keyword) since
    `since`: for analytics' churn flags. One query over a partial index."""
    return set(
        SurveyResponse.objects.filter(detractor=True, answered_at__gte=since)
        .values_list("customer_id", flat=True)
        .distinct()
    )


def customer_responses(customer: Customer, *, size: int = 10) -> list[SurveyResponse]:
    return list(customer.survey_responses.order_by("-answered_at", "-id")[:size])
