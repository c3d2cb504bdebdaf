"""One isolation case per URL pattern. A pattern without a case fails the suite.

Kinds:
- public: reachable without logging in (login, password reset, language, health);
- staff: needs a logged-in member of this tenant; another tenant's session must not work;
- token: carries a signed token for one tenant's user; it must not work on another tenant;
- object: names one tenant's record; from another tenant it is a 404 (later apps add these:
  build the record in `tenant` with an id the other tenant does not have, and return kwargs);
- operator: platform console; only operators of the public schema get in;
- api: the JSON API (/api/v1/), reached with an API token of `scope`, never with a session;
  another tenant's token is a 401 (tests/isolation/test_isolation.py, test_api_*).
"""

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tenants.utils import schema_context

from crm.accounts import roles
from crm.accounts.models import Invitation, User
from crm.accounts.services import invitation_create, role_create, staff_create, team_save
from customers.models import SavedView
from customers.services import CustomerInput, customer_create
from tests.testkit.cast import TenantCast
from tests.testkit.otp import authenticator_for

Kind = Literal["public", "staff", "token", "object", "operator", "api"]
KwargsFactory = Callable[[TenantCast], dict[str, str]]


@dataclass(frozen=True)
class Case:
    kind: Kind
    method: Literal["GET", "POST"] = "GET"
    kwargs: KwargsFactory | None = None
    # Roles of this tenant that may use it; the others get 403. None: every role.
    roles: tuple[str, ...] | None = None
    # api: the token scope it needs (None: an address that answers a JSON 404 to anyone).
    scope: str | None = None


def _reset_link(member: TenantCast) -> dict[str, str]:
    with schema_context(member.schema):
        user = User.objects.get(pk=member.users["agent"].pk)
        return {
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        }


def _new_staff(member: TenantCast) -> dict[str, str]:
    """A staff account made for the case, so its id is one the other tenant does not have."""
    with schema_context(member.schema):
        user = staff_create(
            actor=None,
            email=f"case-{uuid.uuid4().hex[:8]}@{member.tenant.slug}.test",
            full_name="Case Study",
            role=roles.AGENT,
            password=None,
        )
        return {"user_id": str(user.pk)}


def _new_inactive_staff(member: TenantCast) -> dict[str, str]:
    kwargs = _new_staff(member)
    with schema_context(member.schema):
        User.objects.filter(pk=kwargs["user_id"]).update(is_active=False)
    return kwargs


def _new_role(member: TenantCast) -> dict[str, str]:
    with schema_context(member.schema):
        group = role_create(
            actor=None,  # type: ignore[arg-type]
            name=f"Case {uuid.uuid4().hex[:6]}",
            description="",
            scope="own",
            codenames=["view_records"],
        )
        return {"role_id": str(group.pk)}


def _new_team(member: TenantCast) -> dict[str, str]:
    with schema_context(member.schema):
        team = team_save(actor=None, team=None, name=f"Case {uuid.uuid4().hex[:6]}", members=[])  # type: ignore[arg-type]
        return {"team_id": str(team.pk)}


def _new_invitation(member: TenantCast) -> tuple[Invitation, str]:
    with schema_context(member.schema):
        return invitation_create(
            actor=User.objects.get(pk=member.users["admin"].pk),
            email=f"invitee-{uuid.uuid4().hex[:8]}@example.com",
            full_name="",
            role=Group.objects.get(name=roles.VIEWER),
            teams=[],
        )


def _invitation_id(member: TenantCast) -> dict[str, str]:
    return {"invitation_id": str(_new_invitation(member)[0].pk)}


def _invitation_token(member: TenantCast) -> dict[str, str]:
    return {"token": _new_invitation(member)[1]}


def _new_customer(member: TenantCast) -> dict[str, str]:
    """A customer owned by the tenant's agent (whose scope is their own and their teams'), with a
    phone and an email, so masking is put to the test on its pages."""
    with schema_context(member.schema):
        customer = customer_create(
            actor=None,
            data=CustomerInput(
                name="张伟 Case",
                phones=["+86 138 0013 8000"],
                emails=[f"zhang.wei.{uuid.uuid4().hex[:6]}@example.cn"],
                birthday=datetime.date(1990, 2, 28),
                address="88 Nanjing Road",
                owner=User.objects.get(pk=member.users["agent"].pk),
            ),
        )
        return {"pk": str(customer.pk)}


def _admins_saved_view(member: TenantCast) -> dict[str, str]:
    """A saved view is its owner's alone; the isolation test acts as the admin."""
    with schema_context(member.schema):
        view = SavedView.objects.create(
            user=User.objects.get(pk=member.users["admin"].pk),
            name=f"Case {uuid.uuid4().hex[:6]}",
            query="stage=loyal",
        )
        return {"view_id": str(view.pk)}


def _slug(member: TenantCast) -> dict[str, str]:
    return {"slug": member.tenant.slug}


