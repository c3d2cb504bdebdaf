"""What each record scope sees, pinned on every path a customer leaves or is changed by: the list,
search, filters, the inline export, the duplicates queue, merges, bulk actions and imports
(matching, updating, and what the result says).

The data is chosen so that every scope gets a different answer, and so that a scope widened by
mistake ("own" or "team" also giving every customer that has an owner, or every team's) shows:
seven customers owned by the user, by a teammate (with and without the team on the record), by
someone of another team, and by nobody (with and without the team). Three staff members read
them, one per scope (own, team, all), with the same capabilities, all in team T1."""

import csv
import io
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from crm.accounts.models import Team, User
from crm.accounts.services import role_create, staff_create
from crm.transfer import services as imports
from crm.transfer.models import ImportJob
from crm.transfer.selectors import import_rejected_rows
from customers.merge import duplicate_pairs_refresh
from customers.models import Customer, DuplicatePair, Order
from customers.services import CustomerInput, customer_create
from tests.testkit.listing import listed_names

pytestmark = pytest.mark.django_db

CAPABILITIES = [
    cap.VIEW,
    cap.CREATE,
    cap.CHANGE,
    cap.IMPORT,
    cap.EXPORT,
    cap.PERSONAL_DATA,
]
KEYS = (
    "mine",  # owned by the reader
    "mate_t1",  # a teammate's, on team T1
    "mate_bare",  # a teammate's, no team on the record
    "other_t2",  # owned by someone of team T2, on T2
    "other_bare",  # owned by someone of team T2, no team
    "nobody_t1",  # no owner, on team T1
    "nobody",  # no owner, no team
)
# What each scope sees of KEYS, for a reader who owns "mine" and is in team T1.
VISIBLE = {
    "own": {"mine"},
    "team": {"mine", "mate_t1", "nobody_t1"},
    "all": set(KEYS),
}
SCOPES = tuple(VISIBLE)


@dataclass
class World:
    marker: str
    readers: dict[str, User]  # scope -> reader
    customers: dict[str, dict[str, Customer]]  # scope of the reader who owns "mine" -> key -> c
    outsider: User
    t1: Team
    t2: Team
    host: str
    schema: str

    def name(self, scope: str, key: str) -> str:
        return f"{key} {scope} {self.marker}"

    def client(self, scope: str) -> Client:
        client = Client(HTTP_HOST=self.host)
        with schema_context(self.schema):
            client.force_login(User.objects.get(pk=self.readers[scope].pk))
        return client

    def seen(self, scope: str, names: list[str] | set[str]) -> set[str]:
        """The keys of this reader's customers among `names` (other readers' "mine" left out)."""
        own = {self.name(scope, k): k for k in KEYS}
        return {own[n] for n in names if n in own}

    def ids(self, scope: str) -> dict[str, int]:
        return {k: c.pk for k, c in self.customers[scope].items()}


def _phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


@pytest.fixture
def world(acme) -> World:
    """One set of KEYS per reader (each reader owns their own "mine"; the rest is built the
    same way for each), so the readers' answers do not depend on one another."""
    # Letters only: a search text with digits is also searched as part of a phone number, and
    # a marker like "sp1a2b3c4d" could then match a random phone of another test.
    marker = "sp" + "".join(chr(ord("g") + int(c, 16)) for c in uuid.uuid4().hex[:8])
    with schema_context(acme.schema):
        readers: dict[str, User] = {}
        for scope in SCOPES:
            role = role_create(
                actor=None,  # type: ignore[arg-type]
                name=f"Scope {scope} {marker}",
                description="",
                scope=scope,
                codenames=CAPABILITIES,
            )
            readers[scope] = staff_create(
                actor=None,
                email=f"{scope}-{marker}@acme.test",
                full_name=f"Reader {scope}",
                role=role,
                password=None,
            )
        mate = staff_create(
            actor=None,
            email=f"mate-{marker}@acme.test",
            full_name="Mate",
            role="Agent",
            password=None,
        )
        outsider = staff_create(
            actor=None,
            email=f"out-{marker}@acme.test",
            full_name="Outsider",
            role="Agent",
            password=None,
        )
        t1 = Team.objects.create(name=f"T1 {marker}")
        t1.members.add(*readers.values(), mate)
        t2 = Team.objects.create(name=f"T2 {marker}")
        t2.members.add(outsider)
        customers: dict[str, dict[str, Customer]] = {}
        for scope, reader in readers.items():
            places = {
                "mine": (reader, None),
                "mate_t1": (mate, t1),
                "mate_bare": (mate, None),
                "other_t2": (outsider, t2),
                "other_bare": (outsider, None),
                "nobody_t1": (None, t1),
                "nobody": (None, None),
            }
            customers[scope] = {
                key: customer_create(
                    actor=None,
                    data=CustomerInput(
                        name=f"{key} {scope} {marker}",
                        phones=[_phone()],
                        emails=[f"{key}.{scope}.{marker}@example.cn"],
                        owner=owner,
                        team=team,
                        tags=[marker],
                        external_id=f"ext-{key}-{scope}-{marker}",
                    ),
                )
                for key, (owner, team) in places.items()
            }
    return World(marker, readers, customers, outsider, t1, t2, acme.host, acme.schema)


