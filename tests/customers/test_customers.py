"""Customer records: create and edit with normalised contacts, search, scope, masking,
keyset pagination, the timeline and consent history."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now as timezone_now
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, Team, User
from crm.tenants.models import Tenant
from crm.tenants.selectors import tenant_usage
from customers.forms import CustomerSearchForm
from customers.models import ConsentEvent, Customer, CustomerPhone
from customers.selectors import CustomerQuery, consent_current, customer_page
from customers.services import CustomerInput, consent_set, customer_create, timeline_add
from tests.conftest import client_for
from tests.testkit.listing import listed_names

pytestmark = pytest.mark.django_db


def _user(member, role):
    return User.objects.get(pk=member.users[role].pk)


def _customer(member, name, *, phones=(), emails=(), owner=None, team=None, **extra):
    with schema_context(member.schema):
        return customer_create(
            actor=None,
            data=CustomerInput(
                name=name, phones=list(phones), emails=list(emails), owner=owner, team=team, **extra
            ),
        )


FORM = {
    "name": "王芳",
    "kind": "individual",
    "phones": "138 1234 5678\n+44 20 7946 0958",
    "emails": "Wang.Fang@Example.CN",
    "birthday": "1996-02-29",
    "gender": "female",
    "tags": "vip, 会员 ,vip",
    "country": "cn",
}


class TestCreateAndEdit:
    def test_an_agent_adds_a_customer_with_contacts_normalised(self, acme):
        response = client_for(acme, "agent").post(reverse("customers:new"), FORM)
        assert response.status_code == 302
        with schema_context(acme.schema):
            customer = Customer.objects.get(name="王芳")
            assert response.url == reverse("customers:detail", args=[customer.pk])
            assert [(p.raw, p.e164) for p in customer.phones.all()] == [
                ("138 1234 5678", "+8613812345678"),
                ("+44 20 7946 0958", "+442079460958"),
            ]
            assert list(customer.emails.values_list("email", flat=True)) == ["wang.fang@example.cn"]
            assert customer.birthday == datetime.date(1996, 2, 29)
            assert customer.tags == ["vip", "会员"]
            assert customer.country == "CN"
            assert customer.name_sort == "wangfang 王芳"
            assert customer.owner == _user(acme, "agent")
            entry = AuditEntry.objects.filter(table_name="customers_customer").first()
            assert entry.action == "insert" and entry.actor_id == acme.agent.pk

    def test_bad_input_is_explained_and_nothing_is_written(self, acme):
        _customer(acme, "Existing", external_id="EXT-1")
        bad = dict(
            FORM,
            phones="12345\n138 1234 5678",
            emails="not-an-email",
            external_id="EXT-1",
            birthday="2023-02-29",
        )
        response = client_for(acme, "agent").post(reverse("customers:new"), bad)
        page = response.content.decode()
        assert response.status_code == 200
        assert "2023 is not a leap year, so it has no 29 February." in page
        bad["birthday"] = ""
        response = client_for(acme, "agent").post(reverse("customers:new"), bad)
        page = response.content.decode()
        assert "“12345” is not a phone number we can dial." in page
        assert "“not-an-email” is not an email address." in page
        with schema_context(acme.schema):
            assert not Customer.objects.filter(name="王芳").exists()
            assert not CustomerPhone.objects.filter(e164="+8613812345678").exists()

    def test_editing_keeps_unchanged_contacts_and_records_the_change(self, acme):
        customer = _customer(acme, "Li Lei", phones=["13800138000"], owner=None)
        admin = client_for(acme, "admin")
        response = admin.post(
            reverse("customers:edit", args=[customer.pk]),
            dict(FORM, name="Li Lei", phones="+86 138 0013 8000\n13912345678", emails=""),
        )
        assert response.status_code == 302
        with schema_context(acme.schema):
            phones = list(customer.phones.order_by("id").values_list("e164", "is_primary"))
            assert phones == [("+8613800138000", True), ("+8613912345678", False)]
            inserts = AuditEntry.objects.filter(
                table_name="customers_customerphone", action="insert"
            )
            assert inserts.count() == 2, "the kept number was not deleted and re-added"


class TestSearchScopeAndMasking:
    @pytest.fixture
    def people(self, acme):
        with schema_context(acme.schema):
            agent = _user(acme, "agent")
            team = Team.objects.create(name="Beijing store")
            team.members.add(agent)
        return {
            "zhang": _customer(
                acme, "张伟", phones=["138 0013 8000"], emails=["zhang@shop.cn"], owner=agent
            ),
            "smith": _customer(acme, "Anna Smith", phones=["+44 7911 123456"], team=team),
            "other": _customer(acme, "李娜", phones=["139 2222 3333"], emails=["li.na@x.cn"]),
        }

    def _names(self, member, role, **query):
        with schema_context(member.schema):
            page = customer_page(_user(member, role), CustomerQuery(**query))
        return sorted(c.name for c in page.customers)

    def test_search_by_name_pinyin_phone_digits_and_email(self, acme, people):
        assert self._names(acme, "admin", text="伟") == ["张伟"]
        assert self._names(acme, "admin", text="ZHANG") == ["张伟"]
        assert self._names(acme, "admin", text="zhang wei") == ["张伟"]
        assert self._names(acme, "admin", text="smi") == ["Anna Smith"]
        assert self._names(acme, "admin", text="0013 8000") == ["张伟"]
        assert self._names(acme, "admin", text="138-0013") == ["张伟"]
        assert self._names(acme, "admin", text="00138") == ["张伟"], "zeros inside a number"
        assert self._names(acme, "admin", text="07911 123456") == ["Anna Smith"]
        assert self._names(acme, "admin", text="li.na@") == ["李娜"]

    def test_without_personal_data_phones_and_emails_cannot_be_probed(self, acme, people):
        assert self._names(acme, "viewer", text="0013 8000") == []
        assert self._names(acme, "viewer", text="zhang@shop") == []
        assert self._names(acme, "viewer", text="张") == ["张伟"]

    def test_an_agent_sees_own_and_team_customers_only(self, acme, people):
        assert self._names(acme, "agent") == ["Anna Smith", "张伟"]
        other = people["other"]
        agent = client_for(acme, "agent")
        assert agent.get(reverse("customers:detail", args=[other.pk])).status_code == 404
        assert agent.get(reverse("customers:detail", args=[people["zhang"].pk])).status_code == 200

    def test_the_list_masks_contacts_for_a_viewer(self, acme, people):
        viewer_page = client_for(acme, "viewer").get(reverse("customers:home")).content.decode()
        agent_page = client_for(acme, "agent").get(reverse("customers:home")).content.decode()
        assert "0013" not in viewer_page and "zhang@shop.cn" not in viewer_page
        assert "+86 •••••••8000" in viewer_page and "z•••@•••.cn" in viewer_page
        assert "+86 138 0013 8000" in agent_page and "zhang@shop.cn" in agent_page


class TestListPaging:
    def test_keyset_pages_cover_everyone_once_in_name_order_with_few_queries(self, acme):
        with schema_context(acme.schema):
            for i in range(130):
                Customer.objects.create(name=f"Customer {i:03d}", name_sort=f"customer {i:03d}")
        admin = client_for(acme, "admin")
        seen, url, pages = [], reverse("customers:home"), 0
        while url:
            with CaptureQueriesContext(connection) as queries:
                response = admin.get(url)
            statements = [q for q in queries.captured_queries if "search_path" not in q["sql"]]
            assert len(statements) <= 17, len(statements)
            seen += listed_names(response)
            next_query = response.context["next_query"]
            url = f"{reverse('customers:home')}?{next_query}" if next_query else ""
            pages += 1
        assert pages == 3
        assert seen == sorted(seen) and len(seen) == len(set(seen)) == 130

    def test_empty_states(self, acme):
        admin = client_for(acme, "admin")
        assert "No customers yet" in admin.get(reverse("customers:home")).content.decode()
        _customer(acme, "Somebody")
        nothing = admin.get(reverse("customers:home"), {"q": "nobody-like-this"}).content.decode()
        assert "No customer matches" in nothing


class TestTimelineAndConsent:
    def test_staff_add_to_the_timeline_newest_first(self, acme):
        customer = _customer(acme, "Timeline Person", owner=None)
        with schema_context(acme.schema):
            timeline_add(
                actor=None,
                customer=customer,
                kind="event",
                title="Ticket #1 opened",
                source="support",
                occurred_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            )
        admin = client_for(acme, "admin")
        admin.post(
            reverse("customers:interaction_add", args=[customer.pk]),
            {"kind": "call", "title": "Asked about delivery", "body": "Will call back"},
        )
        tabs = admin.get(reverse("customers:detail", args=[customer.pk])).context["tabs"]
        timeline = next(t.context["timeline"] for t in tabs if t.key == "timeline")
        assert [i.title for i in timeline] == ["Asked about delivery", "Ticket #1 opened"]
        assert timeline[0].actor_id == acme.admin.pk

    def test_consent_is_a_history_and_the_latest_event_wins(self, acme):
        customer = _customer(acme, "Consenting Adult")
        with schema_context(acme.schema):
            agent = _user(acme, "agent")
            consent_set(actor=agent, customer=customer, channel="sms", granted=True, source="store")
            consent_set(actor=agent, customer=customer, channel="sms", granted=False, source="call")
            state = consent_current(customer)
            assert state["sms"].granted is False and state["sms"].source == "call"
            assert state["email"] is None
            assert ConsentEvent.objects.filter(customer=customer).count() == 2
        response = client_for(acme, "admin").post(
            reverse("customers:consent_change", args=[customer.pk]),
            {"channel": "email", "granted": "yes", "source": "web form"},
        )
        assert response.status_code == 302
        with schema_context(acme.schema):
            assert consent_current(customer)["email"].granted is True


class TestDuplicateWarnings:
    def test_the_same_phone_or_email_or_similar_name_and_birthday_warns_before_saving(self, acme):
        existing = _customer(
            acme,
            "王芳",
            phones=["13812345678"],
            emails=["fang@shop.cn"],
            birthday=datetime.date(1996, 2, 29),
        )
        admin = client_for(acme, "admin")
        response = admin.post(reverse("customers:new"), dict(FORM, emails="other@x.cn"))
        page = response.content.decode()
        assert response.status_code == 200
        assert "This may be a customer you already have" in page
        assert "same phone number" in page and "similar name, same birthday" in page
        assert reverse("customers:detail", args=[existing.pk]) in page
        # The "different customer" box is offered beside the warning, and only there.
        box = 'type="checkbox" name="not_a_duplicate"'
        assert box in page
        assert box not in admin.get(reverse("customers:new")).content.decode()
        edit = admin.get(reverse("customers:edit", args=[existing.pk])).content.decode()
        assert box not in edit and 'name="not_a_duplicate"' in edit  # kept, hidden

        # An agent is warned too, without learning whose record it is (it is out of scope).
        agent = client_for(acme, "agent")
        page = agent.post(
            reverse("customers:new"), dict(FORM, emails="other@x.cn")
        ).content.decode()
        assert "A customer outside your records" in page and "same phone number" in page
        assert reverse("customers:detail", args=[existing.pk]) not in page
        with schema_context(acme.schema):
            assert Customer.objects.filter(name="王芳").count() == 1, "nothing saved yet"

        confirmed = agent.post(
            reverse("customers:new"), dict(FORM, emails="other@x.cn", not_a_duplicate="on")
        )
        assert confirmed.status_code == 302
        with schema_context(acme.schema):
            assert Customer.objects.filter(name="王芳").count() == 2

    def test_editing_a_customer_does_not_flag_itself(self, acme):
        customer = _customer(acme, "Solo Person", phones=["13900001111"], city="上海")
        response = client_for(acme, "admin").post(
            reverse("customers:edit", args=[customer.pk]),
            {"name": "Solo Person", "kind": "individual", "phones": "13900001111", "city": "上海"},
        )
        assert response.status_code == 302


def test_quick_add_from_the_list(acme):
    list_page = client_for(acme, "agent").get(reverse("customers:home")).content.decode()
    assert "Quick add" in list_page
    response = client_for(acme, "agent").post(
        reverse("customers:new"), {"kind": "individual", "name": "Quick Q", "phones": "13700001111"}
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        customer = Customer.objects.get(name="Quick Q")
        assert customer.owner_id == acme.agent.pk
        assert customer.phones.get().e164 == "+8613700001111"
    viewer_page = client_for(acme, "viewer").get(reverse("customers:home")).content.decode()
    assert "Quick add" not in viewer_page


def test_the_plan_customer_limit_is_enforced_and_shown_to_operators(acme):
    _customer(acme, "One")
    Tenant.objects.filter(slug="acme").update(customer_limit=1)
    response = client_for(acme, "agent").post(
        reverse("customers:new"), {"kind": "individual", "name": "Two"}
    )
    assert "Your plan allows 1 customers." in response.content.decode()
    with schema_context(acme.schema):
        assert not Customer.objects.filter(name="Two").exists()
    assert tenant_usage(Tenant.objects.get(slug="acme")).customers == 1


def test_the_customer_page_title_is_just_the_name(acme):
    customer = _customer(acme, "Title Person")
    page = client_for(acme, "admin").get(reverse("customers:detail", args=[customer.pk]))
    title = page.content.decode().split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.startswith("Title Person") and "<" not in title


class TestListSearchPlans:
    """The list finds matches through its indexes (a sorted set of matches) and, when matches
    are many, by walking the list's order; both must show the same customers in order."""

    @pytest.fixture
    def crowd(self, acme):
        with schema_context(acme.schema):
            for i in range(70):
                customer_create(
                    actor=None,
                    data=CustomerInput(
                        name=f"王芳{i:02d}" if i % 2 else f"Wang Lei {i:02d}",
                        phones=[f"139 1000 {1000 + i}"],
                        emails=[f"w{i}.lei@shop.cn"],
                    ),
                )
            _customer(acme, "欧阳娜娜", phones=["+44 20 7946 0958"])
            _customer(acme, "Someone Else", phones=["137 0000 0000"], emails=["x@y.cn"])

    def _all_pages(self, member, role, **query):
        seen, after = [], ""
        with schema_context(member.schema):
            user = _user(member, role)
            while True:
                page = customer_page(user, CustomerQuery(**query), after=after, size=20)
                seen += [c.name for c in page.customers]
                if not page.next_cursor:
                    return seen
                after = page.next_cursor

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("王", 35),
            ("王芳", 35),
            ("芳0", 5),
            ("wang", 70),
            ("wangfang", 35),
            ("wang lei", 35),
            ("139 1000", 70),
            ("1000 105", 10),
            ("lei@shop", 70),
            ("w1.lei@", 1),
            ("ouyang", 1),
            ("娜", 1),
            ("ei", 35),  # two letters: no trigram, the character index
        ],
    )
    def test_every_search_pages_through_all_matches_once_in_order(
        self, acme, crowd, monkeypatch, text, expected
    ):
        from customers import selectors

        by_name = self._all_pages(acme, "manager", text=text)
        assert len(by_name) == len(set(by_name)) == expected, by_name
        with schema_context(acme.schema):
            keys = dict(Customer.objects.values_list("name", "name_sort"))
        assert [keys[n] for n in by_name] == sorted(keys[n] for n in by_name)
        newest = self._all_pages(acme, "manager", text=text, order="newest")
        assert sorted(newest) == sorted(by_name)
        # The same customers whichever of the three plans answers: the first rows of the
        # order (above), the indexes' matches sorted, and the walk of the whole order.
        for walk_rows, sort_limit in ((3, 30_000), (3, 3)):
            monkeypatch.setattr(selectors, "SEARCH_WALK_ROWS", walk_rows)
            monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", sort_limit)
            assert self._all_pages(acme, "manager", text=text) == by_name
            assert self._all_pages(acme, "manager", text=text, order="newest") == newest

    def test_searches_respect_scope_and_filters_on_every_plan(self, acme, crowd, monkeypatch):
        from customers import selectors

        with schema_context(acme.schema):
            agent = _user(acme, "agent")
            mine = Customer.objects.filter(name__in=["王芳01", "王芳03", "Wang Lei 02"])
            mine.update(owner=agent)
            Customer.objects.filter(name="王芳03").update(stage="active")
        for walk_rows, sort_limit in ((10_000, 30_000), (1, 30_000), (1, 1)):
            monkeypatch.setattr(selectors, "SEARCH_WALK_ROWS", walk_rows)
            monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", sort_limit)
            wang = self._all_pages(acme, "agent", text="wang")
            assert wang == ["Wang Lei 02", "王芳01", "王芳03"]
            assert self._all_pages(acme, "agent", text="王", stage="active") == ["王芳03"]
            assert self._all_pages(acme, "viewer", text="139 1000") == []

    def test_the_record_scope_read_with_the_list_is_the_permission_modules(self, acme):
        from crm.accounts.permissions import record_scope
        from customers.selectors import list_context

        with schema_context(acme.schema):
            for role in ("admin", "manager", "agent", "viewer", "marketing"):
                user = _user(acme, role)
                assert list_context(user).scope == record_scope(user), role


