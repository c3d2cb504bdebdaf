"""The customer list's cached rows (customers.list_cache): served again only while nothing
they show has changed, whichever way it changed, and never to a reader who would see other
customers, other masks or another language; the data version behind the key."""

import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import translation
from django_tenants.utils import schema_context

from crm.accounts.models import Team, User
from customers import list_cache, list_rows_html, selectors
from customers.list_columns import list_columns
from customers.models import Customer, CustomerEmail, CustomerPhone, CustomField
from customers.services import (
    CustomerInput,
    customer_create,
    customer_update,
    customers_assign,
    customers_tag,
)
from tests.conftest import client_for
from tests.testkit.listing import listed_names

pytestmark = pytest.mark.django_db

HOME = "/customers/"


def _user(member, role):
    return User.objects.get(pk=member.users[role].pk)


def _version(member) -> str:
    with schema_context(member.schema):
        return selectors.list_context(_user(member, "manager")).data_version


def _add(member, name, **extra):
    with schema_context(member.schema):
        return customer_create(actor=None, data=CustomerInput(name=name, **extra))


def _reads_customers(queries) -> bool:
    return any('FROM "customers_customer"' in q["sql"] for q in queries.captured_queries)


class TestServedFromTheCache:
    def test_a_page_seen_before_is_not_read_again_and_looks_the_same(self, acme):
        _add(acme, "Ada Lovelace", phones=["+44 20 7946 0958"])
        client = client_for(acme, "manager")
        first = client.get(HOME)
        with CaptureQueriesContext(connection) as queries:
            again = client.get(HOME)
        assert not _reads_customers(queries), "the rows came from the cache"
        assert again.context["rows"].html == first.context["rows"].html
        assert listed_names(again) == ["Ada Lovelace"]

    def test_a_change_shows_on_the_next_request(self, acme):
        customer = _add(acme, "Grace Hopper")
        client = client_for(acme, "manager")
        assert listed_names(client.get(HOME)) == ["Grace Hopper"]
        with schema_context(acme.schema):
            customer_update(
                actor=None,
                customer=Customer.objects.get(pk=customer.pk),
                data=CustomerInput(name="Grace B. Hopper"),
            )
        assert listed_names(client.get(HOME)) == ["Grace B. Hopper"]

    def test_searches_and_later_pages_are_kept_apart(self, acme):
        for i in range(3):
            _add(acme, f"Zed {i}")
        _add(acme, "Amy")
        client = client_for(acme, "manager")
        assert listed_names(client.get(HOME, {"q": "zed"})) == ["Zed 0", "Zed 1", "Zed 2"]
        assert listed_names(client.get(HOME, {"q": "amy"})) == ["Amy"]
        assert listed_names(client.get(HOME, {"q": "zed", "order": "newest"})) == [
            "Zed 2",
            "Zed 1",
            "Zed 0",
        ]

    @override_settings(CUSTOMER_LIST_CACHE_SECONDS=0)
    def test_with_the_cache_off_every_request_reads_the_rows(self, acme):
        _add(acme, "Ada")
        client = client_for(acme, "manager")
        client.get(HOME)
        with CaptureQueriesContext(connection) as queries:
            client.get(HOME)
        assert _reads_customers(queries)


