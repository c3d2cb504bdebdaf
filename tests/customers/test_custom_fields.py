"""Tenant-defined custom fields end to end: the administrators' settings page and its guards,
the customer form (one input per active field, messages per kind, inline errors, quick-add),
the customer page, exports (one column per active field, personal ones masked), permissions and
tenant isolation."""

import csv
import io
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.accounts.services import role_create, staff_create
from crm.transfer.exporting import export_kind
from customers.custom_field_services import (
    CustomFieldInput,
    custom_field_archive,
    custom_field_create,
    custom_field_delete,
    custom_field_update,
)
from customers.models import Customer, CustomField
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

MASKED = "••••••"


def _field(member, key, kind="text", **extra):
    with schema_context(member.schema):
        return custom_field_create(
            actor=None,
            key=key,
            data=CustomFieldInput(label=extra.pop("label", key), kind=kind, **extra),
        )


def _customer(member, name="李娜", *, owner_role="agent", custom=None, **extra):
    with schema_context(member.schema):
        owner = User.objects.get(pk=member.users[owner_role].pk)
        return customer_create(
            actor=None, data=CustomerInput(name=name, owner=owner, custom=custom, **extra)
        )


def _stored(member, customer):
    with schema_context(member.schema):
        return Customer.objects.get(pk=customer.pk).custom


FIELD_FORM = {
    "label": "Shoe size",
    "key": "shoe_size",
    "kind": "number",
    "choices": "",
    "help_text": "EU sizes",
}

CUSTOMER_FORM = {"name": "王芳", "kind": "individual", "phones": "", "emails": ""}


# --- the settings page ------------------------------------------------------------------------


