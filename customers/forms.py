import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import Team, User
from crm.accounts.permissions import can_view_personal_data
from crm.lib.columns import text_validator
from crm.lib.widgets import ListSelect, ListTextInput, PlainChoices
from crm.transfer.values import BadValue, parse_date
from customers import schema
from customers import validation as messages
from customers.custom_fields import active, form_field, form_initial, form_name, value_clean
from customers.form_extensions import customer_form_fields
from customers.form_masking import PERSONAL_FIELDS, MaskedPersonal
from customers.list_columns import list_columns, list_filters
from customers.models import ConsentEvent, Customer, CustomField, Interaction
from customers.services import CustomerInput


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


def _redacted(masked: MaskedPersonal, error: Any) -> ValidationError:
    exc = ValidationError(error)
    if hasattr(exc, "error_dict"):
        return ValidationError(
            {k: [masked.redact(m) for m in msgs] for k, msgs in exc.message_dict.items()}
        )
    return ValidationError([masked.redact(m) for m in exc.messages])


def _text(key: str, **kwargs: Any) -> forms.CharField:
    """A text input for a customer column: its label and length from customers.schema, with
    the length message every other path gives (the browser's maxlength stops most typing)."""
    limit = schema.max_length(key)
    field = forms.CharField(label=schema.label(key), max_length=limit, **kwargs)
    field.validators = [
        *(
            v
            for v in field.validators
            if not isinstance(v, MaxLengthValidator | ProhibitNullCharactersValidator)
        ),
        text_validator(limit),  # length and NUL
    ]
    return field


class _DateField(forms.DateField):
    """A date read as an import reads it (crm.transfer.values.parse_date), so a bad one gets the
    same words there and here."""

    def to_python(self, value: Any) -> datetime.date | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.date):
            return value
        try:
            return parse_date(str(value))
        except BadValue as exc:
            raise ValidationError(exc.message, code="invalid") from None


