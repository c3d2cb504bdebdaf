"""Erasure completeness: a unique value planted in every registered holder of personal data
(crm.lib.erasure) is found nowhere in the tenant's schema or private files after the erasure.

A holder registered without a planting here fails the test: whoever adds a holder (tickets,
messages, survey answers, ledger notes) plants a value for it in PLANTERS."""

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection
from django.utils import translation
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.lib.erasure import erasure_holders
from crm.transfer import services
from crm.transfer.exporting import export_dir, export_path, export_run
from crm.transfer.models import ExportJob, ImportChange, ImportJob
from customers.erasure import audit_mention_columns
from customers.merge import customer_merge, customer_merge_revert
from customers.models import Customer, CustomerMerge, Interaction, SavedView
from customers.privacy import customer_erase
from customers.services import (
    CustomerInput,
    consent_set,
    customer_create,
    customer_update,
    timeline_add,
)
from tests.transfer.test_import_engine import csv_bytes

pytestmark = pytest.mark.django_db


@dataclass
class Scene:
    member: object
    admin: User
    person: Customer
    canaries: dict[str, str] = field(default_factory=dict)
    import_job: ImportJob | None = None
    export_job: ExportJob | None = None
    saved_view_id: int | None = None
    customer_view_id: int | None = None
    segment_id: int | None = None

    def canary(self, holder: str, part: str = "") -> str:
        # Lower-case hex: survives email lower-casing and every text column.
        value = f"cz{uuid.uuid4().hex[:12]}"
        self.canaries[f"{holder}{':' + part if part else ''}"] = value
        return value


def _record(scene: Scene) -> None:
    c = scene.canary("customers.record")
    customer_update(
        actor=scene.admin,
        customer=scene.person,
        data=CustomerInput(
            name=f"Name {c}",
            address=f"{c} Lane",
            notes=f"notes {c}",
            city=f"city{c}",
            phones=[p.e164 for p in scene.person.phones.all()],
            emails=[e.email for e in scene.person.emails.all()],
        ),
    )


def _contacts(scene: Scene) -> None:
    digits = f"139{uuid.uuid4().int % 10**8:08d}"
    scene.canaries["customers.contacts:phone"] = digits
    email = f"{scene.canary('customers.contacts', 'email')}@example.cn"
    person = Customer.objects.get(pk=scene.person.pk)
    customer_update(
        actor=scene.admin,
        customer=person,
        data=CustomerInput(
            name=person.name,
            address=person.address,
            notes=person.notes,
            city=person.city,
            phones=[digits],
            emails=[email],
        ),
    )


def _consent(scene: Scene) -> None:
    source = scene.canary("customers.consent")
    consent_set(
        actor=scene.admin, customer=scene.person, channel="sms", granted=True, source=source
    )


def _timeline(scene: Scene) -> None:
    title = scene.canary("customers.timeline")
    timeline_add(
        actor=None, customer=scene.person, kind="note", title=f"called {title}", body=title
    )
    # A merge into someone else, undone: that customer's timeline names the person.
    other = customer_create(actor=None, data=CustomerInput(name=f"Other {uuid.uuid4().hex[:6]}"))
    person = Customer.objects.get(pk=scene.person.pk)
    merge = customer_merge(actor=None, keep=other, drop=person, chosen={})
    customer_merge_revert(actor=None, merge=merge)
    entry = Interaction.objects.get(pk=merge.before["timeline_entry"])
    assert scene.canaries["customers.record"] in entry.title


def _merge_images(scene: Scene) -> None:
    c = scene.canary("customers.merge_images")
    twin = customer_create(
        actor=None, data=CustomerInput(name=f"Dup {c}", emails=[f"dup.{c}@example.cn"])
    )
    person = Customer.objects.get(pk=scene.person.pk)
    customer_merge(actor=None, keep=person, drop=twin, chosen={"name": "kept"})
    assert CustomerMerge.objects.filter(dropped_id=twin.pk, before__icontains=c).exists()


def _import_images(scene: Scene) -> None:
    # An import that updates the person: its before-image holds the row as it was.
    c = scene.canary("customers.import_images")
    person = Customer.objects.get(pk=scene.person.pk)
    Customer.objects.filter(pk=person.pk).update(region=f"region{c}")
    email = f"{scene.canaries['customers.contacts:email']}@example.cn"
    upload = scene.canary("transfer.import_files", "upload")
    rejected = scene.canary("transfer.import_files", "rejected")
    data = csv_bytes(
        [
            ["姓名", "邮箱", "省份", "zz_ignored"],
            [person.name, email, "Elsewhere", f"kept in the upload {upload}"],
            [f"Rejected {rejected}", "not an email", "", ""],
        ]
    )
    job = services.import_start(
        actor=scene.admin, kind="customers", upload=io.BytesIO(data), filename="people.csv"
    )
    mapping = {**job.mapping, "省份": "region", "zz_ignored": ""}
    job = services.import_configure(
        actor=scene.admin,
        job=job,
        mapping=mapping,
        match_by="email",
        update_existing=True,
        valid_only=True,
    )
    job = services.import_check_request(actor=scene.admin, job=job, inline=True)
    job = services.import_commit_request(actor=scene.admin, job=job, inline=True)
    assert job.status == ImportJob.Status.DONE and job.updated_count == 1, job.message
    assert job.rejected_path, "the rejected row's report was written"
    change = ImportChange.objects.get(job=job, object_id=person.pk)
    assert c in str(change.before)
    scene.import_job = job


