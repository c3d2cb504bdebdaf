# ruff: noqa: S608  (SQL is built from model metadata and constants; values are parameters)
"""The orders import kind: rows of a file become orders. A batch kind (crm.transfer.batch_kinds:
the second read connection, order numbers repeated in the file, the records kept for undo and
undo itself are done there); what is here is the orders' own: the fields, reading a row, finding
its customer (customers.selectors.customers_find) or creating it (customers.bulk_create), and
writing the batch (customers.order_bulk). Listeners of customers.order_hooks hear of every
batch written and of the orders undo removes or restores.

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
(by staff, a merge that moved it, another import). The fingerprint is the orders' own, not the
batch kinds' default, so jobs imported before keep their undo.

Record scope: as with customers (customers.transfer_imports), a row's customer is looked for only
among those the importer may see, so one only others see is "no customer" (rejected, or created
with "create customers missing"), and a new customer without an owner belongs to an importer whose
scope is not "all". An order of a customer out of that scope is neither updated nor shown: its
number is unique, so the row is rejected, with a reason that names no customer.

Speed: rows are checked in batches with one query per batch for the customers (by the matching
key; keys found earlier in the file are remembered, so a customer with many orders is looked up
once) and one for the existing orders (by number), plus one for external ids when customers are
created; new orders (with ids reserved on the reader) and customers go in with COPY (the orders'
ImportChange rows by one INSERT ... SELECT per batch), updates through a temporary table and one
UPDATE per batch; a batch's orders are written while the next batch is checked. Nothing of the file
is held beyond the batch but the order numbers already seen (to reject duplicates inside the
file), the references of the customers created and of those found.
"""