def _locked_out_email(member: TenantCast) -> dict[str, str]:
    """An email locked out in this tenant only; unlocking it elsewhere finds nothing (404)."""
    email = f"locked-{uuid.uuid4().hex[:8]}@example.com"
    with schema_context(member.schema):
        AccessAttempt.objects.create(
            username=email,
            ip_address="203.0.113.9",
            user_agent="case",
            failures_since_start=settings.AXES_FAILURE_LIMIT,
            attempt_time=timezone.now(),
            get_data="",
            post_data="",
            http_accept="",
            path_info="/login/",
        )
    return {"email": email}


def _enrolled_staff(member: TenantCast) -> dict[str, str]:
    kwargs = _new_staff(member)
    with schema_context(member.schema):
        authenticator_for(User.objects.get(pk=kwargs["user_id"]))
    return kwargs


ADMIN_ONLY = ("admin",)
ALL_ROLES = ("admin", "manager", "agent", "marketing", "viewer")
WRITERS = ("admin", "manager", "agent")
RFM_READERS = ("admin", "manager", "marketing")  # "see reports"
RFM_EDITORS = ("admin", "manager")  # "see reports" and "change records"


# Duplicates and merges (issue #4, helper "merge"): two similar customers of the agent's.
def _new_customer_pair(member: TenantCast) -> tuple[int, int]:
    a = int(_new_customer(member)["pk"])
    b = int(_new_customer(member)["pk"])
    return a, b


def _new_merge_pair(member: TenantCast) -> dict[str, str]:
    a, b = _new_customer_pair(member)
    return {"a": str(a), "b": str(b)}


def _new_duplicate_pair(member: TenantCast) -> dict[str, str]:
    from customers.models import DuplicatePair

    a, b = _new_customer_pair(member)
    with schema_context(member.schema):
        pair = DuplicatePair.objects.create(
            customer_a_id=a, customer_b_id=b, score=90, reasons=["phone"]
        )
        return {"pk": str(pair.pk)}


def _new_customer_merge(member: TenantCast) -> dict[str, str]:
    from customers.merge import customer_merge
    from customers.models import Customer

    a, b = _new_customer_pair(member)
    with schema_context(member.schema):
        done = customer_merge(
            actor=None,
            keep=Customer.objects.get(pk=a),
            drop=Customer.objects.get(pk=b),
            chosen={},
        )
        return {"pk": str(done.pk)}


EXPORTERS = ("admin", "manager")  # export and see personal data


# Exports of issue #5 (helper "exporter"): roles with the "export" capability.
EXPORT_ROLES = ("admin", "manager", "marketing")


def _admins_export(member: TenantCast) -> dict[str, int]:
    """A finished export with its file, made by the admin (the test acts as the admin; anyone
    else gets a 404, see tests/transfer/test_exports.py)."""
    from crm.transfer.exporting import export_dir
    from crm.transfer.models import ExportJob

    with schema_context(member.schema):
        folder = export_dir()
        job = ExportJob.objects.create(
            kind="customers",
            file_format="csv",
            status=ExportJob.Status.DONE,
            rows_done=0,
            created_by=User.objects.get(pk=member.users["admin"].pk),
        )
        path = folder / f"{job.pk}-case.csv"
        path.write_text("\ufeffname\n", encoding="utf-8")
        ExportJob.objects.filter(pk=job.pk).update(file_path=f"exports/{path.name}")
        return {"pk": job.pk}


# Imports of issue #5 (helper "engine"): roles with the "import" capability.
IMPORT_ROLES = ("admin", "manager")


def _import_job(member: TenantCast, *, checked: bool = False) -> dict[str, str]:
    """An uploaded customers file (checked, with one rejected row and its CSV, when asked). Its
    id is above every other tenant's import ids, so from there it is a 404, not someone else's
    job."""
    import io

    from django.db import connection

    from crm.tenants.models import Tenant
    from crm.transfer import services

    with connection.cursor() as cursor:
        highest = 0
        for schema in Tenant.objects.exclude(schema_name=member.schema).values_list(
            "schema_name", flat=True
        ):
            cursor.execute("SELECT to_regclass(%s)", [f'"{schema}".transfer_importjob'])
            if cursor.fetchone()[0] is None:
                continue
            cursor.execute(f'SELECT coalesce(max(id), 0) FROM "{schema}".transfer_importjob')  # noqa: S608
            highest = max(highest, cursor.fetchone()[0])
    rows = "姓名,手机\r\nCase 导入,13800138000\r\n" + ("坏行,12\r\n" if checked else "")
    with schema_context(member.schema):
        with connection.cursor() as cursor:
            cursor.execute(
                # Never lower the sequence (setval outlives the test's rollback): ids handed out
                # before must not come back, or a new job meets an old job's files.
                "SELECT setval(pg_get_serial_sequence('transfer_importjob', 'id'),"
                " greatest(%s, (SELECT coalesce(max(id), 1) FROM transfer_importjob),"
                " nextval(pg_get_serial_sequence('transfer_importjob', 'id'))))",
                [highest + 1],
            )
        manager = User.objects.get(pk=member.users["manager"].pk)
        job = services.import_start(
            actor=manager,
            kind="customers",
            upload=io.BytesIO(rows.encode()),
            filename="case.csv",
        )
        if checked:
            job = services.import_configure(
                actor=manager,
                job=job,
                mapping=job.mapping,
                match_by="phone",
                update_existing=True,
                valid_only=True,
            )
            job = services.import_check_request(actor=manager, job=job, inline=True)
        return {"pk": str(job.pk)}