def _import_files(scene: Scene) -> None:
    assert scene.import_job is not None  # planted with the import above


def _export_files(scene: Scene) -> None:
    job = ExportJob.objects.create(
        kind="customers", query="", file_format="csv", created_by=scene.admin
    )
    export_run(job.pk)
    job.refresh_from_db()
    path = export_path(job)
    assert path is not None and scene.canaries["customers.record"] in path.read_text("utf-8-sig")
    scene.export_job = job


def _tickets(scene: Scene) -> None:
    # A linked ticket with a reply and a note (the customer's words and staff's), and one never
    # linked whose requester email is the person's: both reached.
    from support.services import (
        TicketDetails,
        TicketInput,
        ticket_create,
        ticket_details_set,
        ticket_note,
        ticket_reply,
    )

    c = scene.canary("support.tickets")
    linked = ticket_create(
        actor=scene.admin,
        data=TicketInput(
            subject=f"Lost parcel {c}",
            description=f"My address is {c} Road",
            customer=Customer.objects.get(pk=scene.person.pk),
            requester_name=f"Requester {c}",
        ),
    )
    ticket_reply(actor=scene.admin, ticket=linked, body=f"Dear {c}, we are on it.")
    ticket_note(actor=scene.admin, ticket=linked, body=f"{c} called twice")
    ticket_details_set(
        actor=scene.admin,
        ticket=linked,
        details=TicketDetails(
            priority="high",
            kind="complaint",
            root_cause=f"cause {c}",
            resolution=f"resolved {c}",
            compensation=f"voucher {c}",
        ),
    )
    email = f"{scene.canaries['customers.contacts:email']}@example.cn"
    unlinked = ticket_create(
        actor=scene.admin,
        data=TicketInput(subject=f"From the form {c}", requester_email="someone@example.org"),
    )
    # As the web form leaves it when the address matched nobody at the time.
    type(unlinked).objects.filter(pk=unlinked.pk).update(requester_email=email)


def _surveys(scene: Scene) -> None:
    # A detractor's NPS answer: its comment lands in the answer, the timeline, the follow-up
    # ticket and their audit entries; the survey went to the person's address.
    from support import feedback_services
    from support.feedback_selectors import feedback_settings

    c = scene.canary("support.surveys")
    person = Customer.objects.get(pk=scene.person.pk)
    consent_set(actor=scene.admin, customer=person, channel="email", granted=True, source="form")
    feedback_settings()
    (pk,) = feedback_services.survey_invitations_decide(
        actor=None,
        occasions=[feedback_services.Occasion(customer_id=person.pk, key="erase:1", kind="nps")],
    )
    token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
    assert token is not None
    feedback_services.survey_answer(actor=None, token=token, score=2, comment=f"Awful {c}")


def _audit_values(scene: Scene) -> None:
    # The triggers wrote entries for every change above; add one for every audited table whose
    # rows can name a customer, so a table audited later is covered without editing this test.
    for table, columns in audit_mention_columns().items():
        for column in columns:
            value = scene.canary("customers.audit_values", f"{table}.{column}")
            AuditEntry.objects.create(
                action="update",
                table_name=table,
                # The trigger's record id is the row's id (the customer's own, for its table).
                record_id=str(scene.person.pk)
                if column == "id"
                else f"9{uuid.uuid4().int % 10**8}",
                before={column: scene.person.pk, "note": value},
                after={column: scene.person.pk, "note": value},
            )


def _support_mail(scene: Scene) -> None:
    # A file on the person's ticket (its name and bytes), and the address a reply went to.
    from support.attachments import attachment_from_bytes, attachments_store
    from support.models import Ticket
    from support.models_mail import MailHeader

    c = scene.canary("support.mail")
    ticket = Ticket.objects.filter(customer_id=scene.person.pk).order_by("id").first()
    assert ticket is not None
    attachments_store(
        ticket=ticket,
        message=None,
        files=[attachment_from_bytes(f"scan {c}.txt", "text/plain", f"ID card {c}".encode())],
    )
    MailHeader.objects.create(
        ticket=ticket,
        direction="out",
        rfc_message_id=f"T-1.{uuid.uuid4().hex}@mail.example",
        recipient=f"{scene.canary('support.mail', 'recipient')}@example.cn",
    )
    MailHeader.objects.create(
        ticket=ticket,
        direction="in",
        rfc_message_id=f"{uuid.uuid4().hex}@example.cn",
        sender=f"{scene.canary('support.mail', 'sender')}@example.cn",
    )