import datetime
import functools
import re
import zoneinfo
from contextlib import AbstractContextManager
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
from crm.transfer.batch_kinds import BatchImportKind, BatchRun, Create, Update
from crm.transfer.registry import ImportField, SourceRow
from crm.transfer.row_kinds import RowRejected
from customers.bulk_create import CustomerNew, customers_create_missing
from customers.erasure import customer_erased_blocker
from customers.models import Customer, CustomerEmail, Order
from customers.order_bulk import ORDER_COLUMNS, orders_create_operation, orders_update
from customers.order_hooks import orders_in_batches, orders_removing, orders_written
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
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, reason)


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
            parsed.errors.append((key, exc.message))
    if parsed.errors:
        return parsed
    if len(order) < 3 or not ("number" in order and "ordered_at" in order and "amount" in order):
        for key, message in (
            ("number", _("An order needs its number.")),
            ("ordered_at", _("An order needs its date.")),
            ("amount", _("An order needs its amount.")),
        ):
            if key not in order:
                parsed.errors.append((key, message))
    if match_field == "customer_phone":
        parsed.key = parsed.phone[1] if parsed.phone else ""
    elif match_field == "customer_email":
        parsed.key = parsed.email
    else:
        parsed.key = parsed.external_id
    if not parsed.key:
        parsed.errors.append(
            (
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


# --- a run over a file (crm.transfer.batch_kinds does the rest) ---------------------------------


@dataclass
class _NewCustomer:
    parsed: ParsedOrder
    person: CustomerNew
    id: int = 0  # known once written


class _Orders:
    """What a run keeps across batches: its options, the importer's scope, the customers found
    and created so far."""

    def __init__(self, job: "ImportJob") -> None:
        self.scope = ImporterScope.of(job)
        self.match_by = job.option("match_by")
        self.match_field = MATCH_FIELDS.get(self.match_by, "customer_phone")
        self.update = bool(job.option("update_existing"))
        self.create = bool(job.option("create_missing_customers"))
        self.ctx = _Context()
        # Customers this run created: reference -> id (0 in a dry run), and the row that did.
        self.new_customers: dict[str, int] = {}
        self.new_externals: dict[str, int] = {}
        # Customers the current batch creates, by reference (their ids come at write time).
        self.pending: dict[str, _NewCustomer] = {}
        # Customers found by key in earlier batches (at most KNOWN_MAX keys).
        self.known: dict[str, list[int]] = {}
        self.existing_count: int | None = None

    def key_noun(self) -> str:
        return {"phone": _("phone"), "email": _("email"), "external_id": _("external id")}.get(
            self.match_by, _("phone")
        )


@dataclass
class _Batch:
    """A batch's lookups, and the customers its rows create."""

    matches: dict[str, list[int]]
    # External ids (for new customers) held by customers, and those out of the importer's scope.
    taken: dict[str, int]
    hidden_taken: set[str]
    existing: dict[str, dict[str, Any]]
    # Order numbers of the batch held by orders of customers out of the importer's scope.
    hidden_orders: set[str]
    new_customers: list[_NewCustomer] = field(default_factory=list)


# -- lookups (one query each per batch)


def _customers(run: BatchRun, st: _Orders, keys: set[str]) -> dict[str, list[int]]:
    """Each key of the batch -> ids of the (not erased) customers it names: only the importer's
    customers (one only others see is not found)."""
    return customers_find(by=st.match_by, values=keys, user=st.scope.importer, using=run.reads())


def _taken_externals(
    run: BatchRun, st: _Orders, ok: list[ParsedOrder], matches: dict[str, list[int]]
) -> tuple[dict[str, int], set[str]]:
    """External ids that rows of unknown customers would give their new customer, and that an
    existing customer holds already (with those of customers out of the importer's scope)."""
    if st.match_field == "customer_external_id":
        return {}, set()
    wanted = {
        p.external_id
        for p in ok
        if p.external_id
        and p.key not in matches
        and p.key not in st.known
        and p.key not in st.new_customers
    }
    if not wanted:
        return {}, set()
    scope, scope_params = st.scope.condition("id")
    with run.reads().cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, id, true{scope} AS visible"
            f" FROM {bulk.qualified(Customer._meta.db_table)}"
            f" WHERE external_id = ANY({_KEYS})",
            [*scope_params, _joined(wanted)],
        )
        rows = cursor.fetchall()
    return {ext: pk for ext, pk, _visible in rows}, {ext for ext, _id, v in rows if not v}


def _orders(run: BatchRun, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """The batch's orders that exist, by number. While committing, the ones found are then
    locked and read again in the commit's own transaction (most files' orders are new, so this
    second query is rare)."""
    if not numbers:
        return {}
    names = ", ".join(f'"{c}"' for c in ORDER_COLUMNS)
    table = bulk.qualified(Order._meta.db_table)
    with run.reads().cursor() as cursor:
        cursor.execute(
            f"SELECT {names} FROM {table} WHERE number = ANY({_KEYS})", [_joined(numbers)]
        )
        rows = cursor.fetchall()
    if rows and run.write:
        with run.own().cursor() as cursor:
            cursor.execute(
                f"SELECT {names} FROM {table} WHERE number = ANY({_KEYS}) ORDER BY id FOR UPDATE",
                [_joined(row[1] for row in rows)],
            )
            rows = cursor.fetchall()
    return {row[1]: dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows}


def _hidden_orders(run: BatchRun, st: _Orders, found: dict[str, dict[str, Any]]) -> set[str]:
    """The numbers among `found` whose order's customer the importer may not see."""
    scope, scope_params = st.scope.condition("id")
    if not scope or not found:
        return set()
    with run.reads().cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {bulk.qualified(Customer._meta.db_table)} WHERE id = ANY(%s){scope}",
            [sorted({o["customer_id"] for o in found.values()}), *scope_params],
        )
        visible = {pk for (pk,) in cursor.fetchall()}
    return {number for number, o in found.items() if o["customer_id"] not in visible}


# -- deciding one row


def _new_customer(run: BatchRun, st: _Orders, batch: _Batch, parsed: ParsedOrder) -> None:
    """A customer for the row's unknown reference (RowRejected when the row cannot make one)."""
    n = parsed.number
    if not parsed.name:
        raise RowRejected(
            "customer_name",
            _(
                "No customer with %(what)s %(value)s, and the row gives no customer name to "
                "create one with."
            )
            % {"what": st.key_noun(), "value": parsed.key},
        )
    ext = parsed.external_id
    if ext and ext in batch.hidden_taken:
        # The external id is unique; whose it is the importer may not learn.
        raise RowRejected("customer_external_id", _("Another customer has this external id."))
    if ext and ext in batch.taken:
        raise RowRejected(
            "customer_external_id",
            _(
                "Customer #%(id)s has this external id but not this %(what)s; correct the row "
                "or match customers by external id."
            )
            % {"id": batch.taken[ext], "what": st.key_noun()},
        )
    if ext and ext in st.new_externals:
        raise RowRejected(
            "customer_external_id",
            _("Row %(first)d creates a customer with this external id already.")
            % {"first": st.new_externals[ext]},
        )
    if st.ctx.limit is not None:
        if st.existing_count is None:
            run.own()
            st.existing_count = Customer.objects.count()
        created = len(st.new_customers) + len(batch.new_customers)
        if st.existing_count + created >= st.ctx.limit:
            raise RowRejected(
                "",
                _("Your plan allows %(limit)d customers. Ask the platform operator for more.")
                % {"limit": st.ctx.limit},
            )
    person = CustomerNew(
        name=parsed.name,
        name_sort=_sort_key(parsed.name),
        phone=parsed.phone or None,
        email=parsed.email,
        external_id=ext,
        owner_id=st.scope.new_owner_id,
    )
    customer = _NewCustomer(parsed, person)
    batch.new_customers.append(customer)
    st.pending[parsed.key] = customer
    if ext:
        st.new_externals[ext] = n


def _resolve(rows: list[dict[str, Any]]) -> None:
    """Orders of customers created in this batch get their ids (known once written)."""
    for row in rows:
        customer = row.pop("_customer", None)
        if customer is not None:
            row["customer_id"] = customer.id


class OrdersImport(BatchImportKind):
    key = "orders"
    label = gettext_lazy("Orders")
    model = Order
    noun = gettext_lazy("orders")
    options = (match_option(MATCH_FIELDS), UPDATE_EXISTING, CREATE_MISSING_CUSTOMERS)
    overlapped_write = True  # new orders go through run.queue, the rest after run.own()
    changed_message = gettext_lazy(
        "Orders this import created or updated were changed after it (by staff, a merge or "
        "another import); undo would lose those changes."
    )

    @property
    def fields(self) -> list[ImportField]:
        return _fields()

    def begin(self, run: BatchRun) -> _Orders:
        return _Orders(run.job)

    def parse(self, run: BatchRun, row: SourceRow) -> ParsedOrder:
        st: _Orders = run.state
        parsed = parse_order(st.ctx, row, st.match_field, st.create)
        if parsed.errors:
            raise RowRejected(*parsed.errors[0], *parsed.errors[1:])
        return parsed

    def row_key(self, run: BatchRun, parsed: ParsedOrder) -> str:
        return parsed.order["number"]

    def repeated(self, run: BatchRun, row: int, first: int) -> RowRejected:
        return RowRejected(
            "number",
            _("Row %(row)d has the same order number as row %(first)d.")
            % {"row": row, "first": first},
        )

    def prepare(self, run: BatchRun, parsed: list[ParsedOrder]) -> _Batch:
        st: _Orders = run.state
        keys = {p.key for p in parsed} - st.new_customers.keys() - st.known.keys()
        matches = _customers(run, st, keys)
        if len(st.known) < KNOWN_MAX:
            st.known.update(matches)
        taken, hidden_taken = (
            _taken_externals(run, st, parsed, matches) if st.create else ({}, set())
        )
        existing = _orders(run, [p.order["number"] for p in parsed])
        return _Batch(matches, taken, hidden_taken, existing, _hidden_orders(run, st, existing))

    def decide(self, run: BatchRun, batch: _Batch, parsed: ParsedOrder) -> Create | Update | None:
        st: _Orders = run.state
        number = parsed.order["number"]
        if number in batch.hidden_orders:
            # Neither updated nor shown; the number is unique, so nor can the row create it.
            raise RowRejected("number", _("Another order already has this number."))
        customer_id: int | None = None
        customer: _NewCustomer | None = None
        candidates = batch.matches.get(parsed.key) or st.known.get(parsed.key, [])
        if len(candidates) > 1:
            raise RowRejected(
                st.match_field,
                _(
                    "Several customers have this %(what)s (%(ids)s); merge them first or match "
                    "customers by another column."
                )
                % {"what": st.key_noun(), "ids": ", ".join(f"#{c}" for c in candidates)},
            )
        if candidates:
            customer_id = candidates[0]
        elif parsed.key in st.new_customers:
            customer_id = st.new_customers[parsed.key]
        elif parsed.key in st.pending:
            customer = st.pending[parsed.key]
        elif not st.create:
            raise RowRejected(
                st.match_field,
                _(
                    "No customer with %(what)s %(value)s; tick “Create customers missing from "
                    "the orders” to create them."
                )
                % {"what": st.key_noun(), "value": parsed.key},
            )
        else:
            _new_customer(run, st, batch, parsed)
            customer = batch.new_customers[-1]

        current = batch.existing.get(number)
        if current is None:
            row = {
                "number": number,
                "customer_id": customer_id,
                "currency": st.ctx.currency,
                "item_count": 1,
                "channel": "",
                "store": "",
                "status": Order.Status.COMPLETED,
            }
            row.update(parsed.order)
            row["_customer"] = customer
            return Create(row)
        if not st.update:
            return None
        row = dict(current)
        row.update(parsed.order)
        row["customer_id"] = customer_id
        row["_customer"] = customer
        if customer is not None or any(row[c] != current[c] for c in ORDER_COLUMNS):
            return Update(current["id"], row)
        return None

    def write(
        self, run: BatchRun, batch: _Batch, creates: list[Any], updates: list[Update]
    ) -> list[int]:
        if batch.new_customers:
            # Customers are rare in an orders file: written in the foreground, first.
            run.own()
            ids = customers_create_missing([c.person for c in batch.new_customers])
            for customer, pk in zip(batch.new_customers, ids, strict=True):
                customer.id = pk
            bulk.changes_copy(run.job, Customer, bulk.CREATED, ids)
        created = run.reserve_ids(len(creates))
        if creates:
            _resolve(creates)
            run.queue(orders_create_operation(creates, created))
        if updates:
            changed = [u.item for u in updates]
            _resolve(changed)
            run.own()
            orders_update(changed)
        return created

    def batch_done(self, run: BatchRun, batch: _Batch) -> None:
        st: _Orders = run.state
        for customer in batch.new_customers:
            st.new_customers[customer.parsed.key] = customer.id
        st.pending.clear()

    def writing(self, job: "ImportJob", actor: Any) -> AbstractContextManager[None]:
        # Listeners keep work for once a run (loyalty: each balance changed once an import).
        return orders_in_batches(actor=actor)

    def written(self, job: "ImportJob", actor: Any, ids: list[int]) -> None:
        orders_written(actor=actor, order_ids=ids)

    def removing(self, job: "ImportJob", actor: Any, ids: list[int]) -> None:
        orders_removing(actor=actor, order_ids=ids)

    def restored(self, job: "ImportJob", actor: Any, ids: list[int]) -> None:
        orders_written(actor=actor, order_ids=ids)

    def fingerprint_sql(self, alias: str) -> str:
        return _fingerprint_sql(alias)

    # -- undo: the orders (crm.transfer.batch_kinds), and the customers the import created

    def undo_blocker(self, job: "ImportJob") -> str | None:
        blocker = (
            self.gone_blocker(job)
            or _erased_blocker(job)
            or self.changed_blocker(job)
            or _owners_gone_blocker(job)
            or self.dependents_blocker(job)
        )
        if blocker:
            return blocker
        if job.option("create_missing_customers"):
            return CustomersImport().undo_blocker(job)
        return None

    def undo_lock(self, job: "ImportJob") -> None:
        """The job's orders (and the customers it created) locked until undo is done."""
        super().undo_lock(job)
        if job.option("create_missing_customers"):
            customers_undo_lock(job)

    def undo(self, job: "ImportJob") -> None:
        """Remove the orders `job` created, give the ones it updated their rows back, then
        remove the customers it created."""
        super().undo(job)
        if job.option("create_missing_customers"):
            customers_undo(job)


def _erased_blocker(job: "ImportJob") -> str | None:
    """The customers undo would take orders from or give them back to: none erased."""
    label = bulk.label_of(Order)
    changes = bulk.qualified("transfer_importchange")
    orders = bulk.qualified(Order._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.customer_id FROM {changes} ch JOIN {orders} o ON o.id = ch.object_id"
            " WHERE ch.job_id = %s AND ch.model = %s UNION SELECT (ch.before->'row'"
            f"->>'customer_id')::bigint FROM {changes} ch WHERE ch.job_id = %s"
            " AND ch.model = %s AND ch.action = 'updated'",
            [job.pk, label, job.pk, label],
        )
        return customer_erased_blocker(row[0] for row in cursor.fetchall())


def _owners_gone_blocker(job: "ImportJob") -> str | None:
    """The customers updated orders belonged to before the import still exist."""
    changes = bulk.qualified("transfer_importchange")
    customers = bulk.qualified(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {changes} ch WHERE ch.job_id = %s"
            " AND ch.model = %s AND ch.action = 'updated' AND NOT EXISTS (SELECT 1 FROM"
            f" {customers} c WHERE c.id = (ch.before->'row'->>'customer_id')::bigint))",
            [job.pk, bulk.label_of(Order)],
        )
        if cursor.fetchone()[0]:
            return _(
                "Customers some orders belonged to before this import were deleted or merged "
                "since; undo cannot give the orders back to them."
            )
    return None


def register() -> None:
    from crm.transfer.registry import register_import_kind

    register_import_kind(OrdersImport())
