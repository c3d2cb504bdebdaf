"""Reads of customer records, shared by pages, exports and reports. Every one applies the
reader's record scope; searching by phone or email needs "see personal data"."""

import base64
import functools
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.accounts.masking import shown
from crm.accounts.models import RecordScope, RoleProfile, Team, User
from crm.accounts.permissions import (
    broadest_scope,
    can_view_personal_data,
    record_scope,
    scope_filter,
)
from crm.lib.columns import INT64_MAX, text_error
from crm.lib.contacts import NAME_SORT_MAX_LENGTH, digits_only, name_sort_key, phone_display
from customers.custom_fields import CustomFilter, custom_filter
from customers.customer_tabs import timeline_event
from customers.list_columns import ListColumn, list_columns, list_filter, query_parts
from customers.models import (
    ConsentEvent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    CustomField,
    Interaction,
    ListVersion,
    SavedView,
)


def visible_customers(user: Any, *, scope: str | None = None) -> QuerySet[Customer]:
    """The customers this user may see at all. `scope`: the user's record scope when the caller
    already read it (list_context), which saves a query."""
    return Customer.objects.filter(
        scope_filter(user, owner_field="owner", team_field="team", scope=scope)
    )


def customer_scope_sql(
    user: Any, column: str, *, scope: str | None = None
) -> tuple[str, list[Any]]:
    """For the raw SQL of bulk paths (the import kinds' batch lookups, the dashboard's panels):
    " AND <column> IN (...)" limiting `column`, a customer id, to the customers `user` may see,
    with its parameters. visible_customers compiled, so scope has one definition; ("", []) when
    the user sees every customer, and for None (the operator's command line). `scope`: the
    user's record scope when the caller already read it."""
    if user is None:
        scope = RecordScope.ALL
    elif scope is None:
        scope = record_scope(user)
    if scope == RecordScope.ALL:
        return "", []
    sql, params = visible_customers(user, scope=scope).values("pk").query.sql_with_params()
    return f" AND {column} IN ({sql})", list(params)


# How customers_find reads each key: (contact table or None for the customer's own column, column).
_FIND_BY: dict[str, tuple[type[Any] | None, str]] = {
    "external_id": (None, "external_id"),
    "phone": (CustomerPhone, "e164"),
    "email": (CustomerEmail, "email"),
}


def customers_find(
    *, by: str, values: Iterable[str], user: Any = None, using: Any = None
) -> dict[str, list[int]]:
    """Each of `values` -> the ids of the (not erased) customers it names, in id order: `by`
    "external_id", "phone" (E.164, as crm.lib.contacts normalises it) or "email" (lower-cased).
    Only customers `user` may see when given (None: every customer, as the operator's command
    line sees them). One query for the lot, by one text parameter, so it serves a batch of an
    import (the customers and orders kinds) as well as a ticket's requester or a loyalty
    member's phone. `using`: a connection other than the default one (an import's reader); its
    tables are named with the tenant's schema, so any connection of the tenant works."""
    from crm.transfer.bulk import qualified

    keys = sorted({v for v in values if v})
    if not keys:
        return {}
    model, column = _FIND_BY[by]
    customers = qualified(Customer._meta.db_table)
    scope, scope_params = customer_scope_sql(user, "c.id") if user is not None else ("", [])
    # One text parameter split in the server: cheaper to plan and send than thousands.
    keys_sql = "string_to_array(%s, E'\\x1f')"
    if model is None:
        sql = (
            f"SELECT c.{column}, c.id FROM {customers} c"  # noqa: S608 (names, not values)
            f" WHERE c.{column} = ANY({keys_sql}) AND c.erased_at IS NULL{scope} ORDER BY 2"
        )
    else:
        sql = (
            f"SELECT DISTINCT x.{column}, x.customer_id"  # noqa: S608 (names, not values)
            f" FROM {qualified(model._meta.db_table)} x"
            f" JOIN {customers} c ON c.id = x.customer_id"
            f" WHERE x.{column} = ANY({keys_sql}) AND c.erased_at IS NULL{scope} ORDER BY 2"
        )
    found: dict[str, list[int]] = {}
    with (using or connection).cursor() as cursor:
        cursor.execute(sql, ["\x1f".join(keys), *scope_params])
        for key, cid in cursor.fetchall():
            found.setdefault(key, []).append(cid)
    return found