def _support_saved_views(scene: Scene) -> None:
    # An agent's saved queue view searching for the person's email, named after their phone.
    from django.http import QueryDict

    from support.saved_view_services import ticket_view_save

    email = f"{scene.canaries['customers.contacts:email']}@example.cn"
    phone = scene.canaries["customers.contacts:phone"]
    scene.canaries["support.saved_views:search"] = scene.canaries["customers.contacts:email"]
    scene.canaries["support.saved_views:name"] = phone
    query = QueryDict(mutable=True)
    query.update({"queue": "all", "q": email, "priority": "high"})
    view = ticket_view_save(actor=scene.admin, name=f"Calls {phone}", query=query)
    scene.saved_view_id = view.pk


def _customer_saved_views(scene: Scene) -> None:
    # A saved customer list searching for the person's full name, named after their phone.
    from customers.services import saved_view_save

    name = f"Name {scene.canaries['customers.record']}"
    phone = scene.canaries["customers.contacts:phone"]
    view = saved_view_save(
        actor=scene.admin, name=f"Call back {phone}", query=f"q={name}&stage=lead"
    )
    scene.customer_view_id = view.pk


def _export_filters(scene: Scene) -> None:
    # An export asked with the person's email in the search box (its audit entry keeps the
    # filter), beside an export of another search that must keep its filter.
    from crm.transfer.exporting import export_audit

    email = f"{scene.canaries['customers.contacts:email']}@example.cn"
    export_audit(
        actor=scene.admin,
        kind="customers",
        query=f"q={email}&tag=vip",
        rows=1,
        fmt="csv",
        planted=True,
    )
    export_audit(
        actor=scene.admin, kind="customers", query="q=Wang&tag=vip", rows=9, fmt="csv", planted=True
    )


def _segments(scene: Scene) -> None:
    # A segment named after the person, whose rule picks them by name.
    from analytics.models_segments import Segment

    name = f"Name {scene.canaries['customers.record']}"
    rules = {
        "join": "and",
        "groups": [
            {"join": "and", "conditions": [{"field": "name", "op": "contains", "value": name}]}
        ],
    }
    scene.segment_id = Segment.objects.create(
        name=f"VIP {name}", description=f"Only {name}", rules=rules
    ).pk


def _list_cache(scene: Scene) -> None:
    # The list page the admin looked the person up on, rendered and kept in Redis.
    from tests.conftest import client_for

    name = f"Name {scene.canaries['customers.record']}"
    response = client_for(scene.member, "admin").get("/customers/", {"q": name})
    assert response.status_code == 200 and name in response.content.decode()


# In planting order (the import needs the contacts; the audit entries come last).
def _loyalty_text(scene: Scene) -> None:
    from loyalty.services import points_adjust, points_redeem

    c = scene.canary("loyalty.text")
    person = Customer.objects.get(pk=scene.person.pk)
    points_adjust(actor=scene.admin, customer=person, points=20, reason=f"goodwill {c}")
    points_adjust(actor=scene.admin, customer=person, points=10_000, reason=f"pending {c}")
    points_redeem(actor=scene.admin, customer=person, points=5, note=f"counter {c}")


PLANTERS: dict[str, Callable[[Scene], None]] = {
    "customers.record": _record,
    "customers.contacts": _contacts,
    "customers.consent": _consent,
    "customers.timeline": _timeline,
    "customers.merge_images": _merge_images,
    "customers.import_images": _import_images,
    "transfer.import_files": _import_files,
    "transfer.export_files": _export_files,
    "support.tickets": _tickets,
    "support.surveys": _surveys,
    "support.mail": _support_mail,
    "support.saved_views": _support_saved_views,
    "customers.saved_views": _customer_saved_views,
    "transfer.export_filters": _export_filters,
    "customers.list_cache": _list_cache,
    "analytics.segments": _segments,
    "customers.audit_values": _audit_values,
    "loyalty.text": _loyalty_text,
}


def _text_columns(schema: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema"
            " AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'"
            " WHERE c.table_schema = %s AND (c.data_type IN"
            " ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')"
            " OR c.data_type LIKE 'USER%%')",
            [schema],
        )
        return list(cursor.fetchall())


def _found_in_schema(schema: str, canaries: dict[str, str]) -> dict[str, list[str]]:
    pattern = "(" + "|".join(canaries.values()) + ")"
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table, column in _text_columns(schema):
            cursor.execute(
                f"SELECT DISTINCT (regexp_matches(\"{column}\"::text, %s, 'g'))[1]"  # noqa: S608
                f' FROM "{schema}"."{table}" WHERE "{column}"::text ~ %s',
                [pattern, pattern],
            )
            for (value,) in cursor.fetchall():
                found.setdefault(value, []).append(f"{table}.{column}")
    return found