class TestCustomFieldFilters:
    @pytest.fixture
    def fields(self, acme):
        from customers.models import CustomField

        with schema_context(acme.schema):
            CustomField.objects.create(
                key="tier", label="Tier", kind="choice", choices=["Gold", "Silver"], position=1
            )
            CustomField.objects.create(key="spend", label="Yearly spend", kind="number", position=2)
            CustomField.objects.create(key="joined", label="Member since", kind="date", position=3)
            CustomField.objects.create(key="hobby", label="Hobby", kind="text", position=4)
            CustomField.objects.create(
                key="idcard", label="ID card", kind="text", personal=True, position=5
            )
            CustomField.objects.create(
                key="old", label="Old field", kind="text", archived_at=timezone_now(), position=6
            )
        people = {
            "ann": {"tier": "Gold", "spend": "1200.50", "joined": "2020-03-01", "hobby": "Tennis"},
            "bob": {
                "tier": "Silver",
                "spend": "80",
                "joined": "2024-11-30",
                "hobby": "tennis club",
            },
            "cai": {"tier": "Gold", "spend": "-5", "joined": "2024-01-15", "idcard": "110101X"},
            "dan": {"old": "kept"},
        }
        for name, custom in people.items():
            _customer(acme, name, custom=custom)

    def _list(self, member, role, query: str) -> list[str]:
        response = client_for(member, role).get(f"{reverse('customers:home')}?{query}")
        assert response.status_code == 200
        return listed_names(response)

    def test_choice_number_date_and_text_filters(self, acme, fields):
        assert self._list(acme, "manager", "cf-tier=Gold") == ["ann", "cai"]
        assert self._list(acme, "manager", "cf-spend-min=80") == ["ann", "bob"]
        assert self._list(acme, "manager", "cf-spend-max=80") == ["bob", "cai"]
        assert self._list(acme, "manager", "cf-spend-min=-10&cf-spend-max=100") == ["bob", "cai"]
        assert self._list(acme, "manager", "cf-joined-min=2024-01-01") == ["bob", "cai"]
        assert self._list(acme, "manager", "cf-joined-max=2024-01-15") == ["ann", "cai"]
        assert self._list(acme, "manager", "cf-hobby=TENNIS") == ["ann", "bob"]
        assert self._list(acme, "manager", 'cf-hobby="Tennis"') == ["ann"]
        assert self._list(acme, "manager", "cf-tier=Gold&cf-joined-min=2024-01-01") == ["cai"]
        assert self._list(acme, "manager", "cf-tier=Gold&q=an") == ["ann"]
        # A value the form refuses shows its error and no rows: never the unfiltered list.
        assert self._list(acme, "manager", "cf-tier=Platinum") == []

    def test_the_filter_area_offers_the_fields_each_reader_may_filter_by(self, acme, fields):
        manager = client_for(acme, "manager").get(reverse("customers:home")).content.decode()
        viewer = client_for(acme, "viewer").get(reverse("customers:home")).content.decode()
        for page in (manager, viewer):
            assert "<legend>Tier</legend>" in page and 'name="cf-tier"' in page
            assert 'name="cf-spend-min"' in page and 'name="cf-spend-max"' in page
            assert 'name="cf-joined-min"' in page and 'type="date"' in page
            assert 'name="cf-hobby"' in page
            assert 'name="cf-old"' not in page, "archived fields are not offered"
        assert 'name="cf-idcard"' in manager
        assert 'name="cf-idcard"' not in viewer, "a personal field needs see-personal-data"
        assert self._list(acme, "manager", "cf-idcard=110101") == ["cai"]
        # Typed into the address bar anyway, it is ignored rather than confirming a value.
        assert self._list(acme, "viewer", "cf-idcard=110101") == ["ann", "bob", "cai", "dan"]

    def test_exports_and_saved_views_apply_the_same_filter(self, acme, fields):
        from django.http import QueryDict

        from customers.models import SavedView
        from customers.transfer_exports import customers_export_rows

        query = "cf-tier=Gold&cf-spend-min=0"
        with schema_context(acme.schema):
            manager = _user(acme, "manager")
            exported = [row[1] for row in customers_export_rows(manager, QueryDict(query))]
        assert exported == self._list(acme, "manager", query) == ["ann"]
        client = client_for(acme, "manager")
        response = client.post(reverse("customers:view_save"), {"name": "Gold", "query": query})
        assert response.status_code == 302
        with schema_context(acme.schema):
            saved = SavedView.objects.get(user_id=acme.manager.pk, name="Gold")
        page = client.get(reverse("customers:home") + "?" + query).content.decode()
        assert f'href="?{saved.query.replace("&", "&amp;")}"' in page
        start = reverse("transfer:export_start", kwargs={"kind": "customers"})
        assert f"{start}?format=csv&amp;{query.replace('&', '&amp;')}" in page