def _scope_of(user: Any, scopes: list[str | None]) -> str:
    """crm.accounts.permissions.record_scope from the scopes of the user's roles, read along
    with the list's other context: the same rule, crm.accounts.permissions.broadest_scope."""
    return broadest_scope(scopes, superuser=user.is_superuser)


@dataclass(frozen=True)
class CustomerQuery:
    text: str = ""
    stage: str = ""
    tag: str = ""
    owner_id: int | None = None
    team_id: int | None = None
    order: str = "name"  # "name" or "newest"
    # Conditions on the tenant's custom fields (customers.custom_fields.filters_from).
    custom: tuple[CustomFilter, ...] = ()
    # (key, value) of the registered filters set (customers.list_columns.ListFilter).
    registered: tuple[tuple[str, Any], ...] = ()


@dataclass
class SavedViewLink:
    pk: int
    name: str
    query: str


@dataclass
class ListContext:
    """What the list page needs besides its rows, read in one query: the owner and team
    choices, the user's saved views, the custom field definitions and the user's record
    scope."""

    staff: list[tuple[int, str, bool]]  # (pk, label, active), by name
    teams: list[tuple[int, str]]
    saved_views: list[SavedViewLink]
    definitions: list[CustomField]
    scope: str
    # customers.models.ListVersion's stamps (and its table's oid, new with every schema made
    # or restored): what the list's cached pages are keyed by.
    data_version: str = ""

    def owner_choices(self, *, active_only: bool = False) -> list[tuple[str, str]]:
        return [(str(pk), label) for pk, label, active in self.staff if active or not active_only]

    def team_choices(self) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in self.teams]


def _custom_field_from(row: dict[str, Any]) -> CustomField:
    fields = CustomField._meta.concrete_fields
    values = [f.to_python(row.get(f.column or f.attname)) for f in fields]
    return CustomField.from_db("default", [f.attname for f in fields], values)