def _list(world: World, scope: str, **query: object) -> set[str]:
    response = world.client(scope).get(reverse("customers:home"), query)
    assert response.status_code == 200
    return world.seen(scope, listed_names(response))


# --- reading: list, search, filters, export ---------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
def test_the_list_and_its_search_show_exactly_the_scope(world, scope):
    assert _list(world, scope, q=world.marker) == VISIBLE[scope]
    assert _list(world, scope, tag=world.marker) == VISIBLE[scope]
    # Searching by each customer's phone and email finds it only when in scope.
    for key, customer in world.customers[scope].items():
        phone = customer.phones.get().e164[3:]
        email = customer.emails.get().email
        expected = {key} if key in VISIBLE[scope] else set()
        assert _list(world, scope, q=phone) == expected, (key, "phone")
        assert _list(world, scope, q=email) == expected, (key, "email")


@pytest.mark.parametrize("scope", SCOPES)
def test_filters_by_owner_and_team_stay_inside_the_scope(world, scope):
    by_outsider = _list(world, scope, tag=world.marker, owner=world.outsider.pk)
    assert by_outsider == VISIBLE[scope] & {"other_t2", "other_bare"}
    by_t1 = _list(world, scope, tag=world.marker, team=world.t1.pk)
    assert by_t1 == VISIBLE[scope] & {"mate_t1", "nobody_t1"}
    by_t2 = _list(world, scope, tag=world.marker, team=world.t2.pk)
    assert by_t2 == VISIBLE[scope] & {"other_t2"}
    mine = _list(world, scope, tag=world.marker, owner=world.readers[scope].pk)
    assert mine == {"mine"}


def _csv_names(response) -> set[str]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return {cell for row in csv.reader(io.StringIO(body)) for cell in row}


@pytest.mark.parametrize("scope", SCOPES)
def test_the_inline_export_holds_exactly_the_scope(world, scope):
    url = reverse("transfer:export_start", kwargs={"kind": "customers"})
    response = world.client(scope).get(url, {"format": "csv", "tag": world.marker})
    assert response.status_code == 200
    assert world.seen(scope, _csv_names(response)) == VISIBLE[scope]


@pytest.mark.parametrize("scope", SCOPES)
def test_the_orders_export_holds_the_orders_of_the_scope_only(world, scope):
    with schema_context(world.schema):
        numbers = {}
        for key, customer in world.customers[scope].items():
            number = f"SP-{key}-{world.marker}"
            Order.objects.create(
                number=number,
                customer=customer,
                ordered_at=timezone.now(),
                amount=Decimal("10.00"),
                currency="GBP",
            )
            numbers[number] = key
    url = reverse("transfer:export_start", kwargs={"kind": "orders"})
    response = world.client(scope).get(url, {"format": "csv"})
    assert response.status_code == 200
    cells = _csv_names(response)
    assert {numbers[n] for n in cells if n in numbers} == VISIBLE[scope]


# --- duplicates and merges --------------------------------------------------------------------


def _pair_keys(world: World, scope: str, text: str) -> set[str]:
    ids = world.ids(scope)
    return {key for key, pk in ids.items() if f"#{pk}" in text}


