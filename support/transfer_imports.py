"""The tickets import kind, on the short path (crm.transfer.row_kinds): each row is a ticket,
written through support.portal_services.ticket_import (which creates it through the ticket
service), so a historic ticket keeps the moment it was opened and its SLA due moments are
computed from that moment. Customers are found by external id among those the importing user
may see; without one, the ticket service links the requester's email or phone as it always
does. Codes (status, priority, type, channel) are read as our export writes them, or as their
English or Chinese names. Undo deletes the tickets the job created (and their "opened" entries
on the customers' timelines), refused once one of them was changed since."""

import contextlib
import datetime
import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import TextChoices
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.masking import MASK
from crm.accounts.models import Team, User
from crm.lib.contacts import InvalidPhone, email_normalise, phone_e164
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.transfer import values
from crm.transfer.models import ImportJob
from crm.transfer.registry import ImportField, SourceRow
from crm.transfer.row_kinds import RowImportKind, RowRejected
from customers.models import Customer, Interaction
from customers.selectors import customers_find
from support.historic import HistoricTicket, historic_errors
from support.models import Channel, Kind, Priority, Status, Ticket
from support.portal_services import ticket_import
from support.services import TicketInput

TEXT_LIMITS = {
    "subject": 200,
    "description": 100_000,
    "requester_name": 150,
    "requester_email": 254,
    "requester_phone": 50,
    "category": 60,
}
TAG_SPLIT = re.compile(r"[,，;；]")


def _names(choices: type[TextChoices]) -> dict[str, str]:
    """Every way a choice may be written -> its code: the code, its English and Chinese names."""
    found: dict[str, str] = {}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            for value, label in choices.choices:
                found.setdefault(str(label).casefold(), value)
    for value in choices.values:
        found[value.casefold()] = value
        found[value.replace("_", " ").casefold()] = value
    return found


