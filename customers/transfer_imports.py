# ruff: noqa: S608  (SQL is built from model metadata and constants; values are parameters)
"""The customers import kind: rows of a file become customers, matched to existing ones by
external id, phone or email (see crm.transfer.registry for the protocol).

A row's values obey the rules of the customer form (customers.services): names get their sort
key, phones are stored in E.164 with the tenant's region beside the raw input, emails lower-cased,
the first phone and email primary, tags sorted and unique, custom field values checked by
customers.custom_fields.value_clean with the form's messages, and the external id unique.

Updating an existing customer (when the job says so) changes only what the file says: a mapped
column with an empty cell leaves the stored value as it is; phones, emails and tags in the file are
added to the customer's (nothing is removed); any other non-empty value replaces the stored one.
A row that changes nothing counts as unchanged. Erased customers are never matched (they hold no
contacts or external id), and cells masked by an export without personal data access ("•") are
refused, so a masked export imported back cannot overwrite real values.

Record scope: a job matches and updates only the customers its importer may see (the uploader's
record scope, crm.transfer.selectors.import_importer; the operator's command line sees all). A
customer outside that scope is, to the run, not there: the import must neither change it nor
tell the importer it exists. So a row whose phone or email only such a customer holds creates a
new customer, exactly what it does when nobody holds it (phones and emails may repeat between
customers; the duplicates queue, itself scoped, lets someone who sees both merge them). Any
refusal instead ("matches a customer you cannot see", even "this phone is already used") would
confirm the number exists. Only where the database forbids creating, an external id another
customer holds (it is unique), is the row rejected, with the reason every importer gets for a
taken external id, naming nobody. A new customer without an owner column belongs to an importer
whose scope is not "all" (as with the customer form), so it stays in their sight.

Apps above customers add columns of their own (loyalty's referral code,
customers.import_extensions): checked per batch, applied to the customers the commit created
at its end, in its transaction; a row matching an existing customer does not use them.

Speed: rows are checked in batches with one query per batch and key (external ids, phones or
emails, then the matched customers with their contacts); new customers, their phones and emails
and the ImportChange rows go in with COPY, updates through a temporary table and one UPDATE per
batch, with the before-images taken in SQL just before.
"""

import datetime
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.masking import MASK
from crm.accounts.models import Team, User
from crm.lib import validation_messages
from crm.lib.columns import max_length, text_error
from crm.lib.contacts import (
    InvalidPhone,
    email_normalise,
    name_sort_key,
    phone_e164,
    validate_email,
)
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.transfer import bulk, values
from crm.transfer.registry import (
    BatchOutcome,
    ImportField,
    ImportKind,
    ImportRun,
    Rejection,
    SourceRow,
)
from customers import schema
from customers import validation as messages
from customers.bulk_create import new_customer_defaults
from customers.custom_fields import active, field_definitions, value_clean
from customers.erasure import customer_erased_blocker
from customers.import_extensions import customer_import_columns
from customers.languages import language_read
from customers.models import (
    Customer,
    CustomerEmail,
    CustomerMerge,
    CustomerPhone,
    CustomField,
)
from customers.removal_hooks import DerivedRows, derived_rows
from customers.selectors import customer_scope_sql, customers_find
from customers.services import tenant_phone_region
from customers.transfer_options import UPDATE_EXISTING, match_option

if TYPE_CHECKING:
    from crm.transfer.models import ImportJob

CUSTOM_PREFIX = "custom:"
NOTES_MAX_LENGTH = schema.NOTES_MAX_LENGTH

_LIST_SPLIT = re.compile(r"[;,/，；、\n]+")
_TAG_SPLIT = re.compile(r"[;,，；、\n]+")
_SPACED_E164 = re.compile(r"\+\d{6,15}(?:\s+\+\d{6,15})+")

# The customer columns in table order for COPY and the update's temporary table; erased_at is
# never written by an import.
COLUMNS = schema.table_columns(without=("erased_at",))
# Plain text fields: (key, max length).
TEXTS = {
    key: schema.max_length(key) or 0
    for key in ("address", "city", "region", "postal_code", "source", "channel")
}
EMAIL_MAX_LENGTH = max_length(CustomerEmail, "email")
NAME_MAX_LENGTH = schema.max_length("name") or 0
EXTERNAL_ID_MAX_LENGTH = schema.max_length("external_id") or 0
TAG_MAX_LENGTH = schema.max_length("tags") or 0
PERSONAL = set(schema.personal())


def _fields() -> list[ImportField]:
    return [
        ImportField(
            c.key,
            c.import_label,
            required=c.required,
            aliases=c.aliases,
            personal=c.personal,
        )
        for c in schema.imported()
    ] + [
        ImportField(c.key, c.label, aliases=c.aliases, help=c.help)
        for c in customer_import_columns()
    ]


def custom_field_key(definition: CustomField) -> str:
    return f"{CUSTOM_PREFIX}{definition.key}"