@pytest.mark.parametrize("scope", SCOPES)
def test_the_duplicates_queue_shows_pairs_whose_two_customers_are_in_scope(world, scope):
    with schema_context(world.schema):
        # Give every customer of this reader the same phone: each pair is a duplicate.
        shared = world.customers[scope]["mine"].phones.get()
        for key, customer in world.customers[scope].items():
            if key != "mine":
                customer.phones.create(raw=shared.raw, e164=shared.e164, digits=shared.digits)
        duplicate_pairs_refresh(actor=None)
        ids = set(world.ids(scope).values())
        pairs = DuplicatePair.objects.filter(customer_a__in=ids, customer_b__in=ids).count()
        assert pairs == len(KEYS) * (len(KEYS) - 1) // 2
    text = world.client(scope).get(reverse("customers:duplicates")).content.decode()
    # A reader who sees one customer of the seven sees no pair at all.
    expected = VISIBLE[scope] if len(VISIBLE[scope]) > 1 else set()
    assert _pair_keys(world, scope, text) == expected


@pytest.mark.parametrize("scope", SCOPES)
def test_a_merge_with_a_customer_out_of_scope_is_a_404_and_changes_nothing(world, scope):
    ids = world.ids(scope)
    client = world.client(scope)
    for key in KEYS:
        if key == "mine":
            continue
        url = reverse("customers:merge", kwargs={"a": ids["mine"], "b": ids[key]})
        expected = 200 if key in VISIBLE[scope] else 404
        assert client.get(url).status_code == expected, key
        if key not in VISIBLE[scope]:
            assert client.post(url, {"keep": ids["mine"]}).status_code == 404, key
    with schema_context(world.schema):
        assert Customer.objects.filter(pk__in=ids.values(), erased_at__isnull=True).count() == 7


# --- bulk actions -----------------------------------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
def test_bulk_tag_assign_and_export_only_reach_ticked_customers_in_scope(world, scope):
    ids = world.ids(scope)
    client = world.client(scope)
    ticked = {"ids": list(ids.values())}
    tag = f"bulk-{world.marker}"
    assert (
        client.post(reverse("customers:bulk"), {**ticked, "action": "tag", "tag": tag}).status_code
        == 302
    )
    response = client.post(reverse("customers:bulk"), {**ticked, "action": "export"})
    assert world.seen(scope, _csv_names(response)) == VISIBLE[scope]
    reader = world.readers[scope]
    client.post(reverse("customers:bulk"), {**ticked, "action": "assign", "owner": reader.pk})
    with schema_context(world.schema):
        rows = {c.pk: c for c in Customer.objects.filter(pk__in=ids.values())}
        tagged = {k for k, pk in ids.items() if tag in rows[pk].tags}
        owned = {k for k, pk in ids.items() if rows[pk].owner_id == reader.pk}
        untouched = {
            k: rows[ids[k]].owner_id == c.owner_id
            for k, c in world.customers[scope].items()
            if k not in VISIBLE[scope]
        }
    assert tagged == VISIBLE[scope]
    assert owned == VISIBLE[scope]
    assert all(untouched.values()), untouched


# --- imports ----------------------------------------------------------------------------------


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _import(
    world: World,
    scope: str,
    rows: list[list[str]],
    *,
    kind: str = "customers",
    match_by: str,
    create: bool = False,
) -> tuple[ImportJob, ImportJob]:
    """Upload as the reader of `scope`, map automatically, check, and commit the valid rows
    (inline): (the checked job, the committed job)."""
    with schema_context(world.schema):
        actor = User.objects.get(pk=world.readers[scope].pk)
        job = imports.import_start(
            actor=actor, kind=kind, upload=io.BytesIO(_csv_bytes(rows)), filename="scope.csv"
        )
        job = imports.import_configure(
            actor=actor,
            job=job,
            mapping=job.mapping,
            match_by=match_by,
            update_existing=True,
            valid_only=True,
            create_missing_customers=create,
        )
        checked = imports.import_check_request(actor=actor, job=job, inline=True)
        assert checked.status == ImportJob.Status.CHECKED, checked.message
        done = imports.import_commit_request(actor=actor, job=checked, inline=True)
        assert done.status == ImportJob.Status.DONE, done.message
        return checked, done


