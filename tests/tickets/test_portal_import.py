"""The tickets import kind: through the wizard (dry run with clear rejections, "valid rows
only", commit, undo) and `import_records`; historic tickets keep the moment they were opened
and their SLA due moments are computed from it; our own export imports back."""

import datetime
import io
import uuid
import zoneinfo
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.transfer import services as transfer_services
from crm.transfer.models import ImportJob
from customers.models import Interaction
from customers.services import CustomerInput, customer_create
from support import services, sla
from support.models import SlaPolicy, Ticket
from tests.conftest import client_for
from tests.transfer.test_import_engine import csv_bytes

pytestmark = pytest.mark.django_db

KIND = "tickets"
LONDON = zoneinfo.ZoneInfo("Europe/London")  # acme's time zone


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_records", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _job(acme) -> ImportJob:
    with schema_context(acme.schema):
        return ImportJob.objects.order_by("-pk")[0]


def test_the_wizard_checks_commits_and_undoes_historic_tickets(acme):
    marker = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        known = customer_create(
            actor=None, data=CustomerInput(name="王芳", external_id=f"W-{marker}")
        )
    rows = [
        [
            "主题",
            "描述",
            "客户编号",
            "邮箱",
            "渠道",
            "优先级",
            "类型",
            "状态",
            "标签",
            "负责人",
            "创建时间",
            "首次响应时间",
            "解决时间",
        ],
        [
            f"快递延误 {marker}",
            "三天没到",
            f"W-{marker}",
            "",
            "电话",
            "高",
            "投诉",
            "已解决",
            "物流，延误",
            acme.email("agent"),
            "2026-11-02 10:00",
            "2026-11-02 10:30",
            "2026-11-03 15:00",
        ],
        [
            f"Invoice {marker}",
            "",
            "",
            f"li.{marker}@example.cn",
            "email",
            "normal",
            "question",
            "open",
            "",
            "",
            "2026-11-20T09:15:00+08:00",
            "",
            "",
        ],
        [
            f"Bad status {marker}",
            "",
            "",
            f"x.{marker}@example.cn",
            "",
            "",
            "",
            "waiting",
            "",
            "",
            "",
            "",
            "",
        ],
        [f"Nobody {marker}", "", "", "", "", "", "", "", "", "ghost@nowhere.test", "", "", ""],
        [f"Future {marker}", "", f"W-{marker}", "", "", "", "", "", "", "", "2099-01-01", "", ""],
        ["", "no subject", f"W-{marker}", "", "", "", "", "", "", "", "", "", ""],
    ]
    client = client_for(acme, "manager")
    response = client.post(
        reverse("transfer:import_new"),
        {"kind": KIND, "file": SimpleUploadedFile("t.csv", csv_bytes(rows), "text/csv")},
    )
    assert response.status_code == 302
    job = _job(acme)
    assert job.kind == KIND
    assert job.mapping["客户编号"] == "customer_external_id" and job.mapping["状态"] == "status"
    post = {f"col_{i}": job.mapping[h] for i, h in enumerate(job.headers)}
    response = client.post(response.url, post | {"valid_only": "on"})
    assert response.status_code == 302, response.content.decode()[:1500]
    with schema_context(acme.schema):
        job.refresh_from_db()
        assert job.status == ImportJob.Status.CHECKED, job.message
        assert (job.created_count, job.rejected_count) == (2, 4)
        assert not Ticket.objects.filter(subject__contains=marker).exists(), "dry run"
    detail = client.get(reverse("transfer:import_detail", kwargs={"pk": job.pk})).content.decode()
    for reason in (
        "is not one of",
        "No active staff member has the email ghost@nowhere.test",
        "cannot be opened in the future",
        "Say in a few words",
    ):
        assert reason in detail, reason

    client.post(reverse("transfer:import_commit", kwargs={"pk": job.pk}))
    with schema_context(acme.schema):
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE, job.message
        late = Ticket.objects.get(subject=f"快递延误 {marker}")
        opened = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=LONDON)
        assert late.created_at == opened
        assert (late.customer_id, late.channel, late.priority, late.kind, late.status) == (
            known.pk,
            "phone",
            "high",
            "complaint",
            "resolved",
        )
        assert late.tags == ["延误", "物流"] or sorted(late.tags) == ["延误", "物流"]
        assert late.assignee_id == acme.agent.pk
        assert late.first_responded_at == datetime.datetime(2026, 11, 2, 10, 30, tzinfo=LONDON)
        assert late.resolved_at == datetime.datetime(2026, 11, 3, 15, 0, tzinfo=LONDON)
        policy = SlaPolicy.objects.get(priority="high")
        calendar = sla.calendar_load()
        assert late.first_response_due == calendar.add(opened, policy.first_response_minutes)
        assert late.resolution_due == calendar.add(opened, policy.resolution_minutes)
        assert late.sla_due is None  # finished
        opened_entry = Interaction.objects.get(
            customer=known, source="ticket_opened", title__contains=late.reference
        )
        assert opened_entry.occurred_at == opened
        invoice = Ticket.objects.get(subject=f"Invoice {marker}")
        assert invoice.created_at == datetime.datetime(2026, 11, 20, 1, 15, tzinfo=datetime.UTC)
        assert invoice.status == "open" and invoice.sla_due is not None
        assert invoice.requester_email == f"li.{marker}@example.cn"

    with schema_context(acme.schema):
        from crm.transfer.registry import import_kind

        assert import_kind(KIND).undo_blocker(job) is None
    undone = client.post(reverse("transfer:import_undo", kwargs={"pk": job.pk}))
    with schema_context(acme.schema):
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.UNDONE, (
            undone.content.decode()[:3000]
        )
        assert not Ticket.objects.filter(subject__contains=marker).exists()
        assert not Interaction.objects.filter(
            customer=known, source="ticket_opened", title__contains="T-"
        ).exists()


