"""Demo tickets for the demo tenant, in English and Chinese, through the services (so every
ticket has its SLA due moments, history and timeline entry). Deterministic for a seed, and
safe twice: a tenant that has tickets tagged "demo" is left alone."""

import datetime
import random

from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from crm.accounts.models import User
from crm.tenants.seeding import SeedOptions
from customers.models import Customer
from support import sla, sla_overrides
from support.models import Channel, Kind, Priority, Status, Ticket, TicketEvent, TicketMessage
from support.models_saved_views import TicketSavedView
from support.saved_view_services import ticket_view_save
from support.services import (
    TicketInput,
    _dues,
    sla_due_of,
    ticket_create,
    ticket_reply,
    ticket_status_set,
)

DEMO_TAG = "demo"

# (subject, description, category, kind, customer's follow-up or "")
_CASES = (
    (
        "Order arrived damaged",
        "The box was crushed and the teapot inside is cracked.",
        "Delivery",
        Kind.COMPLAINT,
        "Photos attached to my email.",
    ),
    ("Where is my parcel?", "Tracking has not moved for four days.", "Delivery", Kind.QUESTION, ""),
    (
        "Wrong size sent",
        "I ordered a medium jacket and received a small one.",
        "Returns",
        Kind.COMPLAINT,
        "Can you collect it from my office?",
    ),
    (
        "How do I use my points?",
        "I have 1,200 points; can I pay part of an order with them?",
        "Loyalty",
        Kind.QUESTION,
        "",
    ),
    (
        "Invoice needed for company",
        "Please send a VAT invoice for my last order.",
        "Billing",
        Kind.QUESTION,
        "",
    ),
    (
        "快递一直没到",
        "订单显示已发货一周了，物流信息没有更新。",
        "物流",
        Kind.QUESTION,
        "麻烦尽快帮我查一下。",
    ),
    (
        "收到的商品有破损",
        "杯子碎了两个，包装很简单。希望能补发。",
        "物流",
        Kind.COMPLAINT,
        "照片已经发到你们邮箱了。",
    ),
    ("会员积分没有到账", "上周在门店消费了 680 元，积分没有增加。", "会员", Kind.QUESTION, ""),
    ("申请开具发票", "需要开具增值税专用发票，公司抬头已发送。", "发票", Kind.QUESTION, ""),
    (
        "门店服务态度差",
        "周六在静安店排队四十分钟，店员态度冷淡。",
        "门店",
        Kind.COMPLAINT,
        "希望得到一个合理的解释。",
    ),
    (
        "Refund not received",
        "The return was accepted ten days ago but no refund yet.",
        "Billing",
        Kind.COMPLAINT,
        "",
    ),
    (
        "Change delivery address",
        "Please send order to my new address in Pudong.",
        "Delivery",
        Kind.QUESTION,
        "",
    ),
)
_REPLIES_EN = (
    "Thank you for telling us. I have asked the warehouse to check; I will come back to you today.",
    "Sorry about this. Could you send us the order number, please?",
)
_REPLIES_ZH = (
    "您好，已经收到您的反馈，我们正在核实，今天内回复您。",
    "非常抱歉给您带来不便，请提供一下订单号。",
)


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def demo_responder(ticket: Ticket, agents: list[User], n: int) -> User | None:
    """Who answers a demo ticket: its assignee, or an agent on duty (never "System")."""
    return ticket.assignee or (agents[n % len(agents)] if agents else None)


def ticket_opened_at(ticket: Ticket, at: datetime.datetime, calendar: sla.BusinessCalendar) -> None:
    """Let a demo ticket have come in at `at`, its due moments and history to match."""
    ticket.created_at = at
    ticket.first_response_due, ticket.resolution_due = _dues(
        ticket, calendar, sla_overrides.targets_kept(ticket)
    )
    ticket.sla_due = sla_due_of(ticket)
    ticket.save(update_fields=["created_at", "first_response_due", "resolution_due", "sla_due"])
    TicketEvent.objects.filter(ticket=ticket).update(at=at)