def _found_in_files(roots: list[Path], canaries: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            for value in canaries.values():
                if value.encode() in data:
                    found.setdefault(value, []).append(str(path))
    return found


def _found_in_cache(schema: str, canaries: dict[str, str]) -> dict[str, list[str]]:
    """Canaries in the tenant's Redis cache entries (rendered list pages, panels)."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=False)  # type: ignore[attr-defined]
    found: dict[str, list[str]] = {}
    for key in client.scan_iter(match=f"{schema}:*"):
        data = client.get(key) or b""
        for value in canaries.values():
            if value.encode() in data:
                found.setdefault(value, []).append(f"redis {key.decode()}")
    return found


def test_every_registered_holder_is_planted_and_erased(acme, django_capture_on_commit_callbacks):
    registered = {h.name for h in erasure_holders()}
    planted = set(PLANTERS)
    assert registered == planted, (
        "every erasure holder needs a planting in PLANTERS (and every planting a holder): "
        f"missing {sorted(registered - planted)}, unknown {sorted(planted - registered)}"
    )
    with translation.override("en"), schema_context(acme.schema):
        admin = User.objects.get(pk=acme.admin.pk)
        person = customer_create(actor=admin, data=CustomerInput(name="Someone"))
        scene = Scene(member=acme, admin=admin, person=person)
        for plant in PLANTERS.values():
            plant(scene)
        from crm.tenants.files import tenant_file_path

        roots = [services.import_dir(), export_dir(), tenant_file_path("support")]

        # Every canary is really somewhere before the erasure (the test can fail).
        before = {**_found_in_schema(acme.schema, scene.canaries)}
        for value, places in _found_in_cache(acme.schema, scene.canaries).items():
            before.setdefault(value, []).extend(places)
        for value, places in _found_in_files(roots, scene.canaries).items():
            before.setdefault(value, []).extend(places)
        missing = [name for name, value in scene.canaries.items() if value not in before]
        assert not missing, f"not planted: {missing}"
        in_files = _found_in_files(roots, scene.canaries)
        for name in ("transfer.import_files:upload", "transfer.import_files:rejected"):
            assert scene.canaries[name] in in_files, name

        # What the erasure leaves to its commit (the list cache) runs here too.
        with django_capture_on_commit_callbacks(execute=True):
            customer_erase(actor=admin, customer=Customer.objects.get(pk=person.pk))

        left = _found_in_schema(acme.schema, scene.canaries)
        left.update(_found_in_cache(acme.schema, scene.canaries))
        left.update(_found_in_files(roots, scene.canaries))
        names = {value: name for name, value in scene.canaries.items()}
        assert not left, {names[v]: places for v, places in left.items()}

        # What stays: the row as "Erased customer #id", the job rows with their counts.
        assert Customer.objects.get(pk=person.pk).name == f"Erased customer #{person.pk}"
        assert scene.import_job is not None and scene.export_job is not None
        job = ImportJob.objects.get(pk=scene.import_job.pk)
        assert (job.status, job.updated_count, job.rejected_path) == ("done", 1, "")
        assert "because a customer was erased" in job.message
        # The saved view stays, its other filters too, without the search or the phone.
        from support.models_saved_views import TicketSavedView

        assert scene.saved_view_id is not None
        view = TicketSavedView.objects.get(pk=scene.saved_view_id)
        assert (view.name, view.query) == (f"Saved view #{view.pk}", "queue=all&priority=high")
        export = ExportJob.objects.get(pk=scene.export_job.pk)
        assert (export.status, export.file_path) == (ExportJob.Status.FAILED, "")
        # The saved customer list keeps its other filter; the export entries their filters but
        # the person's email.
        assert scene.customer_view_id is not None
        customer_view = SavedView.objects.get(pk=scene.customer_view_id)
        assert (customer_view.name, customer_view.query) == (
            f"Saved view #{customer_view.pk}",
            "stage=lead",
        )
        filters = sorted(
            e.detail["filter"]
            for e in AuditEntry.objects.filter(action="export", detail__planted=True)
        )
        assert filters == ["q=Wang&tag=vip", "tag=vip"]
        # The segment stays, renamed, its rule matching nobody rather than everyone.
        from analytics.models_segments import Segment

        assert scene.segment_id is not None
        segment = Segment.objects.get(pk=scene.segment_id)
        condition = segment.rules["groups"][0]["conditions"][0]
        assert (segment.name, segment.description) == (f"Segment #{segment.pk}", "")
        assert (condition["field"], condition["value"]) == ("name", "•erased")