class TestSettingsPage:
    def test_empty_state_explains_and_offers_to_add(self, acme):
        response = client_for(acme, "admin").get(reverse("customers:custom_fields"))
        page = response.content.decode()
        assert response.status_code == 200
        assert "No custom fields yet" in page
        assert "membership number" in page
        assert reverse("customers:custom_field_new") in page

    def test_admin_adds_a_choice_field_and_sees_it_listed_with_its_count(self, acme):
        client = client_for(acme, "admin")
        response = client.post(
            reverse("customers:custom_field_new"),
            {
                "label": "Preferred store",
                "key": "store",
                "kind": "choice",
                "choices": "Pudong\n  Xuhui \n\nJing'an",
                "required": "on",
            },
        )
        assert response.status_code == 302
        with schema_context(acme.schema):
            field = CustomField.objects.get(key="store")
            assert field.choices == ["Pudong", "Xuhui", "Jing'an"]
            assert field.required and not field.personal
        _customer(acme, custom={"store": "Xuhui"})
        _customer(acme, "张伟", custom={"store": "Pudong"})
        page = client.get(reverse("customers:custom_fields")).content.decode()
        assert "Preferred store" in page and "<code>store</code>" in page
        assert "Pudong, Xuhui, Jing&#x27;an" in page
        assert '<td class="num">2</td>' in page

    def test_bad_definitions_are_explained_and_nothing_is_saved(self, acme):
        _field(acme, "member_no")
        client = client_for(acme, "admin")
        cases = [
            ({"key": "Shoe Size"}, "key", "lower-case letters, digits and _"),
            ({"key": "9lives"}, "key", "starting with a letter"),
            ({"key": "member_no"}, "key", "Another field has this key."),
            ({"kind": "choice"}, "choices", "a choice field needs at least one"),
            ({"choices": "A\nB"}, "choices", "Only a choice field has choices."),
            ({"kind": "choice", "choices": "Red\nred"}, "choices", "is listed twice"),
            ({"label": "  "}, "label", "This field is required."),
        ]
        for change, field, message in cases:
            response = client.post(reverse("customers:custom_field_new"), {**FIELD_FORM, **change})
            assert response.status_code == 200, change
            errors = " ".join(response.context["form"].errors.get(field, []))
            assert message in errors, (change, response.context["form"].errors)
        with schema_context(acme.schema):
            assert list(CustomField.objects.values_list("key", flat=True)) == ["member_no"]

    def test_edit_keeps_the_key_and_refuses_a_kind_change_while_values_exist(self, acme):
        field = _field(acme, "size", kind="text", label="Size")
        customer = _customer(acme, custom={"size": "42"})
        client = client_for(acme, "admin")
        url = reverse("customers:custom_field_edit", args=[field.pk])
        page = client.get(url).content.decode()
        assert 'name="key"' in page and "disabled" in page
        assert "1 customer has a value in this field." in page

        response = client.post(url, {**FIELD_FORM, "key": "renamed", "label": "Shoe size"})
        assert response.status_code == 200
        assert "1 customer has a value in this field, so its kind cannot change." in " ".join(
            response.context["form"].errors["kind"]
        )
        with schema_context(acme.schema):
            unchanged = CustomField.objects.get(pk=field.pk)
            assert (unchanged.key, unchanged.label, unchanged.kind) == ("size", "Size", "text")

        # Same kind: the label changes, the submitted key is ignored.
        response = client.post(url, {**FIELD_FORM, "kind": "text", "key": "renamed"})
        assert response.status_code == 302
        with schema_context(acme.schema):
            saved = CustomField.objects.get(pk=field.pk)
            assert (saved.key, saved.label, saved.help_text) == ("size", "Shoe size", "EU sizes")
        assert _stored(acme, customer) == {"size": "42"}

    def test_a_choice_in_use_cannot_be_removed(self, acme):
        field = _field(acme, "tier", kind="choice", choices=["Gold", "Silver", "Bronze"])
        _customer(acme, custom={"tier": "Gold"})
        client = client_for(acme, "admin")
        url = reverse("customers:custom_field_edit", args=[field.pk])
        form = {"label": "Tier", "key": "tier", "kind": "choice"}
        response = client.post(url, {**form, "choices": "Silver\nBronze"})
        assert response.status_code == 200
        assert "“Gold” is the value of 1 customer" in " ".join(
            response.context["form"].errors["choices"]
        )
        with schema_context(acme.schema):
            assert CustomField.objects.get(pk=field.pk).choices == ["Gold", "Silver", "Bronze"]
        # An unused choice goes.
        assert client.post(url, {**form, "choices": "Gold\nSilver"}).status_code == 302
        with schema_context(acme.schema):
            assert CustomField.objects.get(pk=field.pk).choices == ["Gold", "Silver"]

    def test_delete_is_refused_while_used_and_works_when_unused(self, acme):
        used = _field(acme, "used_one")
        unused = _field(acme, "unused_one")
        _customer(acme, custom={"used_one": "x"})
        client = client_for(acme, "admin")
        response = client.post(
            reverse("customers:custom_field_delete", args=[used.pk]), follow=True
        )
        assert "1 customer has a value in this field: archive it instead." in (
            response.content.decode()
        )
        response = client.post(reverse("customers:custom_field_delete", args=[unused.pk]))
        assert response.status_code == 302
        with schema_context(acme.schema):
            assert list(CustomField.objects.values_list("key", flat=True)) == ["used_one"]
            with pytest.raises(Exception, match="archive it instead"):
                custom_field_delete(actor=None, custom_field=used)

    def test_archive_restore_and_move(self, acme):
        a, b, c = (_field(acme, key) for key in ("alpha", "beta", "gamma"))
        client = client_for(acme, "admin")
        client.post(reverse("customers:custom_field_move", args=[c.pk]), {"direction": "up"})
        client.post(reverse("customers:custom_field_move", args=[a.pk]), {"direction": "down"})
        with schema_context(acme.schema):
            assert [f.key for f in CustomField.objects.all()] == ["gamma", "alpha", "beta"]
        response = client.post(
            reverse("customers:custom_field_move", args=[c.pk]), {"direction": "up"}
        )
        assert response.url == reverse("customers:custom_fields") + f"#field-{c.pk}"
        client.post(reverse("customers:custom_field_archive", args=[b.pk]))
        with schema_context(acme.schema):
            assert CustomField.objects.get(pk=b.pk).archived
        page = client.get(reverse("customers:custom_fields")).content.decode()
        assert "archived" in page and reverse("customers:custom_field_restore", args=[b.pk]) in page
        client.post(reverse("customers:custom_field_restore", args=[b.pk]))
        with schema_context(acme.schema):
            assert not CustomField.objects.get(pk=b.pk).archived

    @pytest.mark.parametrize("role", ["manager", "agent", "marketing", "viewer"])
    def test_only_administrators_manage_fields(self, acme, role):
        field = _field(acme, "guarded")
        client = client_for(acme, role)
        assert client.get(reverse("customers:custom_fields")).status_code == 403
        assert client.post(reverse("customers:custom_field_new"), FIELD_FORM).status_code == 403
        for name in ("custom_field_archive", "custom_field_delete"):
            assert client.post(reverse(f"customers:{name}", args=[field.pk])).status_code == 403
        with schema_context(acme.schema):
            assert list(CustomField.objects.values_list("key", "archived_at")) == [
                ("guarded", None)
            ]

    def test_admin_console_links_to_the_page(self, acme):
        page = client_for(acme, "admin").get(reverse("admin_console:team_list")).content.decode()
        assert reverse("customers:custom_fields") in page

    def test_the_menu_marks_admin_not_customers_on_the_settings_page(self, acme):
        page = client_for(acme, "admin").get(reverse("customers:custom_fields")).content.decode()
        admin_link = f'<a href="{reverse("admin_console:staff_list")}" aria-current="page"'
        customers_link = f'<a href="{reverse("customers:home")}" aria-current="page"'
        assert admin_link in page and customers_link not in page