def _checked_import_job(member: TenantCast) -> dict[str, str]:
    return _import_job(member, checked=True)


ERASERS = ("admin", "manager")


# The Django admin on the tenant site (issue #5, helper "exporter"): administrators only.
ADMINS = ("admin",)


def _admin_customer(member: TenantCast) -> dict[str, str]:
    return {"object_id": str(_new_customer(member)["pk"])}


def _admin_order(member: TenantCast) -> dict[str, str]:
    from decimal import Decimal

    from django.utils import timezone

    from customers.models import Customer, Order

    pk = _new_customer(member)["pk"]
    with schema_context(member.schema):
        order = Order.objects.create(
            number=f"CASE-{uuid.uuid4().hex[:10]}",
            customer=Customer.objects.get(pk=pk),
            ordered_at=timezone.now(),
            amount=Decimal("9.90"),
            currency="CNY",
        )
        return {"object_id": str(order.pk)}


# Custom field definitions (issue #4, helper "fields"): administrators only.
def _new_custom_field(member: TenantCast) -> dict[str, str]:
    """An unused field (so deleting it succeeds), with a key of its own."""
    from customers.custom_field_services import CustomFieldInput, custom_field_create

    with schema_context(member.schema):
        made = custom_field_create(
            actor=None,
            key=f"case_{uuid.uuid4().hex[:8]}",
            data=CustomFieldInput(label="Case field", kind="text"),
        )
        return {"pk": str(made.pk)}


# Support tickets (issue 16, first part, helper "support"): a ticket of the agent's (so every
# role that may see tickets sees it), settings for managers and administrators.
SUPPORT_CONFIGURERS = ("admin", "manager")


def _new_ticket(member: TenantCast) -> dict[str, str]:
    from support.services import TicketInput, ticket_create

    customer_pk = _new_customer(member)["pk"]
    with schema_context(member.schema):
        from customers.models import Customer

        ticket = ticket_create(
            actor=None,
            data=TicketInput(
                subject="Case ticket",
                customer=Customer.objects.get(pk=customer_pk),
                assignee=User.objects.get(pk=member.users["agent"].pk),
            ),
        )
        return {"pk": str(ticket.pk)}


def _new_ticket_action(member: TenantCast) -> dict[str, str]:
    """A ticket and loyalty's goodwill action on it (support.ticket_actions)."""
    return {**_new_ticket(member), "key": "loyalty.goodwill"}


def _admins_ticket_view(member: TenantCast) -> dict[str, str]:
    """A saved queue view is its owner's alone; the isolation test acts as the admin."""
    from support.models import TicketSavedView

    with schema_context(member.schema):
        view = TicketSavedView.objects.create(
            user=User.objects.get(pk=member.users["admin"].pk),
            name=f"Case {uuid.uuid4().hex[:6]}",
            query="queue=all&priority=high",
        )
        return {"pk": str(view.pk)}


def _new_holiday_override(member: TenantCast) -> dict[str, str]:
    from support.models import HolidayOverride

    with schema_context(member.schema):
        day = datetime.date(2030, 1, 1) + datetime.timedelta(days=uuid.uuid4().int % 3000)
        override, _created = HolidayOverride.objects.get_or_create(
            date=day, defaults={"kind": "holiday", "name": "Case"}
        )
        return {"pk": str(override.pk)}


def _new_canned_response(member: TenantCast) -> dict[str, str]:
    from support.models import CannedResponse

    with schema_context(member.schema):
        made = CannedResponse.objects.create(
            title=f"Case {uuid.uuid4().hex[:8]}", body="Hello {{customer.name}}"
        )
        return {"pk": str(made.pk)}


def _web_form_sent(member: TenantCast) -> dict[str, str]:
    """The confirmation link the web form gives after a ticket (signed for this tenant)."""
    from support.web_form import sent_token

    with schema_context(member.schema):
        return {"token": sent_token(1)}


# Support email and attachments (issue 16, helper "mail"): a file on the agent's ticket, a
# reply whose delivery failed, the inbound address (its secret is the credential).
def _new_ticket_attachment(member: TenantCast) -> dict[str, str]:
    from support.attachments import attachment_from_bytes, attachments_store
    from support.models import Ticket

    ticket_pk = _new_ticket(member)["pk"]
    with schema_context(member.schema):
        made = attachments_store(
            ticket=Ticket.objects.get(pk=ticket_pk),
            message=None,
            files=[attachment_from_bytes("case.txt", "text/plain", b"case file")],
        )
        return {"pk": str(made[0].pk)}


def _new_failed_reply(member: TenantCast) -> dict[str, str]:
    from support.models import TicketMessage

    ticket_pk = _new_ticket(member)["pk"]
    with schema_context(member.schema):
        message = TicketMessage.objects.create(
            ticket_id=ticket_pk, kind="reply", body="Case reply", delivery="failed"
        )
        return {"pk": str(message.pk)}