def test_all_or_nothing_writes_nothing_when_a_row_is_refused(acme, tmp_path: Path):
    marker = uuid.uuid4().hex[:8]
    path = tmp_path / "t.csv"
    path.write_bytes(
        csv_bytes(
            [
                ["subject", "requester_email", "priority"],
                [f"Fine {marker}", f"a.{marker}@example.com", "urgent"],
                [f"Wrong {marker}", "not-an-email", "urgent"],
            ]
        )
    )
    status, out, _err = _run(acme.schema, KIND, str(path))
    assert status == 1 and "Enter a valid email address." in out
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject__contains=marker).exists()


def test_our_export_imports_back_on_the_command_line(acme, tmp_path: Path):
    marker = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        source = services.ticket_create(
            actor=None,
            data=services.TicketInput(
                subject=f"=1+1 round trip {marker}",
                requester_email=f"r.{marker}@example.com",
                category="Billing",
                priority="low",
                tags=[marker],
            ),
        )
        services.ticket_status_set(actor=None, ticket=source, status="resolved")
        source.refresh_from_db()
    exported = tmp_path / "tickets.csv"
    call_command(
        "export_records",
        acme.tenant.slug,
        "tickets",
        "--query",
        f"queue=all&status=any&q={marker}",
        "-o",
        str(exported),
    )
    status, out, err = _run(acme.schema, KIND, str(exported))
    assert status == 0, out + err
    assert "imported: 1 new" in out
    with schema_context(acme.schema):
        copy = Ticket.objects.exclude(pk=source.pk).get(subject=source.subject)
        assert copy.subject.startswith("=1+1")  # the export's escape is undone
        assert (copy.status, copy.priority, copy.category) == ("resolved", "low", "Billing")
        assert copy.created_at == source.created_at.replace(microsecond=0) or (
            abs(copy.created_at - source.created_at) < datetime.timedelta(seconds=1)
        )
        assert copy.resolved_at is not None
        assert copy.requester_email == f"r.{marker}@example.com"
        assert copy.reference != source.reference


def test_undo_is_refused_once_an_imported_ticket_changed(acme, tmp_path: Path):
    marker = uuid.uuid4().hex[:8]
    path = tmp_path / "t.csv"
    path.write_bytes(
        csv_bytes([["subject", "requester_email"], [f"Later {marker}", f"l.{marker}@example.com"]])
    )
    status, out, _err = _run(acme.schema, KIND, str(path))
    assert status == 0, out
    with schema_context(acme.schema):
        made = Ticket.objects.get(subject=f"Later {marker}")
        services.ticket_note(actor=None, ticket=made, body="Called back.")
        job = ImportJob.objects.filter(kind=KIND, status=ImportJob.Status.DONE).latest("pk")
        with pytest.raises(ValidationError, match="changed after it"):
            transfer_services.import_undo_request(actor=None, job=job, inline=True)
        assert Ticket.objects.filter(pk=made.pk).exists()


def test_a_masked_requester_from_a_masked_export_is_refused(acme, tmp_path: Path):
    marker = uuid.uuid4().hex[:8]
    path = tmp_path / "t.csv"
    path.write_bytes(
        csv_bytes([["subject", "requester"], [f"Masked {marker}", "李梅 <l•••@•••.cn>"]])
    )
    status, out, _err = _run(acme.schema, KIND, str(path))
    assert status == 1 and "contacts are masked" in out
    with schema_context(acme.schema):
        assert not Ticket.objects.filter(subject__contains=marker).exists()


def test_each_tenant_reads_moments_in_its_own_time_zone_even_with_the_same_job_id(acme, globex):
    # Job ids are per schema: one process parsing acme's job 7 and then globex's job 7 must not
    # read globex's file with acme's time zone (or phone region).
    from crm.transfer.registry import SourceRow
    from support.transfer_imports import TicketsImport

    kind = TicketsImport()
    row = SourceRow(
        1,
        {"subject": "Clock", "requester_email": "tz@example.cn", "created": "2026-01-05 09:00"},
        [],
    )
    found = {}
    for cast in (acme, globex):
        with schema_context(cast.schema):
            job = ImportJob(pk=7)
            found[cast.schema] = kind.parse(job, row)["historic"].data.created_at
    assert found[acme.schema] == datetime.datetime(2026, 1, 5, 9, 0, tzinfo=LONDON)
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    assert found[globex.schema] == datetime.datetime(2026, 1, 5, 9, 0, tzinfo=shanghai)