class TestIsolation:
    def test_a_field_of_one_tenant_is_invisible_to_another(self, acme, globex):
        field = _field(acme, "acme_only", label="Acme only")
        page = client_for(globex, "admin").get(reverse("customers:custom_fields")).content.decode()
        assert "Acme only" not in page
        globex_admin = client_for(globex, "admin")
        assert (
            globex_admin.get(reverse("customers:custom_field_edit", args=[field.pk])).status_code
            == 404
        )
        assert (
            globex_admin.post(reverse("customers:custom_field_delete", args=[field.pk])).status_code
            == 404
        )
        form = client_for(globex, "manager").get(reverse("customers:new")).context["form"]
        assert "custom_acme_only" not in form.fields
        with schema_context(acme.schema):
            assert CustomField.objects.filter(pk=field.pk).exists()


# --- the customer form ------------------------------------------------------------------------


class TestCustomerForm:
    def test_one_input_per_active_field_before_the_notes(self, acme):
        _field(acme, "member_no", label="Membership number", help_text="On the card")
        _field(acme, "visit_day", kind="date")
        gone = _field(acme, "old_code")
        with schema_context(acme.schema):
            custom_field_archive(actor=None, custom_field=gone)
        response = client_for(acme, "agent").get(reverse("customers:new"))
        fields = list(response.context["form"].fields)
        assert fields.index("custom_member_no") < fields.index("custom_visit_day")
        assert fields.index("custom_visit_day") < fields.index("notes")
        assert "custom_old_code" not in fields
        page = response.content.decode()
        assert '<label for="id_custom_member_no">Membership number</label>' in page
        assert "On the card" in page
        assert 'type="date" name="custom_visit_day"' in page

    def test_values_are_normalised_and_saved(self, acme):
        _field(acme, "size", kind="number")
        _field(acme, "joined", kind="date")
        _field(acme, "tier", kind="choice", choices=["Gold", "Silver"])
        _field(acme, "nickname")
        response = client_for(acme, "agent").post(
            reverse("customers:new"),
            {
                **CUSTOMER_FORM,
                "custom_size": "１２５0.50",
                "custom_joined": "2024年3月5日",
                "custom_tier": "gold",
                "custom_nickname": "  芳芳 ",
            },
        )
        assert response.status_code == 302
        with schema_context(acme.schema):
            customer = Customer.objects.get(name="王芳")
            assert customer.custom == {
                "size": "1250.5",
                "joined": "2024-03-05",
                "tier": "Gold",
                "nickname": "芳芳",
            }

    @pytest.mark.parametrize(
        ("kind", "extra", "value", "message"),
        [
            ("number", {}, "12,5", "Enter a number, such as 1250 or -3.5."),
            ("number", {}, "abc", "Enter a number, such as 1250 or -3.5."),
            ("date", {}, "2023-02-29", "Enter a date such as 2024-03-05 (or 2024/3/5)."),
            ("date", {}, "05/03/2024", "Enter a date such as 2024-03-05 (or 2024/3/5)."),
            ("choice", {"choices": ["Gold", "Silver"]}, "Platinum", "Choose one of: Gold, Silver."),
            ("text", {}, "x" * 501, "Keep it to 500 characters (it has 501)."),
            ("text", {"required": True}, "   ", "This field is required."),
            ("number", {"required": True}, "", "This field is required."),
        ],
    )
    def test_bad_values_are_explained_next_to_their_input(self, acme, kind, extra, value, message):
        _field(acme, "probe", kind=kind, **extra)
        response = client_for(acme, "agent").post(
            reverse("customers:new"), {**CUSTOMER_FORM, "custom_probe": value}
        )
        assert response.status_code == 200
        assert response.context["form"].errors["custom_probe"] == [message]
        page = response.content.decode()
        error_list = '<ul class="errorlist" id="id_custom_probe_error">'
        assert error_list in page
        label = page.index('<label for="id_custom_probe">')
        assert label < page.index(error_list) < page.index('<label for="id_notes">')
        with schema_context(acme.schema):
            assert not Customer.objects.filter(name="王芳").exists()

    def test_editing_shows_current_values_and_keeps_archived_ones(self, acme):
        _field(acme, "size", kind="number")
        old = _field(acme, "old_code")
        customer = _customer(acme, custom={"size": "42", "old_code": "A-7"})
        with schema_context(acme.schema):
            custom_field_archive(actor=None, custom_field=old)
        client = client_for(acme, "agent")
        url = reverse("customers:edit", args=[customer.pk])
        form = client.get(url).context["form"]
        assert form.initial["custom_size"] == "42"
        assert "custom_old_code" not in form.fields
        mine = {**CUSTOMER_FORM, "name": "李娜", "owner": acme.agent.pk}
        response = client.post(url, {**mine, "custom_size": ""})
        assert response.status_code == 302
        assert _stored(acme, customer) == {"old_code": "A-7"}
        client.post(url, {**mine, "custom_size": "43"})
        assert _stored(acme, customer) == {"old_code": "A-7", "size": "43"}

    def test_agents_fill_values_only_on_customers_they_may_change(self, acme):
        _field(acme, "size", kind="number")
        mine = _customer(acme, owner_role="agent")
        others = _customer(acme, "陈静", owner_role="manager")
        agent = client_for(acme, "agent")
        form = {**CUSTOMER_FORM, "owner": acme.agent.pk, "custom_size": "38"}
        assert agent.post(reverse("customers:edit", args=[mine.pk]), form).status_code == 302
        assert _stored(acme, mine) == {"size": "38"}
        assert agent.post(reverse("customers:edit", args=[others.pk]), form).status_code == 404
        assert _stored(acme, others) == {}
        viewer = client_for(acme, "viewer")
        assert viewer.post(reverse("customers:edit", args=[mine.pk]), form).status_code == 403
        assert _stored(acme, mine) == {"size": "38"}

    def test_a_personal_value_is_neither_shown_nor_lost_for_editors_without_personal_data(
        self, acme
    ):
        _field(acme, "id_card", personal=True, label="ID card")
        _field(acme, "spouse", personal=True)
        _field(acme, "size", kind="number")
        customer = _customer(acme, custom={"id_card": "310101199001011234"})
        with schema_context(acme.schema):
            role = role_create(
                actor=None,  # type: ignore[arg-type]
                name=f"Editor {uuid.uuid4().hex[:6]}",
                description="",
                scope="all",
                codenames=["view_records", "change_records"],
            )
            editor = staff_create(
                actor=None,
                email=f"editor-{uuid.uuid4().hex[:6]}@acme.test",
                full_name="Editor",
                role=role,
                password=None,
            )
            client = Client(HTTP_HOST=acme.host)
            client.force_login(editor)
        url = reverse("customers:edit", args=[customer.pk])
        response = client.get(url)
        page = response.content.decode()
        assert "310101199001011234" not in page
        assert "custom_id_card" not in response.context["form"].fields
        assert "custom_spouse" in response.context["form"].fields, "empty: may be filled in"
        assert "they keep their values" in page
        form = {**CUSTOMER_FORM, "name": "李娜", "custom_size": "40", "custom_spouse": "王强"}
        assert client.post(url, form).status_code == 302
        assert _stored(acme, customer) == {
            "id_card": "310101199001011234",
            "spouse": "王强",
            "size": "40",
        }

    def test_quick_add_lands_on_the_full_form_when_a_field_is_required(self, acme):
        quick = {"kind": "individual", "name": "赵磊", "phones": "138 0013 8000", "emails": ""}
        client = client_for(acme, "agent")
        # No required field: quick-add saves at once.
        _field(acme, "optional_note")
        assert client.post(reverse("customers:new"), quick).status_code == 302
        # A required field: the full form comes back with what was typed, the field to fill.
        _field(acme, "member_no", required=True, label="Membership number")
        quick.update(name="赵磊二", phones="139 0013 9000")
        response = client.post(reverse("customers:new"), quick)
        assert response.status_code == 200
        form = response.context["form"]
        assert form.errors == {"custom_member_no": ["This field is required."]}
        page = response.content.decode()
        assert 'value="赵磊二"' in page and "139 0013 9000" in page
        with schema_context(acme.schema):
            assert not Customer.objects.filter(name="赵磊二").exists()
        quick["custom_member_no"] = "M-001"
        assert client.post(reverse("customers:new"), quick).status_code == 302
        with schema_context(acme.schema):
            assert Customer.objects.get(name="赵磊二").custom == {"member_no": "M-001"}

    def test_the_service_refuses_bad_values_from_any_writer(self, acme):
        _field(acme, "size", kind="number")
        with schema_context(acme.schema), pytest.raises(Exception) as refused:
            customer_create(actor=None, data=CustomerInput(name="X", custom={"size": "big"}))
        assert refused.value.message_dict == {  # type: ignore[attr-defined]
            "custom_size": ["Enter a number, such as 1250 or -3.5."]
        }