class TestNeverToTheWrongReader:
    def test_masks_follow_the_reader_not_whoever_filled_the_cache(self, acme):
        _add(acme, "Ada", phones=["+44 20 7946 0958"], emails=["ada@example.com"])
        manager = client_for(acme, "manager").get(HOME).context["rows"].html
        viewer = client_for(acme, "viewer").get(HOME).context["rows"].html
        assert "ada@example.com" in manager and "7946" in manager
        assert "ada@example.com" not in viewer and "7946 0958" not in viewer

    def test_record_scope_follows_the_reader(self, acme):
        with schema_context(acme.schema):
            agent = _user(acme, "agent")
        _add(acme, "Mine", owner=agent)
        _add(acme, "Someone else's")
        assert listed_names(client_for(acme, "manager").get(HOME)) == ["Mine", "Someone else's"]
        assert listed_names(client_for(acme, "agent").get(HOME)) == ["Mine"]

    def test_the_language_follows_the_reader(self, acme):
        _add(acme, "Ada")
        assert "Lead" in client_for(acme, "manager").get(HOME).context["rows"].html
        client = client_for(acme, "viewer")
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
        html = client.get(HOME).context["rows"].html
        assert "Lead" not in html
        with translation.override("zh-hans"):
            assert str(Customer.Stage.LEAD.label) in html

    def test_another_tenant_never_gets_these_rows(self, acme, globex):
        _add(acme, "Acme's customer")
        _add(globex, "Globex's customer")
        assert listed_names(client_for(acme, "manager").get(HOME)) == ["Acme's customer"]
        assert listed_names(client_for(globex, "manager").get(HOME)) == ["Globex's customer"]

    def test_the_same_key_in_another_schema_is_another_entry(self, acme, globex):
        with schema_context(acme.schema):
            cache.set("customer-list:probe", ("acme rows", 1, None))
        with schema_context(globex.schema):
            assert cache.get("customer-list:probe") is None
        with schema_context(acme.schema):
            assert cache.get("customer-list:probe") == ("acme rows", 1, None)


def _rename_owner(member):
    with schema_context(member.schema):
        User.objects.filter(pk=member.users["agent"].pk).update(full_name="Renamed agent")


def _rename_team(member):
    with schema_context(member.schema):
        Team.objects.filter(name="List team").update(name="Renamed team")


def _join_team(member):
    with schema_context(member.schema):
        Team.objects.get(name="List team").members.add(_user(member, "viewer"))


def _raw_sql(member):
    with schema_context(member.schema), connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET tags = ARRAY['raw']")


def _copy(member):
    columns = "customer_id, email, is_primary"
    with schema_context(member.schema), connection.cursor() as cursor:
        customer = Customer.objects.get(name="Watched")
        with cursor.copy(f"COPY customers_customeremail ({columns}) FROM STDIN") as copy:
            copy.write_row((customer.pk, "copied@example.com", False))


WRITES = {
    "a form's update": lambda m: _update(m),
    "a bulk tag": lambda m: _bulk(m, customers_tag, tag="vip"),
    "a bulk owner change": lambda m: _bulk(m, customers_assign, owner="manager"),
    "a phone added": lambda m: _in(
        m,
        lambda c: CustomerPhone.objects.create(
            customer=c, raw="020 7946 0000", e164="+442079460000", digits="442079460000"
        ),
    ),
    "an email removed": lambda m: _in(
        m, lambda c: CustomerEmail.objects.filter(customer=c).delete()
    ),
    "a customer deleted": lambda m: _in(m, lambda c: c.delete()),
    "a custom field defined": lambda m: _in(
        m, lambda c: CustomField.objects.create(key="tier", label="Tier", kind="text")
    ),
    "the owner renamed": _rename_owner,
    "the team renamed": _rename_team,
    "team membership": _join_team,
    "raw SQL": _raw_sql,
    "COPY (the import engine's path)": _copy,
}


def _in(member, change):
    with schema_context(member.schema):
        change(Customer.objects.get(name="Watched"))


def _update(member):
    with schema_context(member.schema):
        customer = Customer.objects.get(name="Watched")
        customer_update(actor=None, customer=customer, data=CustomerInput(name="Watched"))


def _bulk(member, action, **kwargs):
    with schema_context(member.schema):
        pk = Customer.objects.get(name="Watched").pk
        if "owner" in kwargs:
            kwargs["owner"] = _user(member, kwargs["owner"])
        action(actor=None, customer_ids=[pk], **kwargs)


class TestTheDataVersion:
    @pytest.fixture
    def watched(self, acme):
        with schema_context(acme.schema):
            team = Team.objects.create(name="List team")
            customer_create(
                actor=None,
                data=CustomerInput(
                    name="Watched",
                    owner=_user(acme, "agent"),
                    team=team,
                    emails=["watched@example.com"],
                ),
            )
        return acme

    @pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
    def test_every_kind_of_write_moves_it(self, watched, write):
        before = _version(watched)
        WRITES[write](watched)
        assert _version(watched) != before

    def test_reads_and_unrelated_writes_leave_it(self, watched):
        before = _version(watched)
        with schema_context(watched.schema):
            list(Customer.objects.all())
            User.objects.filter(pk=watched.users["agent"].pk).update(language="en")
        assert _version(watched) == before

    def test_a_rolled_back_state_never_comes_back(self, watched):
        seen_inside = []
        with pytest.raises(RuntimeError), transaction.atomic():
            _update(watched)
            seen_inside.append(_version(watched))
            raise RuntimeError("roll back")
        assert _version(watched) != seen_inside[0]
        _update(watched)
        assert _version(watched) != seen_inside[0], "a stamp is never used twice"


