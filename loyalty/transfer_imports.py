"""The "points adjustments" import kind, on the short path (crm.transfer.row_kinds): each row
names a customer (external id, phone or email), the points (+ to grant, - to deduct) and the
reason, and goes through the core's adjustment service, so the approval limit applies as at
the counter. The ledger is append-only: undo writes the opposite of each applied adjustment
and rejects those still awaiting approval (loyalty.counter_services.adjustment_undo)."""

import contextlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.lib.contacts import InvalidPhone, email_normalise, phone_e164
from crm.transfer.models import ImportJob
from crm.transfer.registry import ImportField, SourceRow
from crm.transfer.row_kinds import RowImportKind, RowRejected
from customers.models import Customer
from customers.selectors import customers_find
from customers.services import tenant_phone_region
from loyalty import counter_services, services
from loyalty.errors import InsufficientPoints
from loyalty.models import Account, Adjustment
from loyalty.programme import programme

POINTS_MAX = 10_000_000


def _customer(job: ImportJob, ref: str) -> Customer:
    """The one customer `ref` names, by external id, then email or phone; only customers the
    importing user may see."""
    user = job.created_by
    lookups: list[tuple[str, str]] = [("external_id", ref)]
    if "@" in ref:
        lookups.append(("email", email_normalise(ref)))
    else:
        with contextlib.suppress(InvalidPhone):  # not a phone number: the other keys decide
            lookups.append(("phone", phone_e164(ref, tenant_phone_region())))
    for by, value in lookups:
        found = customers_find(by=by, values=[value], user=user).get(value, [])
        if len(found) > 1:
            raise RowRejected("customer", _("%(ref)s names more than one customer.") % {"ref": ref})
        if found:
            return Customer.objects.get(pk=found[0])
    raise RowRejected(
        "customer", _("No customer has the id, phone or email %(ref)s.") % {"ref": ref}
    )


class PointsAdjustmentsImport(RowImportKind):
    key = "points_adjustments"
    label = gettext_lazy("Points adjustments")
    model = Adjustment
    noun = gettext_lazy("points adjustments")

    @property
    def fields(self) -> list[ImportField]:
        return [
            ImportField(
                "customer",
                gettext_lazy("Customer (external id, phone or email)"),
                required=True,
                aliases=(
                    "customer",
                    "member",
                    "external id",
                    "phone",
                    "email",
                    "客户",
                    "会员",
                    "手机",
                ),
            ),
            ImportField("points", gettext_lazy("Points"), required=True, aliases=("积分",)),
            ImportField("reason", gettext_lazy("Reason"), required=True, aliases=("原因", "备注")),
        ]

    def parse(self, job: ImportJob, row: SourceRow) -> dict[str, Any]:
        ref = row.values.get("customer", "").strip()
        if not ref:
            raise RowRejected("customer", _("Name the customer."))
        text = row.values.get("points", "").strip().replace(",", "").replace("+", "")
        try:
            points = int(text)
        except ValueError:
            raise RowRejected(
                "points", _("%(value)s is not a whole number of points.") % {"value": text}
            ) from None
        if points == 0 or abs(points) > POINTS_MAX:
            raise RowRejected("points", _("Adjust by at least one point (and at most 10,000,000)."))
        reason = row.values.get("reason", "").strip()
        if not reason:
            raise RowRejected("reason", _("Say why the points are adjusted."))
        customer = _customer(job, ref)
        if points < 0 and -points <= programme().adjustment_limit:
            # A deduction applied at once needs the points now; the dry run says so too.
            balance = (
                Account.objects.filter(customer_id=customer.pk)
                .values_list("balance", flat=True)
                .first()
            ) or 0
            if balance < -points:
                raise RowRejected(
                    "points",
                    _("Not enough points: the balance is %(balance)d, %(wanted)d were asked for.")
                    % {"balance": balance, "wanted": -points},
                )
        return {"customer": customer, "points": points, "reason": reason}

    def create(self, job: ImportJob, parsed: dict[str, Any]) -> models.Model:
        try:
            return services.points_adjust(actor=job.created_by, **parsed)
        except InsufficientPoints as exc:
            raise ValidationError(str(exc)) from None

    def undo_blocker(self, job: ImportJob) -> str | None:
        blocker = super().undo_blocker(job)
        if blocker:
            return blocker
        ids = list(self._changes(job).values_list("object_id", flat=True))
        granted: dict[int, int] = {}
        for adj in Adjustment.objects.filter(
            pk__in=ids, status=Adjustment.Status.APPLIED, points__gt=0
        ):
            granted[adj.account_id] = granted.get(adj.account_id, 0) + adj.points
        for account_id, balance in Account.objects.filter(pk__in=granted).values_list(
            "id", "balance"
        ):
            if balance < granted[account_id]:
                return _(
                    "Some of the points this import granted were spent since; undo cannot take "
                    "them back."
                )
        return None

    def undo_lock(self, job: ImportJob) -> None:
        ids = self._changes(job).values_list("object_id", flat=True)
        accounts = Adjustment.objects.filter(pk__in=ids).values("account_id")
        list(Account.objects.select_for_update().filter(pk__in=accounts).order_by("pk"))
        super().undo_lock(job)

    def undo(self, job: ImportJob) -> None:
        """Every row created an adjustment: take each back, newest first, as the importer."""
        ids = list(self._changes(job).values_list("object_id", flat=True))
        records = Adjustment.objects.in_bulk(ids)
        for pk in ids:
            record = records[pk]
            counter_services.adjustment_undo(
                actor=job.created_by,
                adjustment=record,
                reason=_("Import undone: %(reason)s") % {"reason": record.reason},
            )


def register() -> None:
    from crm.transfer.registry import register_import_kind

    register_import_kind(PointsAdjustmentsImport())