def birthday_field(label: Any) -> forms.DateField:
    return _DateField(label=label, required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _valid_country(value: str) -> None:
    if value and not re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        raise ValidationError(messages.COUNTRY_FORMAT, code="invalid")


class CustomerForm(forms.Form):
    """The customer's columns as customers.schema declares them (labels, lengths), with the
    messages the imports give (customers.validation)."""

    name = _text(
        "name",
        widget=forms.TextInput(attrs={"autofocus": True}),
        error_messages={"required": messages.NAME_REQUIRED},
    )
    kind = forms.ChoiceField(
        label=schema.label("kind"),
        choices=Customer.Kind.choices,
        error_messages={"invalid_choice": messages.KIND_UNKNOWN},
    )
    phones = forms.CharField(
        label=schema.label("phones"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line, in any format; numbers without a country code are local."),
    )
    emails = forms.CharField(
        label=schema.label("emails"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line."),
    )
    birthday = birthday_field(schema.label("birthday"))
    gender = forms.ChoiceField(
        label=schema.label("gender"),
        required=False,
        choices=[("", "—"), *Customer.Gender.choices],
        error_messages={"invalid_choice": messages.GENDER_UNKNOWN},
    )
    language = forms.ChoiceField(
        label=schema.label("language"),
        required=False,
        choices=[("", _("Not known")), *schema.column("language").choices],
        error_messages={"invalid_choice": messages.LANGUAGE_UNKNOWN},
    )
    address = _text("address", required=False)
    city = _text("city", required=False)
    region = _text("region", required=False)
    postal_code = _text("postal_code", required=False)
    country = _text(
        "country", required=False, help_text=messages.COUNTRY_FORMAT, validators=[_valid_country]
    )
    tags = forms.CharField(
        label=schema.label("tags"), required=False, help_text=_("Separated by commas.")
    )
    source = _text("source", required=False)
    channel = _text("channel", required=False)
    owner = forms.ModelChoiceField(
        label=schema.label("owner"),
        required=False,
        queryset=User.objects.filter(is_active=True).order_by("full_name", "email"),
    )
    team = forms.ModelChoiceField(
        label=schema.label("team"), required=False, queryset=Team.objects.order_by("name")
    )
    external_id = _text("external_id", required=False)
    notes = _text("notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    not_a_duplicate = forms.BooleanField(
        label=_("This is a different customer: save anyway"), required=False
    )

    def offer_not_a_duplicate(self, offered: bool) -> None:
        """Show the "different customer" box only beside a duplicate warning; otherwise it
        stays in the form hidden and unticked, and means nothing."""
        if not offered:
            self.fields["not_a_duplicate"].widget = forms.HiddenInput()
            self.fields["not_a_duplicate"].initial = ""

    def __init__(
        self,
        *args: Any,
        custom_fields: Iterable[CustomField] = (),
        user: Any = None,
        stored: Mapping[str, Any] | None = None,
        customer: Customer | None = None,
        **kwargs: Any,
    ) -> None:
        """`custom_fields`: the tenant's definitions (customers.custom_fields); one input per
        active field, before the notes. `stored`: the customer's current values. A personal
        field that has a value is left out for a `user` who may not see personal data: the value
        is kept as it is rather than shown (an empty one may still be filled in).

        `customer`: the one being edited. For a `user` who may not see personal data its
        phones, emails, birthday and address come as masks (customers.form_masking): left as
        they are they keep the stored values, typed over they replace them."""
        super().__init__(*args, **kwargs)
        stored = stored or {}
        may_see = user is None or can_view_personal_data(user)
        self.masked: MaskedPersonal | None = None
        if customer is not None and not may_see:
            self._mask_personal(MaskedPersonal.of(customer))
        self.custom_fields: list[CustomField] = []
        self.custom_kept: dict[str, Any] = {}
        initial = form_initial(custom_fields, stored)
        for definition in active(custom_fields):
            if definition.personal and not may_see and stored.get(definition.key) not in (None, ""):
                self.custom_kept[definition.key] = stored[definition.key]
                continue
            field = form_field(definition)
            # Length is checked by value_clean, with the message every other path gives.
            field.validators = [
                v for v in field.validators if not isinstance(v, MaxLengthValidator)
            ]
            name = form_name(definition)
            self.fields[name] = field
            self.initial.setdefault(name, initial[name])
            self.custom_fields.append(definition)
        custom_names = [form_name(d) for d in self.custom_fields]
        # Other apps' inputs (customers.form_extensions): on the create form only.
        self.extension_keys: list[str] = []
        if customer is None:
            for extension in customer_form_fields(user):
                self.fields[extension.key] = extension.field()
                self.extension_keys.append(extension.key)
        standard = [
            n for n in self.fields if n not in custom_names and n not in self.extension_keys
        ]
        at = standard.index("notes")
        self.order_fields([*standard[:at], *custom_names, *self.extension_keys, *standard[at:]])

    def _mask_personal(self, masked: MaskedPersonal) -> None:
        self.masked = masked
        # Masks only, whatever initial values the caller passed.
        self.initial = {**self.initial, **masked.initial()}
        if masked.birthday is not None:
            # A date input cannot hold a mask: a text input that takes a date typed over it.
            birthday = self.fields["birthday"]
            self.fields["birthday"] = forms.CharField(label=birthday.label, required=False)
        keep = _("Masked: leave it as it is to keep it, or type a new value to replace it.")
        for name in PERSONAL_FIELDS:
            if self.initial.get(name):
                self.fields[name].help_text = keep

    def clean_phones(self) -> str:
        value = self.cleaned_data["phones"]
        return self.masked.phones_resolve(value) if self.masked else value

    def clean_emails(self) -> str:
        value = self.cleaned_data["emails"]
        return self.masked.emails_resolve(value) if self.masked else value

    def clean_birthday(self) -> Any:
        value = self.cleaned_data["birthday"]
        return self.masked.birthday_resolve(value) if self.masked else value

    def clean_address(self) -> str:
        value = self.cleaned_data["address"]
        return self.masked.address_resolve(value) if self.masked else value

    def add_error(self, field: str | None, error: Any) -> None:
        """Messages (a service's too) never quote a value the editor was only shown masked."""
        if self.masked is not None:
            error = _redacted(self.masked, error)
        super().add_error(field, error)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for definition in self.custom_fields:
            name = form_name(definition)
            if name in data:
                try:
                    data[name] = value_clean(definition, data[name])
                except ValidationError as exc:
                    self.add_error(name, exc)
        return data

    def extras(self) -> dict[str, Any]:
        """The registered fields' values, for customers.services.customer_create."""
        return {key: self.cleaned_data.get(key) for key in self.extension_keys}

    def to_input(self) -> CustomerInput:
        data: dict[str, Any] = dict(self.cleaned_data)
        data.pop("not_a_duplicate", None)
        for key in self.extension_keys:
            data.pop(key, None)
        custom = {d.key: data.pop(form_name(d), None) for d in self.custom_fields}
        if self.custom_fields or self.custom_kept:
            data["custom"] = {**custom, **self.custom_kept}
        data["phones"] = _lines(data["phones"])
        data["emails"] = _lines(data["emails"])
        data["tags"] = [t.strip() for t in data["tags"].split(",")]
        return CustomerInput(**data)

    @classmethod
    def initial_for(cls, customer: Customer) -> dict[str, Any]:
        return {
            "name": customer.name,
            "kind": customer.kind,
            "phones": "\n".join(p.raw or p.e164 for p in customer.phones.all()),
            "emails": "\n".join(e.email for e in customer.emails.all()),
            "birthday": customer.birthday,
            "gender": customer.gender,
            "language": customer.language,
            "address": customer.address,
            "city": customer.city,
            "region": customer.region,
            "postal_code": customer.postal_code,
            "country": customer.country,
            "tags": ", ".join(customer.tags),
            "source": customer.source,
            "channel": customer.channel,
            "owner": customer.owner_id,
            "team": customer.team_id,
            "external_id": customer.external_id,
            "notes": customer.notes,
        }


# The search form's fixed dropdowns: PlainChoices, which Django copies as they are with every form.
STAGE_CHOICES = PlainChoices([("", _("Any")), *Customer.Stage.choices])
ORDER_CHOICES = PlainChoices([("name", _("Name")), ("newest", _("Newest first"))])


def order_choices() -> PlainChoices:
    """The list's orders: by each registered column that sorts (customers.list_columns),
    then newest first."""
    by_column = [(c.sort, c.header) for c in list_columns() if c.sort and c.sort != "newest"]
    return PlainChoices([*by_column, ("newest", _("Newest first"))])


def _owner_choices() -> list[tuple[str, str]]:
    return [("", str(_("Anyone")))] + [
        (str(u.pk), str(u)) for u in User.objects.order_by("full_name", "email")
    ]


def _team_choices() -> list[tuple[str, str]]:
    return [("", str(_("Any")))] + [(str(t.pk), t.name) for t in Team.objects.order_by("name")]


class CustomerSearchForm(forms.Form):
    """The customer list's search and filters, custom fields included. One parser for every
    reader of a list's query string (the page, saved views, the exports of the current filter),
    so they all apply the same filter: `to_query` gives the selector's CustomerQuery."""

    q = forms.CharField(label=_("Search"), required=False, widget=ListTextInput)
    stage = forms.ChoiceField(
        label=_("Stage"),
        required=False,
        choices=STAGE_CHOICES,
        widget=ListSelect,
    )
    tag = forms.CharField(label=_("Tag"), required=False, widget=ListTextInput)
    # Plain choices by id rather than ModelChoiceFields: the page passes the staff and teams it
    # already read (selectors.list_context), so neither the dropdowns nor a chosen value cost a
    # query of their own. Without that context they are read when needed.
    owner = forms.TypedChoiceField(
        label=_("Owner"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=_owner_choices,
        widget=ListSelect,
    )
    team = forms.TypedChoiceField(
        label=_("Team"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=_team_choices,
        widget=ListSelect,
    )
    order = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=ORDER_CHOICES,
        widget=ListSelect,
    )

    def __init__(self, *args: Any, user: Any = None, context: Any = None, **kwargs: Any) -> None:
        """`user`: who reads the list (None: the operator's command line, who may filter by
        every field). `context`: the page's selectors.ListContext, if it has one."""
        from customers import custom_fields

        super().__init__(*args, **kwargs)
        if context is not None:
            owner, team = self.fields["owner"], self.fields["team"]
            assert isinstance(owner, forms.ChoiceField) and isinstance(team, forms.ChoiceField)
            owner.choices = PlainChoices([("", _("Anyone")), *context.owner_choices()])
            team.choices = PlainChoices([("", _("Any")), *context.team_choices()])
            definitions = context.definitions
        else:
            definitions = custom_fields.field_definitions()
        if user is None:
            self.custom_fields = custom_fields.active(definitions)
        else:
            self.custom_fields = custom_fields.filterable(user, definitions)
        # Filters other apps (and customers itself) register: customers.list_columns.
        self.registered_filters = list_filters(user)
        for registered in self.registered_filters:
            self.fields[registered.key] = registered.field()
        self.fields["order"].choices = order_choices()  # type: ignore[attr-defined]
        self.custom_names: dict[str, list[str]] = {}
        for definition in self.custom_fields:
            inputs = custom_fields.filter_form_fields(definition)
            self.fields.update(inputs)
            self.custom_names[definition.key] = list(inputs)

    def standard_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not self._is_custom(name)]

    # Not filters: the search box stays in view, the order is not a narrowing.
    _NOT_FOLDED = ("q", "sort")

    def filter_fields(self) -> list[forms.BoundField]:
        """The standard fields but the search box: folded on a phone (customer_list.html)."""
        return [field for field in self.standard_fields() if field.name != "q"]

    def filters_active(self) -> bool:
        """Whether a standard filter other than the search and the order has a value (the
        folded filters then stay open)."""
        return self.is_bound and any(
            self.data.get(field.name)
            for field in self.standard_fields()
            if field.name not in self._NOT_FOLDED
        )

    def standard_fields_key(self) -> str:
        """Everything the standard fields' inputs are drawn from but the language, for the
        list's {% memo %}: whether the form has data, their values, and the choices."""
        names = [name for name in self.fields if not self._is_custom(name)]
        # Names always: which registered filters a reader gets depends on their capabilities.
        values = [(name, self.data.get(name) if self.is_bound else None) for name in names]
        # As text: a lazily translated label's repr() names the object, not the words.
        choices = [
            [(str(value), str(label)) for value, label in field.choices]
            for field in self.fields.values()
            if hasattr(field, "choices")
        ]
        return repr((self.is_bound, values, choices))

    def _is_custom(self, name: str) -> bool:
        return any(name in names for names in self.custom_names.values())

    def custom_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(the field's label, its inputs) per custom field, for the filter area."""
        return [
            (d.label, [self[name] for name in self.custom_names[d.key]]) for d in self.custom_fields
        ]

    def custom_active(self) -> bool:
        """Whether the query string filters by a custom field (the page shows them open)."""
        names = (name for names in self.custom_names.values() for name in names)
        return any(self.data.get(name) for name in names)

    def invalid_filters(self) -> list[str]:
        """One line per filter that could not be read ("Owner: Select a valid choice ..."),
        for a bound form that is not valid. Its readers then apply nothing rather than fewer
        filters: a dropped filter would widen the list and its export to customers the user
        did not ask for."""
        labels = {name: str(field.label) for name, field in self.fields.items()}
        for definition in self.custom_fields:
            for name in self.custom_names[definition.key]:
                labels[name] = f"{definition.label} ({labels[name]})"
        return [
            f"{labels.get(name, name)}: {' '.join(str(m) for m in errors)}"
            for name, errors in self.errors.items()
        ]

    def to_query(self) -> Any:
        """The selectors.CustomerQuery this valid form asks for."""
        from customers import custom_fields, selectors

        data = self.cleaned_data
        return selectors.CustomerQuery(
            text=data["q"],
            stage=data["stage"],
            tag=data["tag"].strip(),
            owner_id=data["owner"],
            team_id=data["team"],
            order=data["order"] or "name",
            custom=custom_fields.filters_from(self.custom_fields, data),
            registered=tuple(
                (f.key, data[f.key])
                for f in self.registered_filters
                if data.get(f.key) not in (None, "", [], ())
            ),
        )


class InteractionForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[c for c in Interaction.Kind.choices if c[0] != "event"]
    )
    title = forms.CharField(label=_("Summary"), max_length=200)
    body = forms.CharField(
        label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentEvent.Channel.choices)
    granted = forms.TypedChoiceField(
        label=_("Consent"),
        choices=[("yes", _("Granted")), ("no", _("Withdrawn"))],
        coerce=lambda v: v == "yes",
    )
    source = forms.CharField(label=_("Source"), max_length=100, help_text=_("Form, call, store…"))


class StageForm(forms.Form):
    stage = forms.ChoiceField(label=_("Lifecycle stage"), choices=Customer.Stage.choices)


class BulkForm(forms.Form):
    ACTIONS = [
        ("tag", _("Add tag")),
        ("untag", _("Remove tag")),
        ("assign", _("Assign owner")),
        ("export", _("Export selection (CSV)")),
    ]
    action = forms.ChoiceField(label=_("With the selected"), choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)
    tag = forms.CharField(label=_("Tag"), max_length=50, required=False)
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        required=False,
        queryset=User.objects.filter(is_active=True).order_by("full_name", "email"),
        empty_label=_("Choose…"),
        widget=ListSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Validates a bulk action posted from the list, which draws its bar with BulkBar."""
        super().__init__(*args, **kwargs)
        # Any integer is accepted here; the view keeps only the ids the user may see.
        ids = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        ids_field = self.fields["ids"]
        assert isinstance(ids_field, forms.ChoiceField)
        ids_field.choices = [(i, i) for i in ids if str(i).isdigit()]
        ids_field.error_messages["required"] = _("Tick at least one customer.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action in ("tag", "untag") and not data.get("tag", "").strip():
            self.add_error("tag", _("Type the tag."))
        if action == "assign" and not data.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        return data


@dataclass(frozen=True)
class BulkBar:
    """What the list's bulk bar draws: BulkForm's actions the reader may take and its owner
    dropdown, taken from the class. Building the form would deep-copy its fields on every view
    of the list for one label and two dropdowns."""

    action_label: str
    actions: list[tuple[str, str]]
    owner_select: SafeString

    @classmethod
    def build(
        cls, owners: list[tuple[str, str]], *, can_change: bool, can_export: bool
    ) -> "BulkBar":
        actions = [
            (value, str(label))
            for value, label in BulkForm.ACTIONS
            if (can_export if value == "export" else can_change)
        ]
        owner = BulkForm.base_fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        select = ListSelect(choices=[("", owner.empty_label), *owners])
        return cls(
            action_label=str(BulkForm.base_fields["action"].label),
            actions=actions,
            owner_select=select.render("owner", None, attrs={"id": "bulk-owner"}),
        )


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("Name this view"), max_length=100)
    query = forms.CharField(max_length=1000, required=False, widget=forms.HiddenInput)