def _custom_fields(definitions: Sequence[CustomField]) -> list[ImportField]:
    return [
        ImportField(
            custom_field_key(d),
            d.label,
            aliases=(d.key, f"custom_{d.key}", f"cf-{d.key}", f"custom {d.label}"),
            # Masked like an address: six dots, nothing of the value.
            personal="address" if d.personal else "",
        )
        for d in active(definitions)
    ]


# --- reading one row ----------------------------------------------------------------------------


@dataclass
class Parsed:
    """One row's values, checked; only the fields the row gives (non-empty cells)."""

    number: int
    data: dict[str, Any] = field(default_factory=dict)
    phones: list[tuple[str, str]] = field(default_factory=list)  # (raw, e164)
    emails: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    custom: dict[str, str] = field(default_factory=dict)
    # Cells of other apps' columns (customers.import_extensions), trimmed, by key.
    extra: dict[str, str] = field(default_factory=dict)
    errors: list[Rejection] = field(default_factory=list)


def _split_phones(text: str) -> list[str]:
    parts: list[str] = []
    for part in _LIST_SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        # Our own exports separate E.164 numbers by spaces.
        if _SPACED_E164.fullmatch(part):
            parts.extend(part.split())
        else:
            parts.append(part)
    return parts


def _split_emails(text: str) -> list[str]:
    return [p for p in re.split(r"[;,/，；、\s]+", text) if p]


_KINDS = {
    "individual": Customer.Kind.INDIVIDUAL,
    "person": Customer.Kind.INDIVIDUAL,
    "个人": Customer.Kind.INDIVIDUAL,
    "company": Customer.Kind.COMPANY,
    "business": Customer.Kind.COMPANY,
    "公司": Customer.Kind.COMPANY,
    "企业": Customer.Kind.COMPANY,
}
_GENDERS = {
    "female": Customer.Gender.FEMALE,
    "f": Customer.Gender.FEMALE,
    "woman": Customer.Gender.FEMALE,
    "女": Customer.Gender.FEMALE,
    "male": Customer.Gender.MALE,
    "m": Customer.Gender.MALE,
    "man": Customer.Gender.MALE,
    "男": Customer.Gender.MALE,
    "other": Customer.Gender.OTHER,
    "其他": Customer.Gender.OTHER,
}


def _choice(text: str, table: Mapping[str, str], choices: Any) -> str | None:
    folded = text.strip().casefold()
    if folded in table:
        return table[folded]
    for value, label in choices:
        if folded in (value.casefold(), str(label).casefold()):
            return str(value)
    return None


def _stage(text: str) -> str | None:
    from django.utils import translation

    folded = text.strip().casefold().replace(" ", "_")
    for value, label in Customer.Stage.choices:
        names = {value, str(label).casefold().replace(" ", "_")}
        with translation.override("zh-hans"):
            names.add(str(label).casefold())
        if folded in names:
            return str(value)
    return None


