# ruff: noqa: S608  (SQL is built from model metadata and constants; values are parameters)
"""The orders import kind: rows of a file become orders (see crm.transfer.registry for the
protocol).

Existing orders are matched by their number; "match by" (external id, phone or email) says how a
row's customer is found. A row naming no known customer is rejected, or, with "create customers
missing from the orders", the customer is created from the row (its name, phone, email and
external id): one customer per distinct reference in the file, later rows of the same reference
get the same customer, and undo removes them with the orders. Customers that exist are never
changed by an orders import. Order lines are not imported (an order is its totals here).

Updating an existing order (when the job says so) changes only what the file says: an empty
optional cell leaves the stored value; the customer becomes the one the row names. A row that
changes nothing counts as unchanged.

Amounts are exact Decimals with two places (RFM, churn and loyalty read them later), in the
tenant's currency unless the row says otherwise; dates and times without an offset are in the
tenant's time zone.

Undo removes the orders the import created and restores the ones it updated from their
before-images; it is refused when an order was changed after the import. Orders have no
updated_at and no audit trigger, so each ImportChange of an order keeps an md5 fingerprint of the
row as the import left it (``before["after"]``, computed in SQL by ``_fingerprint_sql`` when it
is written and again when undo is asked for): a row whose fingerprint differs was changed since
(by staff, a merge that moved it, another import).

Record scope: as with customers (customers.transfer_imports), a row's customer is looked for only
among those the importer may see, so one only others see is "no customer" (rejected, or created
with "create customers missing"), and a new customer without an owner belongs to an importer whose
scope is not "all". An order of a customer out of that scope is neither updated nor shown: its
number is unique, so the row is rejected, with a reason that names no customer.

Speed: rows are checked in batches with one query per batch for the customers (by the matching
key; keys found earlier in the file are remembered, so a customer with many orders is looked up
once) and one for the existing orders (by number), plus one for external ids when customers are
created; new orders and customers go in with COPY (the orders' ImportChange rows by one INSERT ...
SELECT per batch), updates through a temporary table and one UPDATE per batch. Nothing of the file
is held beyond the batch but the order numbers already seen (to reject duplicates inside the
file), the references of the customers created and of those found.
"""

import datetime
import functools
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.masking import MASK
from crm.lib.columns import max_length, text_error
from crm.lib.contacts import InvalidPhone, email_normalise, name_sort_key, phone_normalise
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.transfer import bulk, values
from crm.transfer.registry import (
    BATCH_ROWS,
    BatchOutcome,
    ImportField,
    ImportKind,
    ImportRun,
    Rejection,
    SourceRow,
)
from customers import order_hooks
from customers.bulk_create import CustomerNew, customers_create_missing
from customers.erasure import customer_erased_blocker
from customers.models import Customer, CustomerEmail, Order
from customers.selectors import customers_find
from customers.transfer_imports import (
    CustomersImport,
    ImporterScope,
    customers_undo,
    customers_undo_lock,
)
from customers.transfer_options import CREATE_MISSING_CUSTOMERS, UPDATE_EXISTING, match_option

if TYPE_CHECKING:
    from crm.transfer.models import ImportJob

# The order columns in table order for COPY and the update's temporary table.
ORDER_COLUMNS = (
    "id",
    "number",
    "customer_id",
    "ordered_at",
    "amount",
    "currency",
    "item_count",
    "channel",
    "store",
    "status",
)
# The field that holds each match option's key, the default (phone) first.
MATCH_FIELDS = {
    "phone": "customer_phone",
    "external_id": "customer_external_id",
    "email": "customer_email",
}
# Customer keys remembered across batches: a few dozen MB at most.
KNOWN_MAX = 300_000
AMOUNT_DIGITS = 14
ITEMS_MAX = 2_147_483_647

_STATUS_WORDS = {
    "completed": Order.Status.COMPLETED,
    "complete": Order.Status.COMPLETED,
    "done": Order.Status.COMPLETED,
    "paid": Order.Status.COMPLETED,
    "已完成": Order.Status.COMPLETED,
    "完成": Order.Status.COMPLETED,
    "交易成功": Order.Status.COMPLETED,
    "refunded": Order.Status.REFUNDED,
    "refund": Order.Status.REFUNDED,
    "已退款": Order.Status.REFUNDED,
    "退款": Order.Status.REFUNDED,
    "cancelled": Order.Status.CANCELLED,
    "canceled": Order.Status.CANCELLED,
    "cancel": Order.Status.CANCELLED,
    "已取消": Order.Status.CANCELLED,
    "取消": Order.Status.CANCELLED,
}