def test_the_lists_widgets_draw_the_same_html_as_djangos(acme):
    """crm.lib.widgets write out what Django's widgets draw through their templates: selected
    option, values, escaping, localized dates and attributes included."""
    import datetime

    from django import forms as django_forms
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext_lazy

    from crm.lib import widgets

    choices = [
        ("", gettext_lazy("Any")),
        ("1", "<Zhang & Co>"),
        ("2", '"Li" 李'),
        (3, mark_safe("<b>three</b>")),
        ("1", "the same value again"),
        (None, "none"),
    ]
    for choice in ("", "1", "2", "3", 3, None, "9"):
        for attrs in ({"id": "id_owner"}, {"id": "x", "required": True, "disabled": False}):
            ours = widgets.ListSelect(choices=choices).render("owner", choice, attrs=dict(attrs))
            django = django_forms.Select(choices=choices).render("owner", choice, attrs=dict(attrs))
            assert ours == django, (choice, attrs)
    inputs = (
        (widgets.ListTextInput, django_forms.TextInput, ("", None, 'Zhang "& <b>', "王 1380")),
        (widgets.ListNumberInput, django_forms.NumberInput, (None, 12, "3.5")),
        (
            widgets.ListDateInput,
            django_forms.DateInput,
            (None, "2024-02-29", datetime.date(2024, 2, 29)),
        ),
    )
    for ours_class, django_class, values in inputs:
        for value in values:
            for attrs in (
                {"id": "id_q"},
                {"id": "x", "step": "any", "required": True, "disabled": False},
            ):
                drawn = ours_class().render("q", value, attrs=dict(attrs))
                expected = django_class().render("q", value, attrs=dict(attrs))
                assert drawn == expected, (ours_class, value, attrs)
    with schema_context(acme.schema):
        bound = CustomerSearchForm({"stage": "active", "order": "newest", "q": "<王>"}, user=None)
        for name in ("stage", "order", "owner", "team"):
            field = bound.fields[name]
            expected = django_forms.Select(choices=field.choices).render(
                name, bound[name].value(), attrs={"id": f"id_{name}"}
            )
            assert str(bound[name]) == expected, name
        for name in ("q", "tag"):
            expected = django_forms.TextInput().render(
                name, bound[name].value(), attrs={"id": f"id_{name}"}
            )
            assert str(bound[name]) == expected, name