def list_context(user: Any) -> ListContext:
    """One round trip instead of six (staff, teams, saved views, custom fields, roles, the data
    version): each is small, and on a page of at most eight queries every round trip counts.
    Reading the version in the same statement as the rest gives them one snapshot."""
    quote = connection.ops.quote_name
    user_table = quote(User._meta.db_table)
    team_table = quote(Team._meta.db_table)
    view_table = quote(SavedView._meta.db_table)
    field_table = quote(CustomField._meta.db_table)
    groups_table = quote(User.groups.through._meta.db_table)
    profile_table = quote(RoleProfile._meta.db_table)
    version_table = quote(ListVersion._meta.db_table)
    # Only quoted table names are formatted in; values are parameters.
    sql = f"""
        SELECT
          (SELECT coalesce(json_agg(json_build_array(u.id, u.full_name, u.email, u.is_active)
                                    ORDER BY u.full_name, u.email), '[]'::json)
             FROM {user_table} u),
          (SELECT coalesce(json_agg(json_build_array(t.id, t.name) ORDER BY t.name), '[]'::json)
             FROM {team_table} t),
          (SELECT coalesce(json_agg(json_build_array(v.id, v.name, v.query) ORDER BY v.name),
                           '[]'::json)
             FROM {view_table} v WHERE v.user_id = %s),
          (SELECT coalesce(json_agg(f ORDER BY f.position, f.id), '[]'::json) FROM {field_table} f),
          (SELECT coalesce(json_agg(p.scope), '[]'::json)
             FROM {groups_table} ug JOIN {profile_table} p ON p.group_id = ug.group_id
            WHERE ug.user_id = %s),
          (SELECT '{version_table}'::regclass::oid || ':' || string_agg(n::text, '.' ORDER BY id)
             FROM {version_table})
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, user.pk])
        *documents, version = cursor.fetchone()
        staff, teams, views, fields, scopes = (
            json.loads(v) if isinstance(v, str) else v for v in documents
        )
    return ListContext(
        staff=[(pk, full_name or email, active) for pk, full_name, email, active in staff],
        teams=[(pk, name) for pk, name in teams],
        saved_views=[SavedViewLink(pk, name, query) for pk, name, query in views],
        definitions=[_custom_field_from(row) for row in fields],
        scope=_scope_of(user, scopes),
        data_version=str(version),
    )


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _trigram_ok(text: str) -> bool:
    """Whether pg_trgm can find `text` inside a value by its index: only with a run of three
    letters or digits (shorter runs give it no trigram, and the index would return every row)."""
    run = 0
    for ch in text:
        run = run + 1 if ch.isalnum() else 0
        if run >= 3:
            return True
    return False


@dataclass(frozen=True)
class _Search:
    """A search text taken apart: the name patterns, the phone digits and the email fragment
    it is looked for as, and whether each of them has an index that finds it."""

    names: tuple[str, ...]
    digits: tuple[str, ...]
    email: str
    # For names too short for trigrams: the characters the character index looks for.
    chars: tuple[str, ...]

    @classmethod
    def parse(cls, user: Any, text: str) -> "_Search | None":
        folded = unicodedata.normalize("NFKC", text).casefold().strip()
        if not folded:
            return None
        names: tuple[str, ...] = (folded,)
        if " " in folded:
            # "wang fang" as well as "wangfang": pinyin is stored without spaces.
            names = (folded, folded.replace(" ", ""))
        digits: tuple[str, ...] = ()
        email = ""
        # Only those who may see phones and emails may search by them: otherwise a search
        # would confirm a number or an address the page then masks. (user None: the
        # operator's command line, which sees everything.)
        if user is None or can_view_personal_data(user):
            found = digits_only(folded)
            if len(found) >= 3:
                digits = (found,)
                national = found.lstrip("0")  # "021 5555 0000" is stored as 86215555 0000
                if national != found and len(national) >= 3:
                    digits = (found, national)
            if "@" in folded or "." in folded:
                email = folded
        chars: tuple[str, ...] = ()
        if not all(_trigram_ok(n) for n in names):
            letters = folded.replace(" ", "")
            # One Chinese character is rare enough to look up ("王": 0.7% of names); one
            # Latin letter is in most names, and walking the list finds a page at once.
            if len(letters) >= 2 or any(_is_cjk(ch) for ch in letters):
                chars = tuple(sorted(set(letters)))
        return cls(names=names, digits=digits, email=email, chars=chars)

    def q(self) -> Q:
        """The search as one condition, for plans that read the rows in order anyway."""
        match = Q()
        for name in self.names:
            match |= Q(name_sort__contains=name)
        if self.digits:
            phone_match = Q()
            for digits in self.digits:
                phone_match |= Q(digits__contains=digits)
            match |= Q(Exists(CustomerPhone.objects.filter(phone_match, customer=OuterRef("pk"))))
        if self.email:
            emails = CustomerEmail.objects.filter(
                customer=OuterRef("pk"), email__contains=self.email
            )
            match |= Q(Exists(emails))
        return match

    def indexed(self) -> bool:
        """Every part can be answered by an index: the names by trigrams (or, for one or two
        characters, the character index), the digits and the email by trigrams."""
        names = all(_trigram_ok(n) for n in self.names) or bool(self.chars)
        return names and (not self.email or _trigram_ok(self.email))

    def branches(self, customers: QuerySet[Customer]) -> list[QuerySet[Customer]]:
        """The search as separate conditions, one per index, for a UNION of bitmap scans."""
        name_match = Q()
        for name in self.names:
            name_match |= Q(name_sort__contains=name)
        by_name = customers.filter(name_match)
        if self.chars:
            # One or two characters have no trigram; the character index (migration 0007)
            # finds the rows holding every one of them, and LIKE then checks their order.
            table = connection.ops.quote_name(Customer._meta.db_table)
            by_name = by_name.filter(
                RawSQL(  # noqa: S611 - a quoted table name; the characters are a parameter
                    f"string_to_array({table}.name_sort, NULL) @> %s::text[]",
                    [list(self.chars)],
                    output_field=BooleanField(),
                )
            )
        found = [by_name]
        if self.digits:
            phone_match = Q()
            for digits in self.digits:
                phone_match |= Q(digits__contains=digits)
            phones = CustomerPhone.objects.filter(phone_match).order_by().values("customer_id")
            found.append(customers.filter(_id_among(phones)))
        if self.email:
            emails = CustomerEmail.objects.filter(email__contains=self.email).order_by()
            found.append(customers.filter(_id_among(emails.values("customer_id"))))
        return found


def _id_among(ids: QuerySet[Any]) -> RawSQL:
    """`id = ANY(ARRAY(subquery))` rather than `id IN (subquery)`: the planner then fetches the
    few customers through the primary key, where for IN it hashes the phones and reads all a
    million customers (cheaper on paper with its default page costs; 100 ms against 10)."""
    sql, params = ids.query.get_compiler(using=ids.db).as_sql()
    table = connection.ops.quote_name(Customer._meta.db_table)
    return RawSQL(  # noqa: S611 - SQL Django compiled, with its values as parameters
        f"{table}.id = ANY(ARRAY({sql}))", params, output_field=BooleanField()
    )


def _search(customers: QuerySet[Customer], user: Any, text: str) -> QuerySet[Customer]:
    search = _Search.parse(user, text)
    return customers if search is None else customers.filter(search.q())


def _filtered(customers: QuerySet[Customer], user: Any, query: CustomerQuery) -> QuerySet[Customer]:
    """Every filter of the list but the search."""
    if query.stage:
        customers = customers.filter(stage=query.stage)
    if query.tag:
        customers = customers.filter(tags__contains=[query.tag])
    if query.owner_id is not None:
        customers = customers.filter(owner_id=query.owner_id)
    if query.team_id is not None:
        customers = customers.filter(team_id=query.team_id)
    for key, value in query.registered:
        registered = list_filter(key)
        if registered is None:
            # Never a wider list than asked for: a filter no longer registered matches nobody.
            return customers.none()
        customers = registered.apply(customers, value)
    return custom_filter(customers, query.custom, user)


def customers_matching(
    user: Any, query: CustomerQuery, *, scope: str | None = None
) -> QuerySet[Customer]:
    """The customer list's filter: the reader's scope, the search and every filter (custom
    fields too), unordered; the exports of the current filter read it (customers_filtered).
    customer_page is built from the same three parts (visible_customers, _filtered, _Search)
    and only adds its page plans, and the bulk actions keep the ticked ids within
    visible_customers, so none of them disagrees about who is in a list. ``user=None`` is the
    operator's command line: all customers, searched by phone and email too."""
    customers = Customer.objects.all() if user is None else visible_customers(user, scope=scope)
    return _search(_filtered(customers, user, query), user, query.text)


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 < value <= INT64_MAX