def _created_at(text: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return values.parse_datetime(text, timezone.get_current_timezone())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


class _Context:
    """What a run reads once: the tenant's region and limit, staff, teams, custom fields."""

    def __init__(self) -> None:
        self.region = tenant_phone_region()
        self.definitions = {d.key: d for d in active(field_definitions())}
        self.required_custom = [d for d in self.definitions.values() if d.required]
        self.users: dict[str, int] | None = None
        self.teams: dict[str, int] | None = None
        tenant = Tenant.objects.filter(schema_name=current_schema()).only("customer_limit").first()
        self.limit = tenant.customer_limit if tenant else None
        self.extra_columns = {c.key: c for c in customer_import_columns()}

    def user_id(self, email: str) -> int | None:
        if self.users is None:
            self.users = {
                e.lower(): pk
                for pk, e in User.objects.filter(is_active=True).values_list("pk", "email")
            }
        return self.users.get(email.strip().lower())

    def team_id(self, name: str) -> int | None:
        if self.teams is None:
            self.teams = {n.casefold(): pk for pk, n in Team.objects.values_list("pk", "name")}
        return self.teams.get(name.strip().casefold())


def _text(value: str, max_length: int) -> str:
    """values.clean_text, with a fast path for the common case it would return unchanged but
    trimmed: printable text already in NFC."""
    if value.isprintable() and len(value) <= max_length and unicodedata.is_normalized("NFC", value):
        return value.strip()
    return values.clean_text(value, max_length=max_length)


# What reject_formula looks at first (after leading spaces): calling it only then saves time.
_FORMULA_FIRST = frozenset("=+-@")


def parse_row(ctx: _Context, row: SourceRow) -> Parsed:
    """Check every non-empty mapped cell of a row; errors name the field."""
    parsed = Parsed(row.number)
    for key, raw in row.values.items():
        if not raw or raw.isspace():
            continue
        try:
            # On the cell as read: a cell our export escaped ("'=...") passes, then loses the
            # apostrophe, so exporting and importing again changes nothing.
            if key in PERSONAL and MASK in raw:
                raise values.BadValue(
                    _(
                        "This value is masked (•), as in an export made without access to "
                        "personal data; it cannot be imported. Use an unmasked export."
                    )
                )
            first = raw[0]
            if first in _FORMULA_FIRST or first.isspace():
                values.reject_formula(raw)
            text = (values.unescape_formula(raw) if first == "'" else raw).strip()
            if key in ctx.extra_columns:
                parsed.extra[key] = text
            else:
                _parse_cell(ctx, parsed, key, text)
        except values.BadValue as exc:
            parsed.errors.append(Rejection(row.number, key, exc.message))
        except ValidationError as exc:
            parsed.errors.append(Rejection(row.number, key, " ".join(exc.messages)))
    return parsed


def _parse_cell(ctx: _Context, parsed: Parsed, key: str, text: str) -> None:
    data = parsed.data
    if key == "name":
        data["name"] = _text(text, NAME_MAX_LENGTH)
    elif key == "external_id":
        data["external_id"] = _text(text, EXTERNAL_ID_MAX_LENGTH)
    elif key == "kind":
        kind = _choice(text, _KINDS, Customer.Kind.choices)
        if kind is None:
            raise values.BadValue(str(messages.KIND_UNKNOWN))
        data["kind"] = kind
    elif key == "phones":
        bad: list[str] = []
        for raw in _split_phones(text):
            try:
                e164 = phone_e164(raw, ctx.region)
            except InvalidPhone:
                bad.append(validation_messages.not_a_phone(raw))
                continue
            if e164 not in {e for _raw, e in parsed.phones}:
                parsed.phones.append((raw.strip()[:50], e164))
        if bad:
            raise values.BadValue(" ".join(bad))
    elif key == "emails":
        bad = []
        for raw in _split_emails(text):
            email = email_normalise(raw)
            try:
                validate_email(email)
            except ValidationError:
                bad.append(validation_messages.not_an_email(raw))
                continue
            too_long = text_error(email, EMAIL_MAX_LENGTH)
            if too_long:
                bad.append(validation_messages.quoted(raw, too_long))
                continue
            if email not in parsed.emails:
                parsed.emails.append(email)
        if bad:
            raise values.BadValue(" ".join(bad))
    elif key == "birthday":
        data["birthday"] = values.parse_date(text)
    elif key == "gender":
        gender = _choice(text, _GENDERS, Customer.Gender.choices)
        if gender is None:
            raise values.BadValue(str(messages.GENDER_UNKNOWN))
        data["gender"] = gender
    elif key == "language":
        language = language_read(text)
        if language is None:
            raise values.BadValue(str(messages.LANGUAGE_UNKNOWN))
        data["language"] = language
    elif key in TEXTS:
        data[key] = _text(text, TEXTS[key])
    elif key == "country":
        country = text.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise values.BadValue(str(messages.COUNTRY_FORMAT))
        data["country"] = country
    elif key == "tags":
        for tag in _TAG_SPLIT.split(text):
            tag = tag.strip()
            if not tag:
                continue
            if len(tag) > TAG_MAX_LENGTH:
                raise values.BadValue(str(messages.TAG_LENGTH))
            if tag not in parsed.tags:
                parsed.tags.append(tag)
    elif key == "stage":
        stage = _stage(text)
        if stage is None:
            raise values.BadValue(messages.stage_unknown())
        data["stage"] = stage
    elif key == "notes":
        notes = text.replace("\r\n", "\n")
        if len(notes) > NOTES_MAX_LENGTH:
            raise values.BadValue(validation_messages.too_long(NOTES_MAX_LENGTH, len(notes)))
        data["notes"] = notes
    elif key == "owner":
        owner = ctx.user_id(text)
        if owner is None:
            raise values.BadValue(
                _("No active staff member has the email “%(email)s”.") % {"email": text}
            )
        data["owner_id"] = owner
    elif key == "team":
        team = ctx.team_id(text)
        if team is None:
            raise values.BadValue(_("There is no team called “%(name)s”.") % {"name": text})
        data["team_id"] = team
    elif key == "created_at":
        data["created_at"] = _created_at(text)
    elif key.startswith(CUSTOM_PREFIX):
        definition = ctx.definitions.get(key[len(CUSTOM_PREFIX) :])
        if definition is None:
            return
        value = value_clean(definition, text)
        if value is not None:
            parsed.custom[definition.key] = value


# --- a run over a file --------------------------------------------------------------------------


@dataclass
class _Existing:
    row: dict[str, Any]
    phones: list[str]
    emails: list[str]


# A new customer's columns before the row's values: the model's defaults (customers.bulk_create),
# but the times, which are the batch's.
_NEW_DEFAULTS: dict[str, Any] = {
    column: value
    for column, value in new_customer_defaults().items()
    if column not in ("created_at", "updated_at")
}


def _customer_lines(rows: Sequence[dict[str, Any]]) -> str:
    """The customers' COPY text, written out for this table's columns (bulk.copy_field does
    the same one value at a time, at twice the cost)."""
    esc = bulk.COPY_ESCAPES
    stamps: dict[datetime.datetime, str] = {}

    def stamp(value: datetime.datetime) -> str:
        text = stamps.get(value)
        if text is None:
            text = stamps[value] = value.isoformat()
        return text

    lines = []
    for r in rows:
        birthday = r["birthday"]
        owner, team = r["owner_id"], r["team_id"]
        lines.append(
            f"{r['id']}\t{r['kind'].translate(esc)}\t{r['name'].translate(esc)}\t{r['name_sort'].translate(esc)}"
            f"\t{birthday.isoformat() if birthday else NULL}\t{r['gender'].translate(esc)}"
            f"\t{r['address'].translate(esc)}\t{r['city'].translate(esc)}"
            f"\t{r['region'].translate(esc)}\t{r['postal_code'].translate(esc)}\t{r['country'].translate(esc)}"
            f"\t{bulk.copy_field(r['tags']) if r['tags'] else '{}'}"
            f"\t{r['source'].translate(esc)}\t{r['channel'].translate(esc)}"
            f"\t{NULL if owner is None else owner}\t{NULL if team is None else team}"
            f"\t{r['external_id'].translate(esc)}\t{r['stage'].translate(esc)}"
            f"\t{'t' if r['stage_override'] else 'f'}\t{r['notes'].translate(esc)}"
            f"\t{stamp(r['created_at'])}\t{stamp(r['updated_at'])}"
            f"\t{bulk.copy_field(r['custom']) if r['custom'] else '{}'}"
            f"\t{r['language'].translate(esc)}"
        )
    lines.append("")
    return "\n".join(lines)


NULL = "\\N"


def _phone_lines(owners: Iterable[tuple[int, Sequence[tuple[str, str]], bool]]) -> str:
    """COPY text of phones (customer_id, raw, e164, digits, is_primary) from (customer id,
    [(raw, e164)], whether its first phone is the primary one). Written out like
    _customer_lines: bulk.copy_field, a value at a time, cost ~0.25 s for 100,000 phones. Only
    the raw text needs escaping: e164 is "+" and digits (crm.lib.contacts)."""
    esc = bulk.COPY_ESCAPES
    return "".join(
        [
            f"{cid}\t{raw.translate(esc)}\t{e164}\t{e164.lstrip('+')}"
            f"\t{'t' if first_primary and index == 0 else 'f'}\n"
            for cid, pairs, first_primary in owners
            for index, (raw, e164) in enumerate(pairs)
        ]
    )


def _email_lines(owners: Iterable[tuple[int, Sequence[str], bool]]) -> str:
    """COPY text of emails (customer_id, email, is_primary), as _phone_lines."""
    esc = bulk.COPY_ESCAPES
    return "".join(
        [
            f"{cid}\t{email.translate(esc)}\t{'t' if first_primary and index == 0 else 'f'}\n"
            for cid, emails, first_primary in owners
            for index, email in enumerate(emails)
        ]
    )


@dataclass(frozen=True)
class ImporterScope:
    """The customers a run may match, update and name: its importer's (see the module's
    docstring). `condition(column)` is SQL to append to a lookup of customers by id."""

    importer: User | None
    restricted: bool

    @classmethod
    def of(cls, job: "ImportJob") -> "ImporterScope":
        from crm.transfer.selectors import import_importer

        importer = import_importer(job)
        return cls(importer, bool(customer_scope_sql(importer, "id")[0]))

    def condition(self, column: str) -> tuple[str, list[Any]]:
        return customer_scope_sql(self.importer, column) if self.restricted else ("", [])

    @property
    def new_owner_id(self) -> int | None:
        """The owner of a new customer the file gives none: the importer, when their scope is
        not "all" (else they could not see what they imported)."""
        return self.importer.pk if self.restricted and self.importer is not None else None


class CustomersRun(ImportRun):
    def __init__(self, job: "ImportJob", *, write: bool) -> None:
        self.job = job
        self.scope = ImporterScope.of(job)
        self.write = write
        self.match_by = job.option("match_by")
        self.update = bool(job.option("update_existing"))
        self.ctx = _Context()
        # Keys seen in earlier rows of the file: value -> row number.
        self.seen_external: dict[str, int] = {}
        self.seen_key: dict[str, int] = {}
        self.seen_customer: dict[int, int] = {}
        self.created = 0
        self.existing_count: int | None = None
        self.writer = bulk.BackgroundWriter() if write else None
        self.now = timezone.now()
        # Other apps' columns: (new customer id, cell) by column key, applied at the end.
        self.extra_pairs: dict[str, list[tuple[int, str]]] = {}

    # The label a duplicate message uses for the matching key.
    def _key_noun(self) -> str:
        return {"phone": _("phone"), "email": _("email"), "external_id": _("external id")}[
            self.match_by
        ]

    def _keys(self, parsed: Parsed) -> list[str]:
        if self.match_by == "phone":
            return [e164 for _raw, e164 in parsed.phones]
        if self.match_by == "email":
            return list(parsed.emails)
        ext = parsed.data.get("external_id")
        return [ext] if ext else []

    def batch(self, rows: Sequence[SourceRow]) -> BatchOutcome:
        outcome = BatchOutcome()
        self.now = timezone.now()
        parsed_rows = [parse_row(self.ctx, row) for row in rows]
        ok: list[Parsed] = []
        refused = self._extra_refused(parsed_rows)
        for parsed in parsed_rows:
            if parsed.errors:
                outcome.rejected.extend(parsed.errors)
            elif parsed.number in refused:
                outcome.rejected.append(refused[parsed.number])
            else:
                ok.append(parsed)
        externals = {p.data["external_id"] for p in ok if p.data.get("external_id")}
        keys = {k for p in ok for k in self._keys(p)}
        owners_of_external = self._external_owners(externals)
        matches = self._match(keys, owners_of_external)
        matched_ids = {cid for ids in matches.values() for cid in ids}
        # The external id is unique: a row whose key finds no one may still name its customer by it.
        matched_ids |= set(owners_of_external.values())
        existing = self._load(matched_ids)

        new: list[tuple[Parsed, dict[str, Any]]] = []
        changed: list[tuple[Parsed, _Existing, dict[str, Any]]] = []
        outcome.tally(
            ok,
            lambda parsed: self._decide(
                parsed, matches, owners_of_external, existing, new, changed
            ),
            new,
            changed,
        )
        if self.write and (new or changed):
            self._write(new, changed)
        return outcome

    def _extra_refused(self, parsed_rows: Sequence[Parsed]) -> dict[int, Rejection]:
        """Rows whose cell of another app's column that app refuses: row number -> why (one
        check per column and batch, over the batch's distinct cells)."""
        refused: dict[int, Rejection] = {}
        for key, column in self.ctx.extra_columns.items():
            cells = {p.extra[key] for p in parsed_rows if p.extra.get(key) and not p.errors}
            if not cells:
                continue
            if self.writer is not None:
                self.writer.wait()  # the check reads on the commit's own connection
            reasons = column.check(cells)
            for p in parsed_rows:
                reason = reasons.get(p.extra.get(key, ""))
                if reason and p.number not in refused and not p.errors:
                    refused[p.number] = Rejection(p.number, key, reason)
        return refused

    def finish(self) -> None:
        """Other apps' columns, for the customers this commit created, once its rows are
        written (same transaction; see customers.import_extensions)."""
        if not self.write or not self.extra_pairs:
            return
        if self.writer is not None:
            self.writer.wait()
        for key, pairs in self.extra_pairs.items():
            if pairs:
                self.ctx.extra_columns[key].apply_bulk(actor=self.scope.importer, pairs=pairs)

    # -- lookups (one query each per batch)

    def _reads(self) -> Any:
        """The connection for key lookups: while committing, the writer's reader, so they do
        not wait for the previous batch's writes (which they need not see: rows of the file
        are compared with each other in memory)."""
        return self.writer.reader if self.writer is not None else connection

    def _external_owners(self, externals: set[str]) -> dict[str, int]:
        if not externals:
            return {}
        with self._reads().cursor() as cursor:
            # One array parameter, not thousands: planning and sending stay cheap.
            cursor.execute(
                f"SELECT external_id, id FROM {bulk.qualified(Customer._meta.db_table)}"
                " WHERE external_id = ANY(%s)",
                [sorted(externals)],
            )
            return dict(cursor.fetchall())

    def _match(self, keys: set[str], owners_of_external: dict[str, int]) -> dict[str, list[int]]:
        """Each key of the batch -> ids of the (not erased) customers it names."""
        if not keys:
            return {}
        if self.match_by == "external_id":
            return {k: [owners_of_external[k]] for k in keys if k in owners_of_external}
        # Every customer, in scope or not: _load leaves out those the importer may not see.
        return customers_find(by=self.match_by, values=keys, using=self._reads())

    def _load(self, ids: set[int]) -> dict[int, _Existing]:
        if not ids:
            return {}
        if self.writer is not None:
            self.writer.wait()  # rows are locked and read in the commit's own transaction
        lock = " FOR UPDATE" if self.write else ""
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        found: dict[int, _Existing] = {}
        # Only the importer's customers are loaded: the others are not candidates for a row.
        scope, scope_params = self.scope.condition("id")
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {names} FROM {bulk.qualified(Customer._meta.db_table)}"
                f" WHERE id = ANY(%s) AND erased_at IS NULL{scope} ORDER BY id{lock}",
                [sorted(ids), *scope_params],
            )
            for values_row in cursor.fetchall():
                row = dict(zip(COLUMNS, values_row, strict=True))
                # Django reads jsonb as text and decodes it in the model field; so do we.
                if isinstance(row["custom"], str):
                    row["custom"] = json.loads(row["custom"])
                found[row["id"]] = _Existing(row, [], [])
            cursor.execute(
                f"SELECT customer_id, e164 FROM {bulk.qualified(CustomerPhone._meta.db_table)}"
                " WHERE customer_id = ANY(%s) ORDER BY is_primary DESC, id",
                [sorted(found)],
            )
            for cid, e164 in cursor.fetchall():
                found[cid].phones.append(e164)
            cursor.execute(
                f"SELECT customer_id, email FROM {bulk.qualified(CustomerEmail._meta.db_table)}"
                " WHERE customer_id = ANY(%s) ORDER BY is_primary DESC, id",
                [sorted(found)],
            )
            for cid, email in cursor.fetchall():
                found[cid].emails.append(email)
        return found

    # -- deciding one row

    def _decide(
        self,
        parsed: Parsed,
        matches: dict[str, list[int]],
        owners_of_external: dict[str, int],
        existing: dict[int, _Existing],
        new: list[tuple[Parsed, dict[str, Any]]],
        changed: list[tuple[Parsed, "_Existing", dict[str, Any]]],
    ) -> Rejection | None:
        n = parsed.number
        ext = parsed.data.get("external_id", "")
        if ext:
            first = self.seen_external.get(ext)
            if first is not None:
                return Rejection(
                    n,
                    "external_id",
                    _("Row %(row)d has the same external id as row %(first)d.")
                    % {"row": n, "first": first},
                )
        match_field = {"phone": "phones", "email": "emails"}.get(self.match_by, "external_id")
        keys = self._keys(parsed)
        for key in keys:
            first = self.seen_key.get(key)
            if first is not None:
                return Rejection(
                    n,
                    match_field,
                    _("Row %(row)d has the same %(key)s as row %(first)d.")
                    % {"row": n, "key": self._key_noun(), "first": first},
                )
        candidates: list[int] = []
        for key in keys:
            for cid in matches.get(key, []):
                if cid not in candidates and cid in existing:
                    candidates.append(cid)
        if len(candidates) > 1:
            return Rejection(
                n,
                match_field,
                _(
                    "This row matches several customers (%(ids)s); merge them first or match "
                    "by another column."
                )
                % {"ids": ", ".join(f"#{c}" for c in candidates)},
            )
        target = existing[candidates[0]] if candidates else None
        owner = owners_of_external.get(ext) if ext else None
        if target is None and owner is not None and owner in existing:
            target = existing[owner]
        if target is not None:
            first = self.seen_customer.get(target.row["id"])
            if first is not None:
                return Rejection(
                    n,
                    match_field,
                    _("Row %(row)d matches the same customer as row %(first)d.")
                    % {"row": n, "first": first},
                )
        if ext and owner is not None and (target is None or owner != target.row["id"]):
            return Rejection(n, "external_id", messages.external_id_taken())
        if target is None:
            rejection = self._new_row(parsed, new)
        else:
            rejection = self._changed_row(parsed, target, changed)
        if rejection is not None:
            return rejection
        # Accepted: remember its keys for the rows after it.
        if ext:
            self.seen_external[ext] = n
        for key in keys:
            self.seen_key[key] = n
        if target is not None:
            self.seen_customer[target.row["id"]] = n
        return None

    def _new_row(
        self, parsed: Parsed, new: list[tuple[Parsed, dict[str, Any]]]
    ) -> Rejection | None:
        data = parsed.data
        if not data.get("name"):
            return Rejection(parsed.number, "name", str(messages.NAME_REQUIRED))
        missing = [d for d in self.ctx.required_custom if d.key not in parsed.custom]
        if missing:
            return Rejection(
                parsed.number,
                custom_field_key(missing[0]),
                _("“%(field)s” is required for a new customer.") % {"field": missing[0].label},
            )
        if self.ctx.limit is not None:
            if self.existing_count is None:
                self.existing_count = Customer.objects.count()
            if self.existing_count + self.created + len(new) >= self.ctx.limit:
                return Rejection(
                    parsed.number,
                    "",
                    messages.customer_limit_reached(self.ctx.limit),
                )
        now = self.now
        row = dict(_NEW_DEFAULTS)
        row["owner_id"] = self.scope.new_owner_id
        row.update(data)
        if "stage" in data:
            row["stage_override"] = True
        # The sort key (pinyin: the costliest value of a row) only matters when writing.
        row["name_sort"] = name_sort_key(row["name"]) if self.write else ""
        row["tags"] = sorted(set(parsed.tags))
        row["custom"] = dict(parsed.custom)
        row.setdefault("created_at", now)
        row["updated_at"] = now
        new.append((parsed, row))
        return None

    def _changed_row(
        self,
        parsed: Parsed,
        target: _Existing,
        changed: list[tuple[Parsed, _Existing, dict[str, Any]]],
    ) -> Rejection | None:
        if not self.update:
            return None
        current = target.row
        row = dict(current)
        for key, value in parsed.data.items():
            if key == "created_at":
                continue
            row[key] = value
        if self.write and row["name"] != current["name"]:
            row["name_sort"] = name_sort_key(row["name"])
        if "stage" in parsed.data and parsed.data["stage"] != current["stage"]:
            row["stage_override"] = True
        tags = sorted(set(current["tags"]) | set(parsed.tags))
        row["tags"] = tags
        custom = dict(current["custom"] or {})
        custom.update(parsed.custom)
        row["custom"] = custom
        add_phones = [(raw, e) for raw, e in parsed.phones if e not in target.phones]
        add_emails = [e for e in parsed.emails if e not in target.emails]
        same = all(row[c] == current[c] for c in COLUMNS if c != "updated_at")
        if same and not add_phones and not add_emails:
            return None
        row["updated_at"] = self.now
        row["_add_phones"] = add_phones
        row["_add_emails"] = add_emails
        changed.append((parsed, target, row))
        return None

    # -- writing (inside the commit's transaction)

    def _write(
        self,
        new: list[tuple[Parsed, dict[str, Any]]],
        changed: list[tuple[Parsed, _Existing, dict[str, Any]]],
    ) -> None:
        """Hand the batch's writes to the background writer (they run while the engine reads
        and this run checks the next batch). Ids of new customers are reserved here, so the
        phones, emails and ImportChange rows can name them."""
        phone_columns = ("customer_id", "raw", "e164", "digits", "is_primary")
        email_columns = ("customer_id", "email", "is_primary")
        phones = bulk.qualified(CustomerPhone._meta.db_table)
        emails = bulk.qualified(CustomerEmail._meta.db_table)
        table = bulk.qualified(Customer._meta.db_table)
        operations: list[tuple[Any, ...]] = []
        if new:
            ids = bulk.reserve_ids(Customer._meta.db_table, len(new), using=self._reads())
            for (parsed, row), pk in zip(new, ids, strict=True):
                row["id"] = pk
                for key, cell in parsed.extra.items():
                    if cell:
                        self.extra_pairs.setdefault(key, []).append((pk, cell))
            operations += [
                ("copy", table, COLUMNS, _customer_lines([row for _p, row in new])),
                (
                    "copy",
                    phones,
                    phone_columns,
                    _phone_lines((row["id"], parsed.phones, True) for parsed, row in new),
                ),
                (
                    "copy",
                    emails,
                    email_columns,
                    _email_lines((row["id"], parsed.emails, True) for parsed, row in new),
                ),
                bulk.changes_copy_operation(self.job, Customer, bulk.CREATED, ids),
            ]
            self.created += len(new)
        if changed:
            assignments = ", ".join(f'"{c}" = u."{c}"' for c in COLUMNS if c != "id")
            operations += [
                bulk.changes_update_operation(
                    self.job,
                    Customer,
                    [row["id"] for _p, _e, row in changed],
                    before_sql=(
                        f", 'phones', coalesce((SELECT jsonb_agg(p.id) FROM {phones} p"
                        f" WHERE p.customer_id = t.id), '[]'::jsonb)"
                        f", 'emails', coalesce((SELECT jsonb_agg(e.id) FROM {emails} e"
                        f" WHERE e.customer_id = t.id), '[]'::jsonb)"
                    ),
                ),
                (
                    "execute",
                    "CREATE TEMP TABLE IF NOT EXISTS import_customer_update"
                    f" (LIKE {table}) ON COMMIT DROP",
                    [],
                ),
                ("execute", "TRUNCATE import_customer_update", []),
                (
                    "copy",
                    '"import_customer_update"',
                    COLUMNS,
                    _customer_lines([row for _p, _e, row in changed]),
                ),
                (
                    "execute",
                    f"UPDATE {table} c SET {assignments} FROM import_customer_update u"
                    " WHERE c.id = u.id",
                    [],
                ),
                (
                    "copy",
                    phones,
                    phone_columns,
                    _phone_lines(
                        (row["id"], row["_add_phones"], not target.phones)
                        for _p, target, row in changed
                    ),
                ),
                (
                    "copy",
                    emails,
                    email_columns,
                    _email_lines(
                        (row["id"], row["_add_emails"], not target.emails)
                        for _p, target, row in changed
                    ),
                ),
            ]
        if self.writer is None:
            raise RuntimeError("a dry run does not write")
        self.writer.submit(operations)

    def close(self) -> None:
        """The end of the run: wait for the last writes (their error is raised here)."""
        if self.writer is not None:
            self.writer.close()