def _fields() -> list[ImportField]:
    return [
        ImportField(
            "number",
            gettext_lazy("Order number"),
            required=True,
            aliases=("订单号", "订单编号", "单号", "order number", "order no", "order id", "order"),
        ),
        ImportField(
            "customer_external_id",
            gettext_lazy("Customer external id"),
            aliases=("客户编号", "会员编号", "外部编号", "客户ID", "会员ID", "customer id"),
        ),
        ImportField(
            "customer_phone",
            gettext_lazy("Customer phone"),
            personal="phone",
            aliases=(
                "手机号",
                "手机",
                "手机号码",
                "电话",
                "联系电话",
                "收货人手机",
                "phone",
                "mobile",
                "tel",
            ),
        ),
        ImportField(
            "customer_email",
            gettext_lazy("Customer email"),
            personal="email",
            aliases=("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
        ),
        ImportField(
            "customer_name",
            gettext_lazy("Customer name (for new customers)"),
            aliases=("姓名", "客户姓名", "客户名称", "客户", "收货人", "买家", "name", "customer"),
        ),
        ImportField(
            "ordered_at",
            gettext_lazy("Date and time"),
            required=True,
            aliases=(
                "日期",
                "下单时间",
                "下单日期",
                "订单日期",
                "订单时间",
                "时间",
                "date",
                "order date",
                "ordered at",
            ),
        ),
        ImportField(
            "amount",
            gettext_lazy("Amount"),
            required=True,
            aliases=("金额", "订单金额", "实付金额", "总金额", "total", "order total"),
        ),
        ImportField("currency", gettext_lazy("Currency"), aliases=("币种", "货币")),
        ImportField(
            "item_count",
            gettext_lazy("Items"),
            aliases=("数量", "件数", "商品数量", "quantity", "qty", "item count"),
        ),
        ImportField("channel", gettext_lazy("Channel"), aliases=("渠道", "销售渠道")),
        ImportField("store", gettext_lazy("Store"), aliases=("门店", "店铺", "shop")),
        ImportField("status", gettext_lazy("Status"), aliases=("状态", "订单状态")),
    ]


# --- reading one row ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=262_144)
def _phone_e164(raw: str, region: str) -> str:
    """Orders repeat their customers: one customer's phone is normalised once per run."""
    return phone_normalise(raw, default_region=region).e164


_sort_key = functools.lru_cache(maxsize=65_536)(name_sort_key)


@dataclass(slots=True)
class ParsedOrder:
    """One row's values, checked: the order's (only those the row gives) and its customer's."""

    number: int
    order: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # the customer reference, normalised (E.164, lower-cased email, external id)
    name: str = ""
    phone: tuple[str, str] | None = None  # (raw, e164)
    email: str = ""
    external_id: str = ""
    errors: list[Rejection] = field(default_factory=list)


class _Context:
    """What a run reads once: the tenant's time zone, currency, phone region and plan limit."""

    def __init__(self) -> None:
        tenant = Tenant.objects.filter(schema_name=current_schema()).first()
        try:
            self.tz: datetime.tzinfo = zoneinfo.ZoneInfo(tenant.time_zone if tenant else "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.tz = datetime.UTC
        self.currency = tenant.currency if tenant else "CNY"
        self.region = tenant.phone_region if tenant else "CN"
        self.limit = tenant.customer_limit if tenant else None


_FORMULA_OR_ESCAPE = ("=", "+", "-", "@", "'")


def _text(cell: str, max_length: int) -> str:
    """A text cell as read (stripped): refused when a spreadsheet would run it, then unescaped
    and cleaned (values.clean_text). Plain printable ASCII, what order numbers mostly are, is
    all of that already."""
    if (
        len(cell) <= max_length
        and cell.isascii()
        and cell.isprintable()
        and not cell.startswith(_FORMULA_OR_ESCAPE)
    ):
        return cell
    values.reject_formula(cell)
    return values.clean_text(values.unescape_formula(cell), max_length=max_length)


# Short texts that repeat in every file (channels, stores): checked once per run.
_short_text = functools.lru_cache(maxsize=4096)(_text)


def _moment(text: str, tz: datetime.tzinfo) -> datetime.datetime:
    """values.parse_datetime, with ISO text (ours and most systems' exports) read by the C
    parser first: a million dates in a second rather than ten."""
    if len(text) >= 10 and text[4] == "-" and text[7] == "-" and text[:4].isascii():
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return values.parse_datetime(text, tz)


_PLAIN_AMOUNT = re.compile(r"[1-9]\d{0,11}(?:\.\d{1,2})?|0(?:\.\d{1,2})?")
_CENT = Decimal("0.01")


def _amount(text: str) -> Decimal:
    """values.parse_decimal with two places, never negative; plain amounts ("1234.5") straight
    to Decimal (the same value parse_decimal gives)."""
    if _PLAIN_AMOUNT.fullmatch(text):
        return Decimal(text).quantize(_CENT)
    amount = values.parse_decimal(text, places=2, max_digits=AMOUNT_DIGITS)
    if amount < 0:
        raise values.BadValue(_("An amount cannot be negative."))
    return amount


def _items(text: str) -> int:
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return int(text)
    return values.parse_int(text, minimum=0, maximum=ITEMS_MAX)


_currency = functools.lru_cache(maxsize=1024)(values.parse_currency)


def _status(text: str) -> str:
    folded = text.strip().casefold()
    if folded in _STATUS_WORDS:
        return _STATUS_WORDS[folded]
    for value, label in Order.Status.choices:
        names = {value, str(label).casefold()}
        with translation.override("zh-hans"):
            names.add(str(label).casefold())
        if folded in names:
            return str(value)
    raise values.BadValue(_("Write completed, refunded or cancelled (or 已完成, 已退款, 已取消)."))


def _email(text: str) -> str:
    email = email_normalise(text)
    try:
        validate_email(email)
    except ValidationError:
        raise values.BadValue(_("“%(email)s” is not an email address.") % {"email": text}) from None
    too_long = text_error(email, max_length(CustomerEmail, "email"))
    if too_long:
        raise values.BadValue(too_long)
    return email


# Keys and numbers go to the lookups as one text, split in SQL: cheaper to send than an array
# of thousands of strings. Values never hold the separator (a control character: clean_text,
# the phone and email checks refuse those).
_KEYS = "string_to_array(%s, E'\\x1f')"


def _joined(items: Any) -> str:
    return "\x1f".join(items)


def _phone(text: str, region: str) -> tuple[str, str]:
    try:
        return text.strip()[:50], _phone_e164(text.strip(), region)
    except InvalidPhone:
        raise values.BadValue(
            _("“%(phone)s” is not a phone number we can dial.") % {"phone": text}
        ) from None


def _order_readers() -> dict[str, Any]:
    """The order's own cells: field key -> reader(cell as read, cell unescaped, context)."""
    return {
        "number": lambda cell, _text_, _ctx: _text(cell, 64),
        "ordered_at": lambda _cell, text, ctx: _moment(text, ctx.tz),
        "amount": lambda _cell, text, _ctx: _amount(text),
        "currency": lambda _cell, text, ctx: _currency(text, ctx.currency),
        "item_count": lambda _cell, text, _ctx: _items(text),
        "channel": lambda cell, _text_, _ctx: _short_text(cell, 50),
        "store": lambda cell, _text_, _ctx: _short_text(cell, 100),
        "status": lambda _cell, text, _ctx: _status(text),
    }


_ORDER_READERS = _order_readers()


def _masked() -> values.BadValue:
    return values.BadValue(
        _(
            "This value is masked (•), as in an export made without access to personal data; "
            "it cannot be imported. Use an unmasked export."
        )
    )


def parse_order(ctx: _Context, row: SourceRow, match_field: str, creating: bool) -> ParsedOrder:
    """Check the row's cells; errors name the field. The customer's contact cells are read only
    when they identify the customer or may create one."""
    parsed = ParsedOrder(row.number)
    order = parsed.order
    readers = _ORDER_READERS
    for key, raw in row.values.items():
        cell = raw.strip()
        if not cell:
            continue
        # Text cells are checked for formulas as read (our exports escape them with an
        # apostrophe, which passes), then unescaped, so an export imports back unchanged.
        text = values.unescape_formula(cell) if cell[0] == "'" else cell
        try:
            reader = readers.get(key)
            if reader is not None:
                order[key] = reader(cell, text, ctx)
            elif key == match_field or creating:
                if MASK in text:
                    raise _masked()
                if key == "customer_phone":
                    parsed.phone = _phone(text, ctx.region)
                elif key == "customer_email":
                    parsed.email = _email(text)
                elif key == "customer_external_id":
                    parsed.external_id = _text(cell, 100)
                elif key == "customer_name":
                    parsed.name = _text(cell, 200)
        except values.BadValue as exc:
            parsed.errors.append(Rejection(row.number, key, exc.message))
    if parsed.errors:
        return parsed
    if len(order) < 3 or not ("number" in order and "ordered_at" in order and "amount" in order):
        for key, message in (
            ("number", _("An order needs its number.")),
            ("ordered_at", _("An order needs its date.")),
            ("amount", _("An order needs its amount.")),
        ):
            if key not in order:
                parsed.errors.append(Rejection(row.number, key, message))
    if match_field == "customer_phone":
        parsed.key = parsed.phone[1] if parsed.phone else ""
    elif match_field == "customer_email":
        parsed.key = parsed.email
    else:
        parsed.key = parsed.external_id
    if not parsed.key:
        parsed.errors.append(
            Rejection(
                row.number,
                match_field,
                _("This row does not say whose order it is: the %(what)s is empty.")
                % {"what": _reference_noun(match_field)},
            )
        )
    return parsed


def _reference_noun(match_field: str) -> str:
    return {
        "customer_phone": _("customer's phone"),
        "customer_email": _("customer's email"),
        "customer_external_id": _("customer's external id"),
    }[match_field]


def _fingerprint_sql(alias: str) -> str:
    """The md5 of an order row (or of the update's temporary row) as SQL over `alias`."""
    return (
        f"md5(concat_ws(E'\\x1f', {alias}.number, {alias}.customer_id::text,"
        f" (extract(epoch FROM {alias}.ordered_at) * 1000000)::bigint::text,"
        f" {alias}.amount::text, {alias}.currency, {alias}.item_count::text, {alias}.channel,"
        f" {alias}.store, {alias}.status))"
    )


# --- a run over a file --------------------------------------------------------------------------


@dataclass
class _NewCustomer:
    parsed: ParsedOrder
    person: CustomerNew
    id: int = 0  # known once written


class OrdersRun(ImportRun):
    def __init__(self, job: "ImportJob", *, write: bool) -> None:
        self.job = job
        self.scope = ImporterScope.of(job)
        # Order numbers of the batch held by orders of customers out of the importer's scope.
        self.hidden_orders: set[str] = set()
        # External ids (for new customers) held by customers out of the importer's scope.
        self.hidden_taken: set[str] = set()
        self.write = write
        self.match_by = job.option("match_by")
        self.match_field = MATCH_FIELDS.get(self.match_by, "customer_phone")
        self.update = bool(job.option("update_existing"))
        self.create = bool(job.option("create_missing_customers"))
        self.ctx = _Context()
        # Order numbers of earlier accepted rows -> row number (duplicates inside the file).
        self.seen_numbers: dict[str, int] = {}
        # Customers this run created: reference -> id (0 in a dry run), and the row that did.
        self.new_customers: dict[str, int] = {}
        self.new_externals: dict[str, int] = {}
        # Customers the current batch creates, by reference (their ids come at write time).
        self.pending: dict[str, _NewCustomer] = {}
        # Customers found by key in earlier batches (at most KNOWN_MAX keys).
        self.known: dict[str, list[int]] = {}
        self.existing_count: int | None = None
        self.order_label = bulk.label_of(Order)
        # While committing, a batch's orders are written in the background while the next
        # batch is read and checked (crm.transfer.bulk.BackgroundWriter).
        self.writer = bulk.BackgroundWriter() if write else None
        # Numbers of new orders written in the background whose listeners (customers.
        # order_hooks: loyalty's points) were not told yet: told before the next batch's writes
        # and at the end, so the listeners' work never waits for the COPY it follows.
        self.untold: list[str] = []
        self.actor = job.created_by if job.created_by_id else None

    def _reads(self) -> Any:
        """The connection for lookups of what existed before the import: while committing, the
        writer's reader, so they need not wait for the previous batch's writes (rows of the file
        are compared with each other, and with the customers this run created, in memory)."""
        return self.writer.reader if self.writer is not None else connection

    def _own(self) -> Any:
        """The commit's own connection, once the background writes sent so far are done."""
        if self.writer is not None:
            self.writer.wait()
        return connection

    def close(self) -> None:
        """The end of the run: wait for the last writes (their error is raised here), then
        tell the listeners about them, unless the run already failed."""
        if self.writer is not None:
            self.writer.close()
            if not _transaction_failed():
                self._tell_written()

    def _tell_written(self) -> None:
        if not self.untold:
            return
        self._own()
        table = bulk.qualified(Order._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table} WHERE number = ANY({_KEYS})", [_joined(self.untold)]
            )
            ids = [row[0] for row in cursor.fetchall()]
        self.untold = []
        order_hooks.orders_written(actor=self.actor, order_ids=ids)

    def batch(self, rows: Sequence[SourceRow]) -> BatchOutcome:
        outcome = BatchOutcome()
        ok: list[ParsedOrder] = []
        for row in rows:
            parsed = parse_order(self.ctx, row, self.match_field, self.create)
            if parsed.errors:
                outcome.rejected.extend(parsed.errors)
            else:
                ok.append(parsed)
        keys = {p.key for p in ok} - self.new_customers.keys() - self.known.keys()
        matches = self._customers(keys)
        if len(self.known) < KNOWN_MAX:
            self.known.update(matches)
        taken = self._taken_externals(ok, matches) if self.create else {}
        existing = self._orders([p.order["number"] for p in ok])

        new_customers: list[_NewCustomer] = []
        new: list[tuple[ParsedOrder, dict[str, Any]]] = []
        changed: list[tuple[ParsedOrder, dict[str, Any]]] = []
        outcome.tally(
            ok,
            lambda parsed: self._decide(
                parsed, matches, taken, existing, new_customers, new, changed
            ),
            new,
            changed,
        )
        if self.write:
            self._tell_written()
            self._write_customers(new_customers)
            self._write_new(new)
            self._write_changed(changed)
        for customer in new_customers:
            self.new_customers[customer.parsed.key] = customer.id
        self.pending.clear()
        return outcome

    # -- lookups (one query each per batch)

    def _customers(self, keys: set[str]) -> dict[str, list[int]]:
        """Each key of the batch -> ids of the (not erased) customers it names: only the
        importer's customers (one only others see is not found)."""
        return customers_find(
            by=self.match_by, values=keys, user=self.scope.importer, using=self._reads()
        )

    def _taken_externals(
        self, ok: list[ParsedOrder], matches: dict[str, list[int]]
    ) -> dict[str, int]:
        """External ids that rows of unknown customers would give their new customer, and that
        an existing customer holds already."""
        self.hidden_taken = set()
        if self.match_field == "customer_external_id":
            return {}
        wanted = {
            p.external_id
            for p in ok
            if p.external_id
            and p.key not in matches
            and p.key not in self.known
            and p.key not in self.new_customers
        }
        if not wanted:
            return {}
        scope, scope_params = self.scope.condition("id")
        with self._reads().cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id, true{scope} AS visible"
                f" FROM {bulk.qualified(Customer._meta.db_table)}"
                f" WHERE external_id = ANY({_KEYS})",
                [*scope_params, _joined(wanted)],
            )
            rows = cursor.fetchall()
        self.hidden_taken = {ext for ext, _id, visible in rows if not visible}
        return {ext: pk for ext, pk, _visible in rows}

    def _orders(self, numbers: list[str]) -> dict[str, dict[str, Any]]:
        """The batch's orders that exist, by number. While committing, the ones found are then
        locked and read again in the commit's own transaction (most files' orders are new, so
        this second query is rare)."""
        self.hidden_orders = set()
        if not numbers:
            return {}
        names = ", ".join(f'"{c}"' for c in ORDER_COLUMNS)
        table = bulk.qualified(Order._meta.db_table)
        with self._reads().cursor() as cursor:
            cursor.execute(
                f"SELECT {names} FROM {table} WHERE number = ANY({_KEYS})", [_joined(numbers)]
            )
            rows = cursor.fetchall()
        if rows and self.write:
            with self._own().cursor() as cursor:
                cursor.execute(
                    f"SELECT {names} FROM {table} WHERE number = ANY({_KEYS})"
                    " ORDER BY id FOR UPDATE",
                    [_joined(row[1] for row in rows)],
                )
                rows = cursor.fetchall()
        found = {row[1]: dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows}
        self.hidden_orders = self._hidden_orders(found)
        return found

    def _hidden_orders(self, found: dict[str, dict[str, Any]]) -> set[str]:
        """The numbers among `found` whose order's customer the importer may not see."""
        scope, scope_params = self.scope.condition("id")
        if not scope or not found:
            return set()
        with self._reads().cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {bulk.qualified(Customer._meta.db_table)}"
                f" WHERE id = ANY(%s){scope}",
                [sorted({o["customer_id"] for o in found.values()}), *scope_params],
            )
            visible = {pk for (pk,) in cursor.fetchall()}
        return {number for number, o in found.items() if o["customer_id"] not in visible}

    # -- deciding one row

    def _decide(
        self,
        parsed: ParsedOrder,
        matches: dict[str, list[int]],
        taken: dict[str, int],
        existing: dict[str, dict[str, Any]],
        new_customers: list[_NewCustomer],
        new: list[tuple[ParsedOrder, dict[str, Any]]],
        changed: list[tuple[ParsedOrder, dict[str, Any]]],
    ) -> Rejection | None:
        n = parsed.number
        number = parsed.order["number"]
        first = self.seen_numbers.get(number)
        if first is not None:
            return Rejection(
                n,
                "number",
                _("Row %(row)d has the same order number as row %(first)d.")
                % {"row": n, "first": first},
            )
        if number in self.hidden_orders:
            # Neither updated nor shown; the number is unique, so nor can the row create it.
            return Rejection(n, "number", _("Another order already has this number."))
        customer_id: int | None = None
        customer: _NewCustomer | None = None
        candidates = matches.get(parsed.key) or self.known.get(parsed.key, [])
        if len(candidates) > 1:
            return Rejection(
                n,
                self.match_field,
                _(
                    "Several customers have this %(what)s (%(ids)s); merge them first or match "
                    "customers by another column."
                )
                % {
                    "what": self._key_noun(),
                    "ids": ", ".join(f"#{c}" for c in candidates),
                },
            )
        if candidates:
            customer_id = candidates[0]
        elif parsed.key in self.new_customers:
            customer_id = self.new_customers[parsed.key]
        elif parsed.key in self.pending:
            customer = self.pending[parsed.key]
        elif not self.create:
            return Rejection(
                n,
                self.match_field,
                _(
                    "No customer with %(what)s %(value)s; tick “Create customers missing from "
                    "the orders” to create them."
                )
                % {"what": self._key_noun(), "value": parsed.key},
            )
        else:
            rejection = self._new_customer(parsed, taken, new_customers)
            if rejection is not None:
                return rejection
            customer = new_customers[-1]
            self.pending[parsed.key] = customer
            if parsed.external_id:
                self.new_externals[parsed.external_id] = n

        current = existing.get(number)
        if current is None:
            row = {
                "number": number,
                "customer_id": customer_id,
                "currency": self.ctx.currency,
                "item_count": 1,
                "channel": "",
                "store": "",
                "status": Order.Status.COMPLETED,
            }
            row.update(parsed.order)
            row["_customer"] = customer
            new.append((parsed, row))
        elif self.update:
            row = dict(current)
            row.update(parsed.order)
            row["customer_id"] = customer_id
            row["_customer"] = customer
            if customer is not None or any(row[c] != current[c] for c in ORDER_COLUMNS):
                changed.append((parsed, row))
        self.seen_numbers[number] = n
        return None

    def _key_noun(self) -> str:
        return {"phone": _("phone"), "email": _("email"), "external_id": _("external id")}.get(
            self.match_by, _("phone")
        )

    def _new_customer(
        self, parsed: ParsedOrder, taken: dict[str, int], new_customers: list[_NewCustomer]
    ) -> Rejection | None:
        n = parsed.number
        if not parsed.name:
            return Rejection(
                n,
                "customer_name",
                _(
                    "No customer with %(what)s %(value)s, and the row gives no customer name to "
                    "create one with."
                )
                % {"what": self._key_noun(), "value": parsed.key},
            )
        ext = parsed.external_id
        if ext and ext in self.hidden_taken:
            # The external id is unique; whose it is the importer may not learn.
            return Rejection(n, "customer_external_id", _("Another customer has this external id."))
        if ext and ext in taken:
            return Rejection(
                n,
                "customer_external_id",
                _(
                    "Customer #%(id)s has this external id but not this %(what)s; correct the "
                    "row or match customers by external id."
                )
                % {"id": taken[ext], "what": self._key_noun()},
            )
        if ext and ext in self.new_externals:
            return Rejection(
                n,
                "customer_external_id",
                _("Row %(first)d creates a customer with this external id already.")
                % {"first": self.new_externals[ext]},
            )
        if self.ctx.limit is not None:
            if self.existing_count is None:
                self._own()
                self.existing_count = Customer.objects.count()
            if self.existing_count + len(self.new_customers) + len(new_customers) >= self.ctx.limit:
                return Rejection(
                    n,
                    "",
                    _("Your plan allows %(limit)d customers. Ask the platform operator for more.")
                    % {"limit": self.ctx.limit},
                )
        person = CustomerNew(
            name=parsed.name,
            name_sort=_sort_key(parsed.name),
            phone=parsed.phone or None,
            email=parsed.email,
            external_id=ext,
            owner_id=self.scope.new_owner_id,
        )
        new_customers.append(_NewCustomer(parsed, person))
        return None

    @staticmethod
    def _resolve(rows: list[tuple[ParsedOrder, dict[str, Any]]]) -> None:
        """Orders of customers created in this batch get their ids (known once written)."""
        for _parsed, row in rows:
            customer = row.pop("_customer", None)
            if customer is not None:
                row["customer_id"] = customer.id

    # -- writing (inside the commit's transaction)

    def _write_customers(self, new_customers: list[_NewCustomer]) -> None:
        if not new_customers:
            return
        self._own()  # customers are rare in an orders file: written in the foreground
        ids = customers_create_missing([c.person for c in new_customers])
        for customer, pk in zip(new_customers, ids, strict=True):
            customer.id = pk
        bulk.changes_copy(self.job, Customer, bulk.CREATED, ids)

    def _write_new(self, new: list[tuple[ParsedOrder, dict[str, Any]]]) -> None:
        if not new:
            return
        self._resolve(new)
        # The ids come from the table's default as COPY writes; the ImportChange rows (with
        # the rows' fingerprints) are then made in SQL from the batch's numbers.
        lines = [_order_line(row) for _p, row in new]
        lines.append("")
        operations: list[tuple[Any, ...]] = [
            ("copy", bulk.qualified(Order._meta.db_table), ORDER_COLUMNS[1:], "\n".join(lines)),
            (
                "execute",
                f"INSERT INTO {bulk.qualified('transfer_importchange')}"
                " (job_id, model, object_id, action, before)"
                f" SELECT %s, %s, o.id, %s, jsonb_build_object('after', {_fingerprint_sql('o')})"
                f" FROM {bulk.qualified(Order._meta.db_table)} o WHERE o.number = ANY({_KEYS})",
                [
                    self.job.pk,
                    self.order_label,
                    bulk.CREATED,
                    _joined(r["number"] for _p, r in new),
                ],
            ),
        ]
        if self.writer is None:
            raise RuntimeError("a dry run does not write")
        self.writer.submit(operations)
        self.untold.extend(r["number"] for _p, r in new)

    def _write_changed(self, changed: list[tuple[ParsedOrder, dict[str, Any]]]) -> None:
        if not changed:
            return
        self._own()  # updates are written in the foreground, after the orders sent before
        self._resolve(changed)
        table = bulk.qualified(Order._meta.db_table)
        changes = bulk.qualified("transfer_importchange")
        names = ", ".join(f'"{c}"' for c in ORDER_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS import_order_update (LIKE {table}) ON COMMIT DROP"
            )
            cursor.execute("TRUNCATE import_order_update")
            with cursor.cursor.copy(f"COPY import_order_update ({names}) FROM STDIN") as copy:
                for _p, row in changed:
                    copy.write_row([row[c] for c in ORDER_COLUMNS])
            # The before-images, taken before the update, with the after-fingerprints.
            cursor.execute(
                f"INSERT INTO {changes} (job_id, model, object_id, action, before)"
                " SELECT %s, %s, t.id, %s,"
                f" jsonb_build_object('row', to_jsonb(t), 'after', {_fingerprint_sql('u')})"
                f" FROM {table} t JOIN import_order_update u ON u.id = t.id",
                [self.job.pk, self.order_label, bulk.UPDATED],
            )
            assignments = ", ".join(f'"{c}" = u."{c}"' for c in ORDER_COLUMNS if c != "id")
            cursor.execute(
                f"UPDATE {table} o SET {assignments} FROM import_order_update u WHERE o.id = u.id"
            )
        order_hooks.orders_written(actor=self.actor, order_ids=[row["id"] for _p, row in changed])