def _reasons(world: World, job: ImportJob) -> list[str]:
    with schema_context(world.schema):
        return [r.reason for r in import_rejected_rows(job, 100)]


def _names_now(world: World, scope: str) -> dict[str, str]:
    with schema_context(world.schema):
        ids = world.ids(scope)
        names = dict(Customer.objects.filter(pk__in=ids.values()).values_list("pk", "name"))
        return {k: names[pk] for k, pk in ids.items()}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("match_by", ["phone", "email"])
def test_an_import_matching_by_phone_or_email_updates_only_customers_in_scope(
    world, scope, match_by
):
    """A row whose phone or email only a customer out of scope holds makes a new customer, as
    if nobody held it: the importer learns nothing, and the hidden customer is untouched."""
    customers = world.customers[scope]
    with schema_context(world.schema):
        keys = {
            k: (c.phones.get().e164 if match_by == "phone" else c.emails.get().email)
            for k, c in customers.items()
        }
    header = ["姓名", "手机" if match_by == "phone" else "邮箱"]
    rows = [header] + [[f"renamed {k} {world.marker}", v] for k, v in keys.items()]
    checked, done = _import(world, scope, rows, match_by=match_by)
    hidden = len(KEYS) - len(VISIBLE[scope])
    for job in (checked, done):
        assert (job.updated_count, job.created_count, job.rejected_count) == (
            len(VISIBLE[scope]),
            hidden,
            0,
        )
    names = _names_now(world, scope)
    assert {k for k, n in names.items() if n.startswith("renamed ")} == VISIBLE[scope]
    with schema_context(world.schema):
        created = Customer.objects.filter(
            name__startswith="renamed ", name__endswith=world.marker
        ).exclude(pk__in=world.ids(scope).values())
        made = {c.name.split()[1]: c for c in created}
        assert set(made) == set(KEYS) - VISIBLE[scope]
        reader = world.readers[scope]
        # Someone with a narrower scope owns what they import (else they could not see it).
        expected_owner = None if scope == "all" else reader.pk
        assert {c.owner_id for c in made.values()} <= {expected_owner}


@pytest.mark.parametrize("scope", SCOPES)
def test_an_import_matching_by_external_id_rejects_hidden_ids_without_naming_anyone(world, scope):
    customers = world.customers[scope]
    rows = [["外部编号", "姓名"]] + [
        [c.external_id, f"renamed {k} {world.marker}"] for k, c in customers.items()
    ]
    checked, done = _import(world, scope, rows, match_by="external_id")
    hidden = len(KEYS) - len(VISIBLE[scope])
    assert (done.updated_count, done.created_count, done.rejected_count) == (
        len(VISIBLE[scope]),
        0,
        hidden,
    )
    reasons = _reasons(world, done)
    # The external id is unique, so such a row cannot be created either: the reason every
    # importer gets for a taken id, which names no customer.
    assert reasons == ["Another customer has this external id."] * hidden
    assert all("#" not in r for r in _reasons(world, checked))
    names = _names_now(world, scope)
    assert {k for k, n in names.items() if n.startswith("renamed ")} == VISIBLE[scope]


@pytest.mark.parametrize("scope", SCOPES)
def test_several_matches_name_only_customers_in_scope(world, scope):
    """Every customer gets the "mine" phone: the row matches several, and the reason lists
    the ids the importer may see; with one visible match it is an update."""
    customers = world.customers[scope]
    with schema_context(world.schema):
        shared = customers["mine"].phones.get()
        for key, customer in customers.items():
            if key != "mine":
                customer.phones.create(raw=shared.raw, e164=shared.e164, digits=shared.digits)
    _checked, done = _import(
        world, scope, [["姓名", "手机"], [f"renamed {world.marker}", shared.e164]], match_by="phone"
    )
    visible_ids = {customers[k].pk for k in VISIBLE[scope]}
    if len(visible_ids) == 1:
        assert (done.updated_count, done.rejected_count) == (1, 0)
        return
    (reason,) = _reasons(world, done)
    named = {int(found) for found in re.findall(r"#(\d+)", reason)}
    assert named == visible_ids