def _inbound_secret(member: TenantCast) -> dict[str, str]:
    from support.mail_settings import inbound_secret_ensure

    with schema_context(member.schema):
        return {"secret": inbound_secret_ensure(actor=None)}


def _new_sla_override(member: TenantCast) -> dict[str, str]:
    """An override naming loyalty's tier filter (its value need not be valid for the case)."""
    from support.models import SlaOverride

    with schema_context(member.schema):
        key = uuid.uuid4().hex[:8]
        made = SlaOverride.objects.create(
            name=f"Case {key}", filter_key="tier", filter_value=f"case-{key}"
        )
        return {"pk": str(made.pk)}


# The JSON API and its tokens page (issue #15, helper "api").
def _api_customer(member: TenantCast) -> dict[str, str]:
    """A customer known by an external id of this tenant only."""
    with schema_context(member.schema):
        customer = customer_create(
            actor=None,
            data=CustomerInput(name="API Case", external_id=f"case-{uuid.uuid4().hex[:10]}"),
        )
        return {"external_id": customer.external_id}


def _api_token(member: TenantCast) -> dict[str, str]:
    from crm.api.services import api_token_create

    with schema_context(member.schema):
        token, _secret = api_token_create(
            actor=None, name=f"Case {uuid.uuid4().hex[:6]}", scopes=["loyalty"]
        )
        return {"token_id": str(token.pk)}


# Analytics pages (issue 17).
REPORT_ROLES = ("admin", "manager", "marketing")  # "see reports"
CHURN_CONFIGURERS = ("admin", "manager")  # "see reports" and "change records"

# Loyalty staff pages (issue #15, helper "loyaltyui").
LOYALTY_MANAGERS = ("admin", "manager")  # "manage loyalty" and "adjust points above the limit"


def _above_other_tenants(member: TenantCast, table: str) -> None:
    """Move `table`'s id sequence in `member` above every other tenant's ids, so the record
    made next is one no other tenant has (from there it is a 404, not someone else's)."""
    from django.db import connection

    from crm.tenants.models import Tenant

    highest = 0
    with connection.cursor() as cursor:
        for schema in Tenant.objects.exclude(schema_name=member.schema).values_list(
            "schema_name", flat=True
        ):
            cursor.execute("SELECT to_regclass(%s)", [f'"{schema}".{table}'])
            if cursor.fetchone()[0] is None:
                continue
            cursor.execute(f'SELECT coalesce(max(id), 0) FROM "{schema}".{table}')  # noqa: S608
            highest = max(highest, cursor.fetchone()[0])
    with schema_context(member.schema), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
            f" greatest(%s, (SELECT coalesce(max(id), 1) FROM {table}),"
            f" nextval(pg_get_serial_sequence('{table}', 'id'))))",
            [highest + 1],
        )


def _loyalty_member(member: TenantCast, points: int = 500) -> int:
    """A customer of the agent's with `points` granted by hand (at most the default limit)."""
    from customers.models import Customer
    from loyalty.services import points_adjust

    pk = int(_new_customer(member)["pk"])
    with schema_context(member.schema):
        points_adjust(
            actor=None, customer=Customer.objects.get(pk=pk), points=points, reason="case"
        )
    return pk


def _new_redemption(member: TenantCast) -> dict[str, str]:
    from customers.models import Customer
    from loyalty.services import points_redeem

    pk = _loyalty_member(member)
    _above_other_tenants(member, "loyalty_redemption")
    with schema_context(member.schema):
        done = points_redeem(actor=None, customer=Customer.objects.get(pk=pk), points=100)
        return {"pk": str(done.pk)}


def _new_pending_adjustment(member: TenantCast) -> dict[str, str]:
    """Asked for by the agent, above the limit: the admin and the manager may decide it."""
    from customers.models import Customer
    from loyalty.models import Programme
    from loyalty.services import points_adjust

    pk = _loyalty_member(member)
    _above_other_tenants(member, "loyalty_adjustment")
    with schema_context(member.schema):
        limit = Programme.objects.get(pk=1).adjustment_limit
        asked = points_adjust(
            actor=User.objects.get(pk=member.users["agent"].pk),
            customer=Customer.objects.get(pk=pk),
            points=limit + 1,
            reason="case",
        )
        return {"pk": str(asked.pk)}


def _new_tier(member: TenantCast) -> dict[str, str]:
    from loyalty.models import Tier

    _above_other_tenants(member, "loyalty_tier")
    with schema_context(member.schema):
        top = max(Tier.objects.values_list("position", flat=True), default=0)
        tier = Tier.objects.create(
            name=f"Case {uuid.uuid4().hex[:6]}", position=top + 1, threshold=10**9
        )
        return {"pk": str(tier.pk)}


def _new_earn_rule(member: TenantCast) -> dict[str, str]:
    from loyalty.models import EarnRule

    _above_other_tenants(member, "loyalty_earnrule")
    with schema_context(member.schema):
        return {"pk": str(EarnRule.objects.create(name="Case", multiplier=2).pk)}


def _new_reward(member: TenantCast) -> dict[str, str]:
    from loyalty.models import Reward

    _above_other_tenants(member, "loyalty_reward")
    with schema_context(member.schema):
        return {"pk": str(Reward.objects.create(name="Case", points_cost=100).pk)}