class _Run:
    """What a job reads once: the tenant's time zone and phone region, the choice names."""

    def __init__(self) -> None:
        tenant = Tenant.objects.filter(schema_name=current_schema()).first()
        try:
            self.tz: datetime.tzinfo = zoneinfo.ZoneInfo(tenant.time_zone if tenant else "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.tz = datetime.UTC
        self.region = tenant.phone_region if tenant else "CN"
        self.choices = {
            "channel": (_names(Channel), Channel.PHONE),
            "priority": (_names(Priority), Priority.NORMAL),
            "type": (_names(Kind), Kind.QUESTION),
            "status": (_names(Status), Status.NEW),
        }


def _moment(text: str, tz: datetime.tzinfo) -> datetime.datetime:
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        with contextlib.suppress(ValueError):
            moment = datetime.datetime.fromisoformat(text)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return values.parse_datetime(text, tz)


_REQUESTER = re.compile(
    r"(?P<name>[^<>]*?)\s*(?:<(?P<email>[^<>]*)>)?\s*(?P<phone>\+?[\d\s()-]{5,})?"
)


def _requester_parts(cell: str) -> dict[str, str] | None:
    """The export's requester cell ("李梅 <li@example.cn> +8613912345678") as the name, email
    and phone columns; None when it is masked or cannot be read."""
    cell = cell.strip()
    if not cell:
        return {}
    if MASK in cell:
        return None
    match = _REQUESTER.fullmatch(cell)
    if match is None:
        return None
    return {
        "requester_name": (match.group("name") or "").strip(),
        "requester_email": (match.group("email") or "").strip(),
        "requester_phone": (match.group("phone") or "").strip(),
    }


class TicketsImport(RowImportKind):
    key = "tickets"
    label = gettext_lazy("Tickets")
    model = Ticket
    noun = gettext_lazy("tickets")

    def __init__(self) -> None:
        # By schema and job id: job ids are per schema, and one process serves every tenant.
        self._runs: dict[tuple[str, int], _Run] = {}

    @property
    def fields(self) -> list[ImportField]:
        return [
            ImportField(
                "subject", gettext_lazy("Subject"), required=True, aliases=("主题", "标题")
            ),
            ImportField(
                "description", gettext_lazy("Description"), aliases=("描述", "内容", "问题描述")
            ),
            ImportField(
                "customer_external_id",
                gettext_lazy("Customer external id"),
                aliases=("customer", "external id", "客户编号", "会员号"),
                help=gettext_lazy("Links the ticket to the customer with this external id."),
            ),
            ImportField(
                "requester_name",
                gettext_lazy("Requester name"),
                aliases=("name", "姓名", "联系人"),
            ),
            ImportField(
                "requester_email",
                gettext_lazy("Requester email"),
                aliases=("email", "邮箱"),
                personal="email",
            ),
            ImportField(
                "requester_phone",
                gettext_lazy("Requester phone"),
                aliases=("phone", "电话", "手机"),
                personal="phone",
            ),
            ImportField(
                "requester",
                gettext_lazy("Requester (name <email> phone)"),
                aliases=("请求人",),
                personal="address",  # a name, an email and a phone in one cell: masked whole
                help=gettext_lazy(
                    "As the tickets export writes it; the separate name, email and phone"
                    " columns win over it."
                ),
            ),
            ImportField("channel", gettext_lazy("Channel"), aliases=("渠道", "来源")),
            ImportField("category", gettext_lazy("Category"), aliases=("分类",)),
            ImportField("priority", gettext_lazy("Priority"), aliases=("优先级",)),
            ImportField("type", gettext_lazy("Type"), aliases=("kind", "类型")),
            ImportField("status", gettext_lazy("Status"), aliases=("状态",)),
            ImportField("tags", gettext_lazy("Tags"), aliases=("标签",)),
            ImportField(
                "assignee",
                gettext_lazy("Assignee email"),
                aliases=("assignee email", "负责人", "处理人"),
            ),
            ImportField("team", gettext_lazy("Team"), aliases=("团队", "组")),
            ImportField(
                "created",
                gettext_lazy("Created"),
                aliases=("created at", "opened", "创建时间"),
                help=gettext_lazy("When the ticket was opened; empty: now."),
            ),
            ImportField(
                "first_response",
                gettext_lazy("First response"),
                aliases=("首次响应时间",),
            ),
            ImportField("resolved", gettext_lazy("Resolved"), aliases=("解决时间",)),
        ]

    def _run(self, job: ImportJob) -> _Run:
        key = (current_schema(), job.pk)
        if key not in self._runs:
            self._runs = {key: _Run()}  # one job at a time per process
        return self._runs[key]

    def parse(self, job: ImportJob, row: SourceRow) -> dict[str, Any]:
        run = self._run(job)
        problems: list[tuple[str, str]] = []
        cells = row.values

        def text(key: str) -> str:
            cell = cells.get(key, "")
            if not cell.strip():
                return ""
            try:
                values.reject_formula(cell)
                return values.clean_text(values.unescape_formula(cell), max_length=TEXT_LIMITS[key])
            except values.BadValue as exc:
                problems.append((key, exc.message))
                return ""

        def choice(key: str) -> str:
            names, default = run.choices[key]
            cell = cells.get(key, "").strip()
            if not cell:
                return default
            found = names.get(cell.casefold())
            if found is None:
                problems.append(
                    (
                        key,
                        _("“%(value)s” is not one of: %(choices)s.")
                        % {"value": cell[:40], "choices": ", ".join(sorted(set(names.values())))},
                    )
                )
                return default
            return found

        def moment(key: str) -> datetime.datetime | None:
            cell = cells.get(key, "").strip()
            if not cell:
                return None
            try:
                return _moment(cell, run.tz)
            except values.BadValue as exc:
                problems.append((key, exc.message))
                return None

        combined = _requester_parts(cells.get("requester", ""))
        if combined is None:
            problems.append(
                (
                    "requester",
                    _(
                        "The requester's contacts are masked (exported by someone who may not"
                        " see personal data) or unreadable; give them in full."
                    ),
                )
            )
            combined = {}
        for key, value in combined.items():
            if value and not cells.get(key, "").strip():
                cells = {**cells, key: value}
        subject = text("subject")
        if not subject and not any(k == "subject" for k, _r in problems):
            problems.append(("subject", _("Say in a few words what the ticket is about.")))
        email = text("requester_email")
        if email:
            email = email_normalise(email)
            try:
                validate_email(email)
            except ValidationError:
                problems.append(("requester_email", _("Enter a valid email address.")))
        phone = text("requester_phone")
        if phone:
            try:
                phone = phone_e164(phone, run.region)
            except InvalidPhone:
                problems.append(("requester_phone", _("Enter a valid phone number.")))
        customer = None
        ref = cells.get("customer_external_id", "").strip()
        if ref:
            found = customers_find(by="external_id", values=[ref], user=job.created_by).get(ref, [])
            if not found:
                problems.append(
                    (
                        "customer_external_id",
                        _("No customer you may see has the external id %(ref)s.")
                        % {"ref": ref[:40]},
                    )
                )
            else:
                customer = Customer.objects.get(pk=found[0])
        elif not (email or phone) and not any(k.startswith("requester") for k, _r in problems):
            problems.append(
                ("", _("Give the customer's external id, or the requester's email or phone."))
            )
        assignee = None
        assignee_email = cells.get("assignee", "").strip()
        if assignee_email:
            assignee = User.objects.filter(email__iexact=assignee_email, is_active=True).first()
            if assignee is None:
                problems.append(
                    (
                        "assignee",
                        _("No active staff member has the email %(email)s.")
                        % {"email": assignee_email[:80]},
                    )
                )
        team = None
        team_name = cells.get("team", "").strip()
        if team_name:
            team = Team.objects.filter(name__iexact=team_name).first()
            if team is None:
                problems.append(
                    ("team", _("No team is called %(name)s.") % {"name": team_name[:60]})
                )
        historic = HistoricTicket(
            data=TicketInput(
                subject=subject,
                description=text("description"),
                customer=customer,
                requester_name=text("requester_name"),
                requester_email=email,
                requester_phone=phone,
                channel=choice("channel"),
                category=text("category"),
                priority=choice("priority"),
                tags=[t.strip() for t in TAG_SPLIT.split(cells.get("tags", "")) if t.strip()],
                kind=choice("type"),
                assignee=assignee,
                team=team,
                created_at=moment("created"),
            ),
            status=choice("status"),
            first_responded_at=moment("first_response"),
            resolved_at=moment("resolved"),
        )
        if problems:
            raise RowRejected(problems[0][0], problems[0][1], *problems[1:])
        moments = historic_errors(historic, timezone.now())
        if moments:
            first, *rest = moments.items()
            raise RowRejected(first[0], first[1], *rest)
        return {"historic": historic}

    def create(self, job: ImportJob, parsed: dict[str, Any]) -> models.Model:
        return ticket_import(actor=job.created_by, historic=parsed["historic"])

    def remove(self, record: models.Model) -> None:
        assert isinstance(record, Ticket)
        if record.customer_id is not None:
            Interaction.objects.filter(
                customer_id=record.customer_id,
                source="ticket_opened",
                title__contains=record.reference,
            ).delete()
        record.delete()


def register() -> None:
    from crm.transfer.registry import register_import_kind

    register_import_kind(TicketsImport())