class CustomersImport(ImportKind):
    key = "customers"
    label = gettext_lazy("Customers")
    options = (
        match_option({"external_id": "external_id", "phone": "phones", "email": "emails"}),
        UPDATE_EXISTING,
    )

    @property
    def fields(self) -> list[ImportField]:
        return _fields() + _custom_fields(field_definitions())

    def start(self, job: "ImportJob", *, write: bool) -> CustomersRun:
        return CustomersRun(job, write=write)

    def undo_blocker(self, job: "ImportJob") -> str | None:
        from customers.models import DuplicatePair

        label = bulk.label_of(Customer)
        derived = derived_rows()
        touched = job.changes.filter(model=label).values_list("object_id", flat=True)
        erased = customer_erased_blocker(touched)
        if erased:
            return erased
        merged = CustomerMerge.objects.filter(
            dropped_id__in=job.changes.filter(model=label).values("object_id")
        ).exists()
        if merged:
            return _(
                "Customers this import created or updated were merged into others since; "
                "undo the merges first."
            )
        return (
            bulk.missing_blocker(job, Customer, str(_("customers")))
            or bulk.changed_since_blocker(
                job,
                Customer,
                children=(
                    (CustomerPhone._meta.db_table, "customer_id"),
                    (CustomerEmail._meta.db_table, "customer_id"),
                ),
            )
            or bulk.created_dependents_blocker(
                job,
                Customer,
                ignore=(CustomerPhone, CustomerEmail, DuplicatePair, *(d.model for d in derived)),
            )
            or _derived_blocker(job, derived)
        )

    def undo_lock(self, job: "ImportJob") -> None:
        customers_undo_lock(job)

    def undo(self, job: "ImportJob") -> None:
        customers_undo(job)