# Feedback surveys (issue 16, helper "feedback"): reports and comments for "see reports";
# settings and NPS sends for "manage surveys and care messages"; the survey link is public.
REPORTERS = ("admin", "manager", "marketing")
ENGAGERS = ("admin", "manager", "marketing")


def _survey_token(member: TenantCast) -> dict[str, str]:
    """A survey link sent to a consenting customer of this tenant (tokens live in its schema,
    so the other tenant's host knows nothing of it)."""
    from customers.services import consent_set
    from support import feedback_services
    from support.feedback_selectors import feedback_settings

    customer_pk = _new_customer(member)["pk"]
    with schema_context(member.schema):
        from customers.models import Customer

        person = Customer.objects.get(pk=customer_pk)
        consent_set(actor=None, customer=person, channel="email", granted=True, source="case")
        feedback_settings()
        (pk,) = feedback_services.survey_invitations_decide(
            actor=None,
            occasions=[
                feedback_services.Occasion(
                    customer_id=person.pk, key=f"case:{uuid.uuid4().hex}", kind="nps"
                )
            ],
        )
        token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
        assert token is not None
        return {"token": token}


def _new_survey_send(member: TenantCast) -> dict[str, str]:
    from support.models_feedback import SurveySend

    _above_other_tenants(member, "support_surveysend")
    with schema_context(member.schema):
        send = SurveySend.objects.create(kind="nps", name="Case", status="done", total=0)
        return {"pk": str(send.pk)}


# Analytics segments (issue #17, helper "dash"): reading needs "see reports", building
# "manage segments".
REPORT_ROLES = ("admin", "manager", "marketing")
SEGMENT_ROLES = ("admin", "manager", "marketing")


def _new_segment(member: TenantCast) -> dict[str, str]:
    from analytics.models_segments import Segment
    from analytics.segment_rules import rules_from_json
    from analytics.segment_services import segment_save

    _above_other_tenants(member, "analytics_segment")
    rules = {
        "join": "and",
        "groups": [{"join": "and", "conditions": [{"field": "city", "op": "present"}]}],
    }
    with schema_context(member.schema):
        segment = segment_save(
            actor=None,
            segment=Segment(name=f"Case {uuid.uuid4().hex[:6]}"),
            rules=rules_from_json(rules),
        )
        return {"pk": str(segment.pk)}