# --- the customer page ------------------------------------------------------------------------


class TestCustomerPage:
    def test_values_shown_empty_ones_as_a_dash_personal_ones_masked_for_viewers(self, acme):
        _field(acme, "tier", kind="choice", choices=["Gold"], label="Tier")
        _field(acme, "joined", kind="date", label="Joined")
        _field(acme, "id_card", personal=True, label="ID card")
        _field(acme, "empty_one", label="Nothing here")
        gone = _field(acme, "old_code", label="Old code")
        customer = _customer(
            acme,
            custom={"tier": "Gold", "joined": "2024-03-05", "id_card": "310101199001011234"},
        )
        with schema_context(acme.schema):
            Customer.objects.filter(pk=customer.pk).update(
                custom={**customer.custom, "old_code": "A-7"}
            )
            custom_field_archive(actor=None, custom_field=gone)
        url = reverse("customers:detail", args=[customer.pk])

        manager = client_for(acme, "manager").get(url).content.decode()
        assert "Custom fields" in manager
        assert "<dt>Tier</dt><dd>Gold</dd>" in manager
        assert "<dt>ID card</dt><dd>310101199001011234</dd>" in manager
        assert "<dt>Nothing here</dt><dd>—</dd>" in manager
        assert "<dt>Joined</dt><dd>March 5, 2024</dd>" in manager  # acme works in English
        assert "Old code" not in manager and "A-7" not in manager

        viewer = client_for(acme, "viewer").get(url).content.decode()
        assert "310101199001011234" not in viewer
        assert f"<dt>ID card</dt><dd>{MASKED}</dd>" in viewer
        assert "<dt>Tier</dt><dd>Gold</dd>" in viewer

    def test_no_block_without_fields(self, acme):
        customer = _customer(acme)
        page = client_for(acme, "manager").get(reverse("customers:detail", args=[customer.pk]))
        assert "custom-values-heading" not in page.content.decode()