def _decode(cursor: str, *, newest: bool) -> tuple[Any, ...] | None:
    """The position a cursor names, checked against the order it was made for: (id,) for
    "newest", (name_sort, id) otherwise. A cursor that is not one of ours (edited, cut, from
    the other order) gives None: the first page, never a query Postgres refuses."""
    if len(cursor) > 4 * NAME_SORT_MAX_LENGTH:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(values, list):
        return None
    if newest:
        return (values[0],) if len(values) == 1 and _is_id(values[0]) else None
    if len(values) != 2 or not _is_id(values[1]) or not isinstance(values[0], str):
        return None
    if text_error(values[0], NAME_SORT_MAX_LENGTH):
        return None
    return (values[0], values[1])


@dataclass
class CustomerPage:
    customers: list[Customer]
    next_cursor: str | None


# A search that matches more than this many customers is paged by walking the list's order
# instead: matches are then dense enough that a page is found after a few thousand rows.
SEARCH_SORT_LIMIT = 30_000


def _sql(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    return queryset.query.get_compiler(using=queryset.db).as_sql()


# The first plan a search tries: read this many rows of the list's order and keep the matches.
SEARCH_WALK_ROWS = 10_000


def _searched_ids(
    base: QuerySet[Customer], search: _Search, order: tuple[str, ...], size: int
) -> RawSQL:
    """The ids of one page of a search: one SQL statement holding three plans, each run only
    when the one before it could not answer (one-time filters on InitPlans, which Postgres
    evaluates lazily, so a plan not needed costs nothing).

    1. Walk the first SEARCH_WALK_ROWS rows of the list's order (from the cursor) and keep the
       matches: when matches are common ("li", "wang"), a page is among them.
    2. Otherwise the matches are rare or sort late ("zhang", "王": walking the whole btree, what
       the planner picks for ORDER BY ... LIMIT, took 2 s). Each index finds its matches (one
       bitmap scan per branch); at most SEARCH_SORT_LIMIT of them are collected in a
       MATERIALIZED CTE and sorted for the page.
    3. When that fills up too, the matches are many but sort late: walk the whole order."""
    hit = ExpressionWrapper(search.q(), output_field=BooleanField())
    walk = base.order_by(*order).annotate(hit=hit).values("id", "name_sort", "hit")
    walked_sql, walked_params = _sql(walk[:SEARCH_WALK_ROWS])
    branches = [b.order_by().values("id", "name_sort") for b in search.branches(base)]
    union = branches[0].union(*branches[1:]) if len(branches) > 1 else branches[0]
    collected_sql, collected_params = _sql(union[: SEARCH_SORT_LIMIT + 1])
    walk_sql, walk_params = _sql(base.filter(search.q()).order_by(*order).values("id")[:size])
    sort = ", ".join(f"{f.lstrip('-')}{' DESC' if f.startswith('-') else ''}" for f in order)
    # Formatted in: SQL Django compiled (its values stay parameters), integers, column names.
    sql = f"""
        WITH walked AS MATERIALIZED ({walked_sql}),
        early AS MATERIALIZED (
          SELECT id, name_sort FROM walked WHERE hit ORDER BY {sort} LIMIT {size}),
        found AS MATERIALIZED ({collected_sql})
        (SELECT id FROM early
          WHERE (SELECT count(*) FROM early) >= {size}
             OR (SELECT count(*) FROM walked) < {SEARCH_WALK_ROWS})
        UNION ALL
        (SELECT id FROM found
          WHERE (SELECT count(*) FROM early) < {size}
            AND (SELECT count(*) FROM walked) >= {SEARCH_WALK_ROWS}
            AND (SELECT count(*) FROM found) <= {SEARCH_SORT_LIMIT}
          ORDER BY {sort} LIMIT {size})
        UNION ALL
        (SELECT id FROM ({walk_sql}) AS walked_all
          WHERE (SELECT count(*) FROM early) < {size}
            AND (SELECT count(*) FROM walked) >= {SEARCH_WALK_ROWS}
            AND (SELECT count(*) FROM found) > {SEARCH_SORT_LIMIT})
    """  # noqa: S608
    params = (*walked_params, *collected_params, *walk_params)
    return RawSQL(sql, params)  # noqa: S611


def customer_page(
    user: Any,
    query: CustomerQuery,
    *,
    after: str = "",
    size: int = 50,
    scope: str | None = None,
    columns: list[ListColumn] | None = None,
) -> CustomerPage:
    """One page of the customer list in one query: keyset pagination (no OFFSET, no COUNT), the
    first phone and email as subqueries, owner and team joined. A search the indexes can
    answer goes through _searched_ids; anything else walks the list's order. `scope`: the
    user's record scope if already known (list_context). `columns`: the registered columns
    (customers.list_columns) the rows show, the reader's by default; each row carries what
    they print, ready to print (row_display)."""
    if columns is None:
        columns = list_columns(user)
    base = _filtered(visible_customers(user, scope=scope), user, query)
    position = _decode(after, newest=query.order == "newest") if after else None
    order: tuple[str, ...]
    if query.order == "newest":
        if position:
            base = base.filter(id__lt=position[0])
        order = ("-id",)
    else:
        if position:
            name, pk = position
            # name_sort >= name on its own gives the btree a place to start; the OR alone
            # made Postgres read the list from the top and filter (page 2,000: 300 ms).
            base = base.filter(
                Q(name_sort__gte=name), Q(name_sort__gt=name) | Q(name_sort=name, id__gt=pk)
            )
        order = ("name_sort", "id")
    search = _Search.parse(user, query.text)
    if search is None:
        customers = base.order_by(*order)[: size + 1]
    elif search.indexed():
        ids = _searched_ids(base, search, order, size + 1)
        customers = Customer.objects.filter(id__in=ids).order_by(*order)
    else:
        customers = base.filter(search.q()).order_by(*order)[: size + 1]
    fields, related, annotations = query_parts(columns)
    rows: list[Customer] = list(
        # What the columns print and the cursor needs; anything else would be a query per row.
        customers.select_related(*sorted(related))
        .only(*LIST_FIELDS, *sorted(fields))
        .annotate(**annotations)
    )
    more = len(rows) > size
    rows = rows[:size]
    row_display(user, rows, columns)
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = _encode([last.pk] if query.order == "newest" else [last.name_sort, last.pk])
    return CustomerPage(customers=rows, next_cursor=next_cursor)


# The customer fields every list row reads whatever its columns: the cursor's and the link's.
LIST_FIELDS = ("id", "name", "name_sort")


@functools.lru_cache(maxsize=20_000)
def _phone_shown(e164: str) -> str:
    """phone_display parses and formats with phonenumbers, a tenth of a millisecond a number:
    half of a list page's Python time. A pure function of the number, so cached."""
    return phone_display(e164)


def _personal_text(user: Any, kind: str, value: Any, visible: bool) -> str:
    if value in (None, ""):
        return ""
    if not visible:
        return str(shown(user, kind, value))
    return _phone_shown(value) if kind == "phone" else str(value)


def row_display(user: Any, customers: list[Customer], columns: list[ListColumn]) -> None:
    """Set on each customer what its list row prints: `cells`, one text per column, personal
    ones shown or masked as crm.accounts.masking decides for this reader; its link and its
    checkbox label. Computed here once rather than through template tags and filters per
    cell, which took most of the page's time."""
    personal = can_view_personal_data(user)
    detail = reverse("customers:detail", args=[0])
    prefix = detail[: detail.rindex("0/")]
    for c in customers:
        c.url = f"{prefix}{c.pk}/"  # type: ignore[attr-defined]
        c.select_label = _("Select %(name)s") % {"name": c.name}  # type: ignore[attr-defined]
        cells = []
        for column in columns:
            value = column.value(c)
            if column.personal:
                cells.append(_personal_text(user, column.personal, value, personal))
            else:
                cells.append("" if value is None else str(value))
        c.cells = cells  # type: ignore[attr-defined]


def customer_for(user: Any, pk: int) -> Customer:
    """One customer the user may see; Customer.DoesNotExist otherwise (a 404 to the view,
    whether the record is out of scope or another tenant's)."""
    return visible_customers(user).select_related("owner", "team").get(pk=pk)


def timeline_for(customer: Customer, *, size: int = 50) -> list[Interaction]:
    """The customer's latest timeline entries, each with the `label` its badge shows: the
    registered event's for other apps' events (customers.customer_tabs.TimelineEvent)."""
    entries = list(customer.interactions.select_related("actor")[:size])
    for entry in entries:
        event = timeline_event(entry.source) if entry.kind == Interaction.Kind.EVENT else None
        entry.label = event.label if event else entry.get_kind_display()  # type: ignore[attr-defined]
    return entries


def consent_current(customer: Customer) -> dict[str, ConsentEvent | None]:
    """The latest event per channel: the state the customer is in now."""
    latest: dict[str, ConsentEvent | None] = dict.fromkeys(ConsentEvent.Channel.values)
    for event in customer.consent_events.order_by("channel", "-at", "-id").distinct("channel"):
        latest[event.channel] = event
    return latest


@dataclass
class DuplicateCandidate:
    customer: Customer
    reasons: list[str]
    # Out of the user's scope: the page says such a customer exists, never who it is.
    visible: bool = True


def likely_duplicates(
    user: Any,
    *,
    e164s: list[str],
    emails: list[str],
    name: str,
    birthday: Any,
    city: str,
    exclude_pk: int | None = None,
) -> list[DuplicateCandidate]:
    """Customers who are probably the same person: the same phone, the same email, or a similar
    name with the same birthday or city. All customers are checked, so nobody adds a duplicate
    of a record outside their scope; those come back marked not visible. Phones, emails and
    birthdays are compared only for users who may see them, or the warning would confirm them
    (and a masked editor's kept birthday would be probed against everyone's). Cities are shown
    to everyone, so they are always compared."""
    candidates: dict[int, DuplicateCandidate] = {}

    def note(customer: Customer, reason: str) -> None:
        candidate = candidates.setdefault(customer.pk, DuplicateCandidate(customer, []))
        candidate.reasons.append(reason)

    everyone = Customer.objects.filter(erased_at__isnull=True)
    if exclude_pk is not None:
        everyone = everyone.exclude(pk=exclude_pk)
    may_compare_contacts = can_view_personal_data(user)
    if e164s and may_compare_contacts:
        for customer in everyone.filter(phones__e164__in=e164s).distinct()[:10]:
            note(customer, _("same phone number"))
    if emails and may_compare_contacts:
        for customer in everyone.filter(emails__email__in=emails).distinct()[:10]:
            note(customer, _("same email address"))
    if name.strip() and ((birthday and may_compare_contacts) or city.strip()):
        similar = everyone.annotate(
            likeness=TrigramSimilarity("name_sort", name_sort_key(name))
        ).filter(likeness__gte=0.5)
        if birthday and may_compare_contacts:
            for customer in similar.filter(birthday=birthday)[:10]:
                note(customer, _("similar name, same birthday"))
        if city.strip():
            for customer in similar.filter(city__iexact=city.strip())[:10]:
                note(customer, _("similar name, same city"))
    if candidates:
        visible = set(
            visible_customers(user).filter(pk__in=candidates).values_list("pk", flat=True)
        )
        for pk, candidate in candidates.items():
            candidate.visible = pk in visible
    return list(candidates.values())


def customers_counted() -> int:
    """Customers held against the plan's limit (erased ones included: their orders stay)."""
    return Customer.objects.count()


def customers_filtered(user: Any, query: CustomerQuery) -> QuerySet[Customer]:
    """Every customer the list shows for this filter, in the list's order (for exports):
    customers_matching, ordered, without paging."""
    customers = customers_matching(user, query)
    if query.order == "newest":
        return customers.order_by("-id")
    return customers.order_by("name_sort", "id")


def customer_for_external_id(external_id: str) -> Customer | None:
    """The (not erased) customer another system knows by this id (the API's path), or None.
    No record scope: API tokens are not staff (crm.api; docs/api.md)."""
    longest = Customer._meta.get_field("external_id").max_length or 0
    if not external_id or len(external_id) > longest or "\x00" in external_id:
        return None  # no customer has it, and PostgreSQL refuses NUL in text
    return Customer.objects.filter(external_id=external_id, erased_at__isnull=True).first()