TENANT_CASES: dict[str, Case] = {
    "home": Case("staff"),
    "accounts:login": Case("public"),
    "accounts:logout": Case("public", method="POST"),
    "accounts:password_reset": Case("public"),
    "accounts:password_reset_done": Case("public"),
    "accounts:password_reset_confirm": Case("token", kwargs=_reset_link),
    "accounts:password_reset_complete": Case("public"),
    "accounts:language_set": Case("public", method="POST"),
    "accounts:two_factor_setup": Case("staff"),
    "accounts:two_factor_verify": Case("staff"),
    "accounts:two_factor_recovery_codes": Case("staff", method="POST"),
    "accounts:security": Case("staff", roles=ADMIN_ONLY),
    "accounts:security_policy": Case("staff", method="POST", roles=ADMIN_ONLY),
    "accounts:security_unlock": Case(
        "object", method="POST", kwargs=_locked_out_email, roles=ADMIN_ONLY
    ),
    "accounts:security_two_factor_reset": Case(
        "object", method="POST", kwargs=_enrolled_staff, roles=ADMIN_ONLY
    ),
    "invitation_accept": Case("object", kwargs=_invitation_token),
    "admin_console:staff_list": Case("staff", roles=ADMIN_ONLY),
    "admin_console:staff_invite": Case("staff", roles=ADMIN_ONLY),
    "admin_console:staff_edit": Case("object", kwargs=_new_staff, roles=ADMIN_ONLY),
    "admin_console:staff_access": Case("object", kwargs=_new_staff, roles=ADMIN_ONLY),
    "admin_console:staff_deactivate": Case(
        "object", method="POST", kwargs=_new_staff, roles=ADMIN_ONLY
    ),
    "admin_console:staff_reactivate": Case(
        "object", method="POST", kwargs=_new_inactive_staff, roles=ADMIN_ONLY
    ),
    "admin_console:staff_password_reset": Case(
        "object", method="POST", kwargs=_new_staff, roles=ADMIN_ONLY
    ),
    "admin_console:invitation_revoke": Case(
        "object", method="POST", kwargs=_invitation_id, roles=ADMIN_ONLY
    ),
    "admin_console:role_list": Case("staff", roles=ADMIN_ONLY),
    "admin_console:role_new": Case("staff", roles=ADMIN_ONLY),
    "admin_console:role_edit": Case("object", kwargs=_new_role, roles=ADMIN_ONLY),
    "admin_console:role_delete": Case("object", method="POST", kwargs=_new_role, roles=ADMIN_ONLY),
    "admin_console:team_list": Case("staff", roles=ADMIN_ONLY),
    "admin_console:team_edit": Case("object", kwargs=_new_team, roles=ADMIN_ONLY),
    "admin_console:team_delete": Case("object", method="POST", kwargs=_new_team, roles=ADMIN_ONLY),
    "admin_console:audit_log": Case("staff", roles=ADMIN_ONLY),
    "customers:home": Case("staff", roles=ALL_ROLES),
    "customers:new": Case("staff", roles=WRITERS),
    "customers:bulk": Case("staff", method="POST", roles=ALL_ROLES),
    "customers:view_save": Case("staff", method="POST", roles=ALL_ROLES),
    # Only its owner may delete a saved view; others get a 404 (see the customers tests).
    "customers:view_delete": Case("object", method="POST", kwargs=_admins_saved_view),
    "customers:detail": Case("object", kwargs=_new_customer, roles=ALL_ROLES),
    "customers:edit": Case("object", kwargs=_new_customer, roles=WRITERS),
    "customers:interaction_add": Case("object", method="POST", kwargs=_new_customer, roles=WRITERS),
    "customers:export": Case("object", method="POST", kwargs=_new_customer, roles=EXPORTERS),
    "customers:stage": Case("object", method="POST", kwargs=_new_customer, roles=WRITERS),
    "customers:erase": Case("object", method="POST", kwargs=_new_customer, roles=ERASERS),
    "customers:consent_change": Case("object", method="POST", kwargs=_new_customer, roles=WRITERS),
    # Duplicates and merges (issue #4, helper "merge"): "change records"; merging and undoing
    # also need "see personal data", which every writer role has.
    "customers:duplicates": Case("staff", roles=WRITERS),
    "customers:duplicates_refresh": Case("staff", method="POST", roles=WRITERS),
    "customers:duplicate_dismiss": Case(
        "object", method="POST", kwargs=_new_duplicate_pair, roles=WRITERS
    ),
    "customers:merge": Case("object", kwargs=_new_merge_pair, roles=WRITERS),
    "customers:merges": Case("staff", roles=WRITERS),
    "customers:merge_revert": Case(
        "object", method="POST", kwargs=_new_customer_merge, roles=WRITERS
    ),
    # Custom field definitions (issue #4, helper "fields")
    "customers:custom_fields": Case("staff", roles=ADMIN_ONLY),
    "customers:custom_field_new": Case("staff", roles=ADMIN_ONLY),
    "customers:custom_field_edit": Case("object", kwargs=_new_custom_field, roles=ADMIN_ONLY),
    "customers:custom_field_archive": Case(
        "object", method="POST", kwargs=_new_custom_field, roles=ADMIN_ONLY
    ),
    "customers:custom_field_restore": Case(
        "object", method="POST", kwargs=_new_custom_field, roles=ADMIN_ONLY
    ),
    "customers:custom_field_delete": Case(
        "object", method="POST", kwargs=_new_custom_field, roles=ADMIN_ONLY
    ),
    "customers:custom_field_move": Case(
        "object", method="POST", kwargs=_new_custom_field, roles=ADMIN_ONLY
    ),
    # Exports (issue #5, helper "exporter")
    "transfer:exports": Case("staff", roles=EXPORT_ROLES),
    "transfer:export_rows": Case("staff", roles=EXPORT_ROLES),
    "transfer:export_start": Case(
        "staff", kwargs=lambda m: {"kind": "customers"}, roles=EXPORT_ROLES
    ),
    "transfer:export_download": Case("object", kwargs=_admins_export),
    # Imports (issue #5, helper "engine"): the "import" capability; the rejected rows' CSV
    # also needs "see personal data", which both importing roles have.
    "transfer:imports": Case("staff", roles=IMPORT_ROLES),
    "transfer:import_new": Case("staff", roles=IMPORT_ROLES),
    "transfer:import_detail": Case("object", kwargs=_import_job, roles=IMPORT_ROLES),
    "transfer:import_map": Case("object", kwargs=_import_job, roles=IMPORT_ROLES),
    "transfer:import_progress": Case("object", kwargs=_import_job, roles=IMPORT_ROLES),
    "transfer:import_rejected_csv": Case("object", kwargs=_checked_import_job, roles=IMPORT_ROLES),
    "transfer:import_commit": Case(
        "object", method="POST", kwargs=_checked_import_job, roles=IMPORT_ROLES
    ),
    "transfer:import_undo": Case("object", kwargs=_import_job, roles=IMPORT_ROLES),
    # The Django admin (issue #5, helper "exporter"): ADMINISTER only, our sign-in, 404 across
    # tenants; add/delete and the admin's other routes are not served.
    "tenant_admin:index": Case("staff", roles=ADMINS),
    "tenant_admin:login": Case("staff", roles=ADMINS),
    "tenant_admin:jsi18n": Case("staff", roles=ADMINS),
    "tenant_admin:app_list": Case(
        "staff", kwargs=lambda m: {"app_label": "customers"}, roles=ADMINS
    ),
    "tenant_admin:customers_customer_changelist": Case("staff", roles=ADMINS),
    "tenant_admin:customers_customer_export": Case("staff", roles=ADMINS),
    "tenant_admin:customers_customer_change": Case("object", kwargs=_admin_customer, roles=ADMINS),
    "tenant_admin:customers_customer_history": Case("object", kwargs=_admin_customer, roles=ADMINS),
    "tenant_admin:customers_order_changelist": Case("staff", roles=ADMINS),
    "tenant_admin:customers_order_export": Case("staff", roles=ADMINS),
    "tenant_admin:customers_order_change": Case("object", kwargs=_admin_order, roles=ADMINS),
    "tenant_admin:customers_order_history": Case("object", kwargs=_admin_order, roles=ADMINS),
    "support:home": Case("staff", roles=ALL_ROLES),
    "support:bulk": Case("staff", method="POST", roles=WRITERS),
    "support:new": Case("staff", roles=WRITERS),
    "support:detail": Case("object", kwargs=_new_ticket, roles=ALL_ROLES),
    "support:reply": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:note": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:status": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:assign": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:details": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:watch": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:merge": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:customer_link": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:escalate": Case("object", method="POST", kwargs=_new_ticket, roles=WRITERS),
    "support:action": Case("object", method="POST", kwargs=_new_ticket_action, roles=WRITERS),
    "support:view_save": Case("staff", method="POST", roles=ALL_ROLES),
    "support:view_rename": Case("object", method="POST", kwargs=_admins_ticket_view),
    "support:view_delete": Case("object", method="POST", kwargs=_admins_ticket_view),
    "support:settings": Case("staff", roles=SUPPORT_CONFIGURERS),
    "support:attachment": Case("object", kwargs=_new_ticket_attachment, roles=ALL_ROLES),
    "support:reply_send_again": Case(
        "object", method="POST", kwargs=_new_failed_reply, roles=WRITERS
    ),
    "support:mail_settings": Case("staff", method="POST", roles=SUPPORT_CONFIGURERS),
    "support:inbound_rotate": Case("staff", method="POST", roles=("admin",)),
    # A relay's post: the secret names the tenant (another tenant's is a 404 there,
    # tests/tickets/test_mail_inbound.py).
    "inbound_email": Case("token", method="POST", kwargs=_inbound_secret),
    "support:override_delete": Case(
        "object", method="POST", kwargs=_new_holiday_override, roles=SUPPORT_CONFIGURERS
    ),
    "support:sla_overrides": Case("staff", roles=SUPPORT_CONFIGURERS),
    "support:sla_override_edit": Case(
        "object", kwargs=_new_sla_override, roles=SUPPORT_CONFIGURERS
    ),
    "support:sla_override_delete": Case(
        "object", method="POST", kwargs=_new_sla_override, roles=SUPPORT_CONFIGURERS
    ),
    # Attainment reports: "see reports" (admin, manager, marketing).
    "support:reports": Case("staff", roles=("admin", "manager", "marketing")),
    "support:reports_csv": Case("staff", roles=("admin", "manager", "marketing")),
    "support:canned": Case("staff", roles=SUPPORT_CONFIGURERS),
    "support:canned_edit": Case("object", kwargs=_new_canned_response, roles=SUPPORT_CONFIGURERS),
    "support:canned_delete": Case(
        "object", method="POST", kwargs=_new_canned_response, roles=SUPPORT_CONFIGURERS
    ),
    "support:web_form_settings": Case("staff", roles=SUPPORT_CONFIGURERS),
    # The public web form (issue 16, helper "portal"): no sign-in, on every tenant's host.
    "web_form:form": Case("public"),
    "web_form:sent": Case("public", kwargs=_web_form_sent),
    "loyalty:home": Case("staff", roles=ALL_ROLES),
    # Loyalty staff pages (issue #15, helper "loyaltyui"): the counter needs "change records";
    # the queue "adjust points above the limit"; settings "manage loyalty".
    "loyalty:redeem": Case("object", method="POST", kwargs=_new_customer, roles=WRITERS),
    "loyalty:adjust": Case("object", method="POST", kwargs=_new_customer, roles=WRITERS),
    "loyalty:history": Case("object", kwargs=_new_customer, roles=ALL_ROLES),
    "loyalty:statement": Case("object", kwargs=_new_customer, roles=ALL_ROLES),
    "loyalty:receipt": Case("object", kwargs=_new_redemption, roles=ALL_ROLES),
    "loyalty:redemption_cancel": Case(
        "object", method="POST", kwargs=_new_redemption, roles=WRITERS
    ),
    "loyalty:approvals": Case("staff", roles=LOYALTY_MANAGERS),
    "loyalty:adjustment_decide": Case(
        "object", method="POST", kwargs=_new_pending_adjustment, roles=LOYALTY_MANAGERS
    ),
    "loyalty:settings": Case("staff", roles=LOYALTY_MANAGERS),
    "loyalty:tier_new": Case("staff", roles=LOYALTY_MANAGERS),
    "loyalty:tier_edit": Case("object", kwargs=_new_tier, roles=LOYALTY_MANAGERS),
    "loyalty:tier_delete": Case("object", method="POST", kwargs=_new_tier, roles=LOYALTY_MANAGERS),
    "loyalty:rule_new": Case("staff", roles=LOYALTY_MANAGERS),
    "loyalty:rule_edit": Case("object", kwargs=_new_earn_rule, roles=LOYALTY_MANAGERS),
    "loyalty:reward_new": Case("staff", roles=LOYALTY_MANAGERS),
    "loyalty:reward_edit": Case("object", kwargs=_new_reward, roles=LOYALTY_MANAGERS),
    "loyalty:reward_active": Case(
        "object", method="POST", kwargs=_new_reward, roles=LOYALTY_MANAGERS
    ),
    "analytics:home": Case("staff"),
    # RFM (issue #17, helper "rfm"): reading and refreshing need "see reports"; the settings
    # and the segment map "see reports" and "change records".
    "analytics:rfm": Case("staff", roles=RFM_READERS),
    "analytics:rfm_refresh": Case("staff", method="POST", roles=RFM_READERS),
    "analytics:rfm_refresh_status": Case("staff", roles=RFM_READERS),
    "analytics:rfm_transitions": Case("staff", roles=RFM_READERS),
    "analytics:rfm_settings": Case("staff", roles=RFM_EDITORS),
    "analytics:rfm_map": Case("staff", roles=RFM_EDITORS),
    "analytics:rfm_map_reset": Case("staff", method="POST", roles=RFM_EDITORS),
    "analytics:segments": Case("staff", roles=REPORT_ROLES),
    "analytics:segment_new": Case("staff", roles=SEGMENT_ROLES),
    "analytics:segment_count": Case("staff", method="POST", roles=SEGMENT_ROLES),
    "analytics:segment_detail": Case("object", kwargs=_new_segment, roles=REPORT_ROLES),
    "analytics:segment_edit": Case("object", kwargs=_new_segment, roles=SEGMENT_ROLES),
    "analytics:segment_refresh": Case(
        "object", method="POST", kwargs=_new_segment, roles=SEGMENT_ROLES
    ),
    "analytics:segment_delete": Case(
        "object", method="POST", kwargs=_new_segment, roles=SEGMENT_ROLES
    ),
    # The churn model (issue 17, helper "churn"): "see reports"; its settings also "change".
    "analytics:churn": Case("staff", roles=REPORT_ROLES),
    "analytics:churn_risk": Case("staff", roles=REPORT_ROLES),
    "analytics:churn_settings": Case("staff", roles=CHURN_CONFIGURERS),
    "healthz": Case("public"),
    "api:api-root": Case("public"),
    "api:openapi-json": Case("public"),
    "api:openapi-view": Case("public"),
    "api:not_found": Case("api", kwargs=lambda m: {"rest": "no/such/thing"}),
    "api:customer_detail": Case("api", kwargs=_api_customer, scope="customers"),
    "api:orders": Case("api", method="POST", scope="loyalty"),
    "api:customer_loyalty": Case("api", kwargs=_api_customer, scope="loyalty"),
    "api:customer_redemptions": Case("api", method="POST", kwargs=_api_customer, scope="loyalty"),
    "api_admin:token_list": Case("staff", roles=ADMIN_ONLY),
    "api_admin:token_revoke": Case("object", method="POST", kwargs=_api_token, roles=ADMIN_ONLY),
    "survey_answer": Case("object", kwargs=_survey_token),
    "support:feedback_reports": Case("staff", roles=REPORTERS),
    "support:feedback_comments": Case("staff", roles=REPORTERS),
    "support:feedback_settings": Case("staff", roles=ENGAGERS),
    "support:feedback_sends": Case("staff", roles=ENGAGERS),
    "support:feedback_send": Case("object", kwargs=_new_survey_send, roles=ENGAGERS),
    "support:feedback_send_progress": Case("object", kwargs=_new_survey_send, roles=ENGAGERS),
}