def ticket_lived(ticket: Ticket, rng: random.Random, now: datetime.datetime) -> None:
    """Put what the seeder did to `ticket` at moments in its life, not at seeding time: the
    first answer within a few hours of its opening (so most meet their target), a resolution
    within a day or so of that."""
    ticket.refresh_from_db()
    answered = min(now, ticket.created_at + datetime.timedelta(minutes=rng.randint(15, 240)))
    resolved = None
    if ticket.resolved_at is not None:
        resolved = min(now, answered + datetime.timedelta(minutes=rng.randint(60, 30 * 60)))
    TicketMessage.objects.filter(ticket=ticket).update(created_at=answered)
    wrote_back = min(now, answered + datetime.timedelta(minutes=rng.randint(20, 600)))
    TicketMessage.objects.filter(ticket=ticket, kind=TicketMessage.Kind.CUSTOMER).update(
        created_at=wrote_back
    )
    TicketEvent.objects.filter(ticket=ticket).exclude(at=ticket.created_at).update(at=answered)
    if resolved is not None:
        TicketEvent.objects.filter(
            ticket=ticket, kind="status", data__after=Status.RESOLVED
        ).update(at=resolved)
    ticket.first_responded_at = answered
    ticket.resolved_at = resolved
    ticket.sla_due = sla_due_of(ticket)
    ticket.save(update_fields=["first_responded_at", "resolved_at", "sla_due"])


def tickets_seed(rng: random.Random, options: SeedOptions) -> str:
    if Ticket.objects.filter(tags__contains=[DEMO_TAG]).exists():
        return f"tickets already seeded ({Ticket.objects.count()} in all)"
    customers = list(Customer.objects.filter(erased_at__isnull=True).order_by("id")[:200])
    if not customers:
        return "no customers to open tickets for"
    agents = list(User.objects.filter(is_active=True, groups__name="Agent").order_by("id"))
    count = min(36, max(12, options.customers // 20))
    calendar = sla.calendar_load()
    now = timezone.now()
    with transaction.atomic():
        for n in range(count):
            subject, description, category, kind, follow_up = _CASES[n % len(_CASES)]
            customer = rng.choice(customers)
            stage = rng.random()
            ticket = ticket_create(
                actor=None,
                data=TicketInput(
                    subject=subject,
                    description=description,
                    customer=customer,
                    channel=rng.choice(Channel.values),
                    category=category,
                    priority=rng.choice(
                        [
                            Priority.LOW,
                            Priority.NORMAL,
                            Priority.NORMAL,
                            Priority.HIGH,
                            Priority.URGENT,
                        ]
                    ),
                    tags=[DEMO_TAG],
                    kind=kind,
                    severity="moderate" if kind == Kind.COMPLAINT else "",
                    assignee=rng.choice(agents) if agents and rng.random() < 0.7 else None,
                ),
            )
            # Spread the tickets over the last ten days, with due moments to match; those still
            # waiting for a first response came in over the last few hours, those answered and
            # still open over the last two days (a queue kept up with, mostly within target).
            waiting = stage < 0.35
            if waiting:
                age = rng.randint(10, 4 * 60)
            elif stage < 0.6:
                age = rng.randint(60, 2 * 24 * 60)
            else:
                age = rng.randint(60, 10 * 24 * 60)
            ticket_opened_at(ticket, now - datetime.timedelta(minutes=age), calendar)
            replies = _REPLIES_ZH if _is_chinese(subject) else _REPLIES_EN
            if waiting:
                continue
            responder = demo_responder(ticket, agents, n)
            ticket_reply(actor=responder, ticket=ticket, body=rng.choice(replies))
            if follow_up:  # the customer's answer to the reply
                message = TicketMessage.objects.create(
                    ticket=ticket, kind=TicketMessage.Kind.CUSTOMER, author=None, body=follow_up
                )
                TicketEvent.objects.create(
                    ticket=ticket, kind="customer_wrote", data={"message": message.pk}
                )
            if stage < 0.6:
                ticket_lived(ticket, rng, now)
                continue
            final = Status.PENDING if stage < 0.75 else Status.RESOLVED
            ticket_status_set(actor=responder, ticket=ticket, status=final)
            ticket_lived(ticket, rng, now)
        # Demo replies are history, never emailed: their send tasks find nothing pending.
        TicketMessage.objects.filter(
            ticket__tags__contains=[DEMO_TAG], delivery=TicketMessage.Delivery.PENDING
        ).update(delivery=TicketMessage.Delivery.NONE)
        views = _shared_views()
    return f"{count} tickets, {views} shared queue views"


def _shared_views() -> int:
    """A manager's views of the queue, shared with everyone, as a desk would keep them."""
    manager = User.objects.filter(is_active=True, groups__name="Manager").order_by("id").first()
    if manager is None:
        return 0
    made = 0
    for name, query in (
        ("Urgent, all teams", "queue=all&priority=urgent"),
        ("Waiting on the customer", "queue=all&status=pending"),
    ):
        if not TicketSavedView.objects.filter(shared=True, name=name).exists():
            ticket_view_save(actor=manager, name=name, query=QueryDict(query), shared=True)
            made += 1
    return made