def _transaction_failed() -> bool:
    """Whether the run's transaction is already broken (its error is on its way up)."""
    from psycopg.pq import TransactionStatus

    raw = connection.connection
    return connection.needs_rollback or (
        raw is not None and raw.info.transaction_status == TransactionStatus.INERROR
    )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _order_line(row: dict[str, Any]) -> str:
    """An order without its id as a line of COPY's text format (currency and status are codes,
    never escaped)."""
    return (
        f"{row['number'].translate(_ESCAPES)}\t{row['customer_id']}\t"
        f"{row['ordered_at'].isoformat()}\t{row['amount']}\t{row['currency']}\t"
        f"{row['item_count']}\t{row['channel'].translate(_ESCAPES)}\t"
        f"{row['store'].translate(_ESCAPES)}\t{row['status']}"
    )


class OrdersImport(ImportKind):
    key = "orders"
    label = gettext_lazy("Orders")
    options = (match_option(MATCH_FIELDS), UPDATE_EXISTING, CREATE_MISSING_CUSTOMERS)

    @property
    def fields(self) -> list[ImportField]:
        return _fields()

    def start(self, job: "ImportJob", *, write: bool) -> OrdersRun:
        return OrdersRun(job, write=write)

    def undo_blocker(self, job: "ImportJob") -> str | None:
        label = bulk.label_of(Order)
        changes = bulk.qualified("transfer_importchange")
        orders = bulk.qualified(Order._meta.db_table)
        customers = bulk.qualified(Customer._meta.db_table)
        missing = bulk.missing_blocker(job, Order, str(_("orders")))
        if missing:
            return missing
        with connection.cursor() as cursor:
            # The customers undo would take orders from or give them back to: none erased.
            cursor.execute(
                f"SELECT o.customer_id FROM {changes} ch JOIN {orders} o ON o.id = ch.object_id"
                " WHERE ch.job_id = %s AND ch.model = %s UNION SELECT (ch.before->'row'"
                f"->>'customer_id')::bigint FROM {changes} ch WHERE ch.job_id = %s"
                " AND ch.model = %s AND ch.action = 'updated'",
                [job.pk, label, job.pk, label],
            )
            erased = customer_erased_blocker(row[0] for row in cursor.fetchall())
            if erased:
                return erased
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {changes} ch JOIN {orders} o ON o.id = ch.object_id"
                f" WHERE ch.job_id = %s AND ch.model = %s"
                f" AND {_fingerprint_sql('o')} IS DISTINCT FROM ch.before->>'after')",
                [job.pk, label],
            )
            if cursor.fetchone()[0]:
                return _(
                    "Orders this import created or updated were changed after it (by staff, a "
                    "merge or another import); undo would lose those changes."
                )
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {changes} ch WHERE ch.job_id = %s"
                " AND ch.model = %s AND ch.action = 'updated' AND NOT EXISTS (SELECT 1 FROM"
                f" {customers} c WHERE c.id = (ch.before->'row'->>'customer_id')::bigint))",
                [job.pk, label],
            )
            if cursor.fetchone()[0]:
                return _(
                    "Customers some orders belonged to before this import were deleted or "
                    "merged since; undo cannot give the orders back to them."
                )
        blocker = bulk.created_dependents_blocker(job, Order)
        if blocker:
            return blocker
        if job.option("create_missing_customers"):
            return CustomersImport().undo_blocker(job)
        return None

    def undo_lock(self, job: "ImportJob") -> None:
        """The job's orders (and the customers it created) locked until undo is done."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {bulk.qualified(Order._meta.db_table)} WHERE id IN"
                f" (SELECT object_id FROM {bulk.qualified('transfer_importchange')}"
                "  WHERE job_id = %s AND model = %s) ORDER BY id FOR UPDATE",
                [job.pk, bulk.label_of(Order)],
            )
        if job.option("create_missing_customers"):
            customers_undo_lock(job)

    def undo(self, job: "ImportJob") -> None:
        orders_undo(job)


def orders_undo(job: "ImportJob") -> None:
    """Remove the orders `job` created, give the ones it updated their rows back, then remove
    the customers it created."""
    label = bulk.label_of(Order)
    created = bulk.changed_ids_sql(bulk.CREATED)
    table = bulk.qualified(Order._meta.db_table)
    changes = bulk.qualified("transfer_importchange")
    assignments = ", ".join(f'"{c}" = r."{c}"' for c in ORDER_COLUMNS if c != "id")
    actor = job.created_by if job.created_by_id else None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id IN ({created})", [job.pk, label])
        removing = [row[0] for row in cursor.fetchall()]
        # The listeners get import-sized lists, as when the orders came in.
        for start in range(0, len(removing), BATCH_ROWS):
            order_hooks.orders_removing(actor=actor, order_ids=removing[start : start + BATCH_ROWS])
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({created})", [job.pk, label])
        cursor.execute(
            f"UPDATE {table} o SET {assignments} FROM {changes} ch,"
            f" jsonb_populate_record(NULL::{table}, ch.before->'row') r"
            " WHERE ch.job_id = %s AND ch.model = %s AND ch.action = 'updated'"
            " AND o.id = ch.object_id RETURNING o.id",
            [job.pk, label],
        )
        restored = [row[0] for row in cursor.fetchall()]
    for start in range(0, len(restored), BATCH_ROWS):
        order_hooks.orders_written(actor=actor, order_ids=restored[start : start + BATCH_ROWS])
    if job.option("create_missing_customers"):
        customers_undo(job)


def register() -> None:
    from crm.transfer.registry import register_import_kind

    register_import_kind(OrdersImport())