@pytest.mark.parametrize("scope", SCOPES)
def test_an_orders_import_finds_customers_and_orders_in_scope_only(world, scope):
    customers = world.customers[scope]
    with schema_context(world.schema):
        phones = {k: c.phones.get().e164 for k, c in customers.items()}
        # An existing order of each customer, which the file then moves and reprices.
        for key, customer in customers.items():
            Order.objects.create(
                number=f"OLD-{key}-{world.marker}",
                customer=customer,
                ordered_at=timezone.now(),
                amount=Decimal("1.00"),
                currency="GBP",
            )
    header = ["订单号", "手机号", "下单时间", "金额"]
    new_rows = [[f"NEW-{k}-{world.marker}", phones[k], "2024-03-05 14:30", "5"] for k in KEYS]
    old_rows = [[f"OLD-{k}-{world.marker}", phones["mine"], "2024-03-05 14:30", "7"] for k in KEYS]
    _checked, done = _import(
        world, scope, [header, *new_rows, *old_rows], kind="orders", match_by="phone"
    )
    hidden = set(KEYS) - VISIBLE[scope]
    # New orders of visible customers; every visible old order moved to "mine" and repriced;
    # hidden customers are not found, hidden orders not touched.
    assert (done.created_count, done.updated_count, done.rejected_count) == (
        len(VISIBLE[scope]),
        len(VISIBLE[scope]),
        2 * len(hidden),
    )
    reasons = _reasons(world, done)
    assert all("#" not in r for r in reasons), reasons
    assert sum(r == "Another order already has this number." for r in reasons) == len(hidden)
    assert sum(r.startswith("No customer with phone") for r in reasons) == len(hidden)
    with schema_context(world.schema):
        new = set(
            Order.objects.filter(
                number__startswith="NEW-", number__endswith=world.marker
            ).values_list("number", flat=True)
        )
        assert {n.split("-")[1] for n in new} == VISIBLE[scope]
        old = {
            o.number.split("-")[1]: o
            for o in Order.objects.filter(number__startswith="OLD-", number__endswith=world.marker)
        }
        for key, order in old.items():
            if key in hidden:
                assert (order.amount, order.customer_id) == (Decimal("1.00"), customers[key].pk)
            else:
                assert (order.amount, order.customer_id) == (Decimal("7.00"), customers["mine"].pk)


@pytest.mark.parametrize("scope", ["own", "team"])
def test_orders_creating_missing_customers_create_rather_than_reveal_and_own_them(world, scope):
    customers = world.customers[scope]
    hidden = sorted(set(KEYS) - VISIBLE[scope])
    with schema_context(world.schema):
        phones = {k: customers[k].phones.get().e164 for k in hidden}
    header = ["订单号", "手机号", "客户姓名", "下单时间", "金额"]
    rows = [
        [f"MK-{k}-{world.marker}", phones[k], f"made {k} {world.marker}", "2024-03-05", "3"]
        for k in hidden
    ]
    _checked, done = _import(
        world, scope, [header, *rows], kind="orders", match_by="phone", create=True
    )
    assert (done.created_count, done.rejected_count) == (len(hidden), 0)
    with schema_context(world.schema):
        orders = Order.objects.filter(number__startswith="MK-", number__endswith=world.marker)
        owners = {o.customer.owner_id for o in orders}
        assert owners == {world.readers[scope].pk}
        assert not Order.objects.filter(customer__in=[customers[k] for k in hidden]).exists()


def test_the_command_line_runs_as_the_operator_and_says_so(world, tmp_path):
    from django.core.management import call_command

    customers = world.customers["own"]
    with schema_context(world.schema):
        phone = customers["other_t2"].phones.get().e164
    path = tmp_path / "cli.csv"
    path.write_bytes(_csv_bytes([["姓名", "手机"], [f"cli {world.marker}", phone]]))
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_records",
        world.schema,
        "customers",
        str(path),
        "--match",
        "phone",
        stdout=out,
        stderr=err,
    )
    assert "record scope all" in err.getvalue()
    assert "1 updated" in out.getvalue()
    connection.set_schema_to_public()
    with schema_context(world.schema):
        job = ImportJob.objects.order_by("-pk").first()
        assert job is not None and job.by_operator and job.created_by is None
        assert Customer.objects.get(pk=customers["other_t2"].pk).name == f"cli {world.marker}"