def _created_ids(job: "ImportJob") -> list[int]:
    return list(
        job.changes.filter(model=bulk.label_of(Customer), action=bulk.CREATED).values_list(
            "object_id", flat=True
        )
    )


def _derived_blocker(job: "ImportJob", derived: list[DerivedRows]) -> str | None:
    if not derived:
        return None
    created = _created_ids(job)
    for rows in derived:
        blocker = rows.blocker(created) if created else None
        if blocker:
            return blocker
    return None


def customers_undo_lock(job: "ImportJob") -> None:
    """Lock the customers `job` created or updated until undo's transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {bulk.qualified(Customer._meta.db_table)} WHERE id IN"
            f" (SELECT object_id FROM {bulk.qualified('transfer_importchange')}"
            "  WHERE job_id = %s AND model = %s) ORDER BY id FOR UPDATE",
            [job.pk, bulk.label_of(Customer)],
        )


def customers_undo(job: "ImportJob") -> None:
    """Remove the customers `job` created (with their contacts) and give the ones it updated
    their rows and contacts back. Other kinds that create customers (orders) call it too."""
    from customers.models import DuplicatePair

    label = bulk.label_of(Customer)
    created = bulk.changed_ids_sql(bulk.CREATED)
    table = bulk.qualified(Customer._meta.db_table)
    phones = bulk.qualified(CustomerPhone._meta.db_table)
    emails = bulk.qualified(CustomerEmail._meta.db_table)
    pairs = bulk.qualified(DuplicatePair._meta.db_table)
    changes = bulk.qualified("transfer_importchange")
    params: list[Any] = [job.pk, label]
    # A column added since the before-image was taken keeps its value (the image has no key
    # for it, and jsonb_populate_record would give NULL).
    assignments = ", ".join(
        f'"{c}" = CASE WHEN ch.before->\'row\' ? \'{c}\' THEN r."{c}" ELSE c."{c}" END'
        for c in COLUMNS
        if c != "id"
    )
    derived = derived_rows()
    if derived:
        ids = _created_ids(job)
        for rows in derived:
            if ids:
                rows.remove(ids)
    with connection.cursor() as cursor:
        for child in (phones, emails):
            cursor.execute(f"DELETE FROM {child} WHERE customer_id IN ({created})", params)
        cursor.execute(
            f"DELETE FROM {pairs} WHERE customer_a_id IN ({created})"
            f" OR customer_b_id IN ({created})",
            params * 2,
        )
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({created})", params)
        cursor.execute(
            f"UPDATE {table} c SET {assignments} FROM {changes} ch,"
            f" jsonb_populate_record(NULL::{table}, ch.before->'row') r"
            " WHERE ch.job_id = %s AND ch.model = %s AND ch.action = 'updated'"
            " AND c.id = ch.object_id",
            params,
        )
        for child, key in ((phones, "phones"), (emails, "emails")):
            cursor.execute(
                f"DELETE FROM {child} x USING {changes} ch"
                " WHERE ch.job_id = %s AND ch.model = %s AND ch.action = 'updated'"
                f" AND x.customer_id = ch.object_id AND NOT (ch.before->'{key}' @> to_jsonb(x.id))",
                params,
            )


def register() -> None:
    from crm.transfer.registry import register_import_kind

    register_import_kind(CustomersImport())