@pytest.mark.usefixtures("committed_db")
def test_a_writer_never_waits_for_another_writers_slot(cast):
    """Two transactions changing customers at once (an import and a form, say): the second
    takes another slot instead of waiting for the first to commit, and the version moves
    with each commit."""
    acme = cast["acme"]
    params = connection.get_connection_params()
    dsn = {k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}
    touch = "UPDATE customers_customer SET stage = stage WHERE false"  # fires the trigger only
    with psycopg.connect(**dsn) as first, psycopg.connect(**dsn) as second:
        for conn in (first, second):
            conn.execute(f"SET search_path = {acme.schema}")
            conn.execute("SET lock_timeout = '2s'")
        before = _version(acme)
        first.execute(touch)  # holds its slot until it commits
        second.execute(touch)  # would raise LockNotAvailable after 2 s if it waited
        second.commit()
        after_second = _version(acme)
        first.commit()
        after_both = _version(acme)
    assert len({before, after_second, after_both}) == 3


def test_the_rows_markup_digest_is_part_of_the_key(acme):
    with schema_context(acme.schema):
        user = _user(acme, "manager")
        context = selectors.list_context(user)
        key = list_cache.cache_key(
            user, selectors.CustomerQuery(), after="", size=50, context=context, selectable=True
        )
    assert list_rows_html.markup_digest(list_columns(user)) in key
    assert context.data_version in key


def test_rows_escape_every_value_and_fill_empty_cells(acme):
    """The rows written out in Python (customers.list_rows_html) escape what they print, show
    the company badge and the team, and a dash where there is nothing to show."""
    with schema_context(acme.schema):
        team = Team.objects.create(name="<b>East</b>")
        owner = User.objects.get(pk=acme.agent.pk)
        made = customer_create(
            actor=None,
            data=CustomerInput(
                name='Zhang & "Sons" <script>',
                kind="company",
                phones=["13800000009"],
                tags=["<vip>", "春节"],
                owner=owner,
                team=team,
            ),
        )
        bare = customer_create(actor=None, data=CustomerInput(name="王五"))
        user = _user(acme, "manager")
        customers = list(
            selectors.visible_customers(user)
            .filter(pk__in=[made.pk, bare.pk])
            .select_related("owner", "team")
            .order_by("name_sort")
        )
        for c in customers:
            c.first_phone = c.phones.values_list("e164", flat=True).first()
            c.first_email = None
            c.lifetime_value = 0
            c.points_balance = c.points_tier = None  # loyalty's column (loyalty.list_columns)
            c.rfm_segment = c.rfm_r = c.rfm_f = c.rfm_m = None  # analytics.rfm_extensions
        columns = list_columns(user)
        selectors.row_display(user, customers, columns)
        html = list_rows_html.rows_html(customers, selectable=True, columns=columns)
        plain = list_rows_html.rows_html(customers, selectable=False, columns=columns)
    assert "<script>" not in html and "Zhang &amp; &quot;Sons&quot; &lt;script&gt;" in html
    assert "&lt;vip&gt;, 春节" in html and "&lt;b&gt;East&lt;/b&gt;" in html
    assert html.count('class="badge">Company</small>') == 1
    assert f'value="{made.pk}"' in html and 'aria-label="Select 王五"' in html
    assert 'name="ids"' not in plain and html.count("<tr>") == plain.count("<tr>") == 2
    bare_row = html.split("<tr>")[2 if customers[0].pk == made.pk else 1]
    assert bare_row.count("<td>—</td>") >= 2 and '<td class="nowrap">—</td>' in bare_row