def test_the_search_forms_dropdowns_accept_only_their_choices(acme):
    """The dropdowns' choices (PlainChoices, as read for the page by list_context) validate as
    Django's lists would: a listed value is taken, any other is refused with a clear error."""
    from customers import selectors

    with schema_context(acme.schema):
        user = User.objects.get(pk=acme.manager.pk)
        team = Team.objects.create(name="华东")
        context = selectors.list_context(user)
        good = CustomerSearchForm(
            {
                "stage": "loyal",
                "owner": str(acme.agent.pk),
                "team": str(team.pk),
                "order": "newest",
            },
            user=user,
            context=context,
        )
        assert good.is_valid(), good.errors
        query = good.to_query()
        assert (query.stage, query.owner_id, query.team_id, query.order) == (
            "loyal",
            acme.agent.pk,
            team.pk,
            "newest",
        )
        bad = CustomerSearchForm(
            {"stage": "vip", "owner": "999999", "team": "x", "order": "random"},
            user=user,
            context=context,
        )
        assert not bad.is_valid()
        assert set(bad.errors) == {"stage", "owner", "team", "order"}
        assert "Select a valid choice" in bad.errors["stage"][0]
        # Each form gets its own fields; the shared choices are never changed by one of them.
        assert good.fields["stage"] is not bad.fields["stage"]
        assert list(good.fields["stage"].choices) == list(bad.fields["stage"].choices)


def test_the_list_keeps_search_in_view_and_folds_the_other_filters_unless_used(acme):
    """The filters sit in a <details> that app.js folds on a phone unless one of them is in
    use (data-active); the search box stays outside it, and the order is no filter."""
    client = client_for(acme, "manager")
    plain = client.get(reverse("customers:home")).content.decode()
    folded = plain.split('<details class="more-filters"', 1)
    assert len(folded) == 2 and 'name="q"' in folded[0] and 'name="q"' not in folded[1]
    assert "data-fold-narrow>" in folded[1]  # open, not marked active
    sorted_only = client.get(reverse("customers:home"), {"sort": "name", "q": "x"}).content
    assert b"data-fold-narrow>" in sorted_only
    used = client.get(reverse("customers:home"), {"stage": "lead"}).content.decode()
    assert "data-fold-narrow data-active>" in used