# --- exports ----------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


class TestExports:
    def _setup(self, acme):
        _field(acme, "tier", kind="choice", choices=["Gold"])
        _field(acme, "id_card", personal=True)
        gone = _field(acme, "old_code")
        customer = _customer(
            acme, "Export Me", custom={"tier": "Gold", "id_card": "=310101199001011234"}
        )
        with schema_context(acme.schema):
            Customer.objects.filter(pk=customer.pk).update(
                custom={"tier": "Gold", "id_card": "=310101199001011234", "old_code": "A-7"}
            )
            custom_field_archive(actor=None, custom_field=gone)
        return customer

    def test_export_kind_has_one_column_per_active_field_masked_like_the_page(self, acme):
        self._setup(acme)
        kind = export_kind("customers")
        with schema_context(acme.schema):
            for role, id_card in (("manager", "=310101199001011234"), ("marketing", MASKED)):
                user = User.objects.get(pk=acme.users[role].pk)
                headers = list(kind.header_row(user, {}))  # type: ignore[arg-type]
                assert headers[-2:] == ["custom_tier", "custom_id_card"]
                assert "custom_old_code" not in headers
                rows = [r for r in kind.rows_for(user, {}) if r[1] == "Export Me"]  # type: ignore[arg-type]
                assert len(rows) == 1 and len(rows[0]) == len(headers)
                assert rows[0][-2:] == ["Gold", id_card], role

    def test_export_selection_carries_the_columns_formula_safe(self, acme):
        customer = self._setup(acme)
        for role, id_card in (("manager", "'=310101199001011234"), ("marketing", MASKED)):
            response = client_for(acme, role).post(
                reverse("customers:bulk"), {"action": "export", "ids": [customer.pk]}
            )
            header, row = _csv(response)
            assert header[-2:] == ["custom_tier", "custom_id_card"]
            assert row[-2:] == ["Gold", id_card], role

    def test_without_fields_the_columns_are_the_fixed_ones(self, acme):
        from customers.export_columns import export_columns
        from customers.transfer_exports import CUSTOMER_HEADERS

        kind = export_kind("customers")
        with schema_context(acme.schema):
            user = User.objects.get(pk=acme.users["manager"].pk)
            registered = tuple(c.header for c in export_columns(user))
            assert tuple(kind.header_row(user, {})) == CUSTOMER_HEADERS + registered  # type: ignore[arg-type]