PUBLIC_CASES: dict[str, Case] = {
    "console:home": Case("operator"),
    "console:tenant_new": Case("operator"),
    "console:tenant_detail": Case("operator", kwargs=_slug),
    "console:tenant_status": Case("operator", kwargs=_slug),
    "console:tenant_suspend": Case("operator", method="POST", kwargs=_slug),
    "console:tenant_resume": Case("operator", method="POST", kwargs=_slug),
    "console:tenant_retry": Case("operator", method="POST", kwargs=_slug),
    "console:tenant_limits": Case("operator", method="POST", kwargs=_slug),
    "accounts:login": Case("public"),
    "accounts:logout": Case("public", method="POST"),
    "accounts:password_reset": Case("public"),
    "accounts:password_reset_done": Case("public"),
    "accounts:password_reset_confirm": Case("public", kwargs=_reset_link),
    "accounts:password_reset_complete": Case("public"),
    "accounts:language_set": Case("public", method="POST"),
    # Here "staff" is any signed-in account of the public schema: their own two-factor pages.
    "accounts:two_factor_setup": Case("staff"),
    "accounts:two_factor_verify": Case("staff"),
    "accounts:two_factor_recovery_codes": Case("staff", method="POST"),
    "accounts:security": Case("operator"),
    "accounts:security_policy": Case("operator", method="POST"),
    "accounts:security_unlock": Case("operator", method="POST", kwargs=_locked_out_email),
    "accounts:security_two_factor_reset": Case("operator", method="POST", kwargs=_enrolled_staff),
    "healthz": Case("public"),
}