# --- services directly ------------------------------------------------------------------------


def test_kind_change_allowed_while_no_value_exists(acme):
    field = _field(acme, "flexible")
    with schema_context(acme.schema):
        changed = custom_field_update(
            actor=None, custom_field=field, data=CustomFieldInput(label="Flexible", kind="date")
        )
        assert changed.kind == "date"


# --- data subject requests ----------------------------------------------------------------------


def test_the_personal_data_export_carries_custom_values_and_erasure_clears_them(acme):
    import json
    import zipfile

    _field(acme, "id_card", personal=True)
    gone = _field(acme, "old_code")
    customer = _customer(acme, custom={"id_card": "310101199001011234", "old_code": "A-7"})
    with schema_context(acme.schema):
        custom_field_archive(actor=None, custom_field=gone)
    manager = client_for(acme, "manager")
    response = manager.post(reverse("customers:export", args=[customer.pk]))
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        profile = json.loads(archive.read("customer.json"))["customer"]
        profile_csv = archive.read("profile.csv").decode("utf-8-sig")
    assert profile["custom_id_card"] == "310101199001011234"
    assert profile["custom_old_code"] == "A-7", "archived fields' values are held too"
    assert "custom_id_card" in profile_csv and "310101199001011234" in profile_csv

    response = manager.post(reverse("customers:erase", args=[customer.pk]), {"confirm": "erase"})
    assert response.status_code == 302
    assert _stored(acme, customer) == {}


def test_the_settings_page_speaks_chinese_for_a_chinese_tenant(globex):
    _field(globex, "member_no", label="会员卡号")
    page = client_for(globex, "admin").get(reverse("customers:custom_fields")).content.decode()
    assert "自定义字段" in page and "会员卡号" in page and "有值的客户数" in page


def test_the_django_admin_export_carries_the_columns_masked(acme):
    from customers.resources import CustomerResource

    _field(acme, "tier", kind="choice", choices=["Gold"])
    _field(acme, "id_card", personal=True)
    customer = _customer(acme, custom={"tier": "Gold", "id_card": "=3101"})
    with schema_context(acme.schema):
        queryset = Customer.objects.filter(pk=customer.pk)
        for role, id_card in (("manager", "'=3101"), ("marketing", MASKED)):
            resource = CustomerResource(user=User.objects.get(pk=acme.users[role].pk))
            assert resource.get_export_headers()[-2:] == ["custom_tier", "custom_id_card"]
            data = resource.export(queryset=queryset)
            assert data["custom_tier"] == ["Gold"] and data["custom_id_card"] == [id_card], role
