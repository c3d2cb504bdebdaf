"""The customer's columns, declared once: what each one is called in files, forms and pages, and
where it goes (the import, the export, a merge's choices, the privacy ZIP) and how it is masked.

What the model already says is read from `Customer._meta`, not repeated: the label (the field's
verbose_name, capitalised), the length limit, the choices, the table's column order (COPY). What
it cannot say is declared in COLUMNS, in the order every use lists them (the export's header
row, the import wizard, the merge page, the ZIP's profile). A concrete field of Customer is
either declared here or listed in EXCLUDED with the reason (tests/customers/test_schema.py).
Custom fields are per tenant (customers.custom_fields): each use appends them after these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer


@dataclass(frozen=True)
class CustomerColumn:
    """One column of a customer as files and pages see it. `key` is its name in files (export
    headers, import field keys), merge choices and the ZIP; `field` the model field it holds,
    None for the contact lists (CustomerPhone, CustomerEmail rows)."""

    key: str
    field: str | None
    # The label, when the model field has none or a file needs a more precise one.
    label_override: Promise | None = None
    # The import's label, when it says more than the label (what to write in the cell).
    import_label_override: Promise | None = None
    # Other headers an import maps to this column automatically.
    aliases: tuple[str, ...] = ()
    imported: bool = True
    # A new record needs it (the import rejects a new row without it).
    required: bool = False
    exported: bool = True
    # A merge offers the kept or the dropped record's value.
    merged: bool = True
    # Part of the profile in the privacy ZIP (customers.privacy).
    in_zip: bool = True
    # The crm.accounts.masking kind ("phone", "email", "birthday", "address"), or "".
    personal: str = ""
    # Identifies the person: emptied when they are erased (customers.erasure), while the record
    # stays for its orders. Contacts and custom values are erased with their own rows.
    erased: bool = False

    @property
    def model_field(self) -> models.Field[Any, Any] | None:
        if self.field is None:
            return None
        return Customer._meta.get_field(self.field)  # type: ignore[return-value]

    @property
    def label(self) -> Any:
        if self.label_override is not None:
            return self.label_override
        model_field = self.model_field
        assert model_field is not None, f"{self.key}: a column without a field needs a label"
        return capfirst(model_field.verbose_name)

    @property
    def import_label(self) -> Any:
        return self.import_label_override or self.label

    @property
    def empty(self) -> Any:
        """The field's empty value: what erasure leaves in it."""
        model_field = self.model_field
        assert model_field is not None, self.key
        if model_field.null:
            return None
        return [] if hasattr(model_field, "base_field") else ""

    @property
    def max_length(self) -> int | None:
        """The longest text the column holds (for arrays, each item); None: unbounded."""
        model_field = self.model_field
        if model_field is None:
            return None
        base = getattr(model_field, "base_field", model_field)
        return base.max_length

    @property
    def choices(self) -> list[tuple[str, Any]]:
        model_field = self.model_field
        return list(model_field.choices or []) if model_field is not None else []


def _column(key: str, **kwargs: Any) -> CustomerColumn:
    return CustomerColumn(key=key, field=kwargs.pop("field", key), **kwargs)


COLUMNS: tuple[CustomerColumn, ...] = (
    _column("id", imported=False, exported=False, merged=False),
    _column(
        "external_id",
        erased=True,
        aliases=("外部编号", "客户编号", "会员编号", "external id", "customer id", "客户ID"),
    ),
    _column(
        "name",
        required=True,
        erased=True,  # to "Erased customer #<id>"
        aliases=(
            "姓名",
            "客户名称",
            "客户姓名",
            "名称",
            "名字",
            "联系人",
            "full name",
            "customer name",
            "customer",
            "客户",
        ),
    ),
    _column("kind", aliases=("类型", "客户类型", "type")),
    _column(
        "phones",
        field=None,
        label_override=_("Phone numbers"),
        personal="phone",
        merged=False,  # contacts are unioned
        in_zip=False,  # the ZIP has them in contacts.csv
        aliases=(
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
            "电话号码",
            "移动电话",
            "phone",
            "mobile",
            "tel",
            "telephone",
            "phone number",
            "cell",
        ),
    ),
    _column(
        "emails",
        field=None,
        label_override=_("Email addresses"),
        personal="email",
        merged=False,
        in_zip=False,
        aliases=("邮箱", "电子邮件", "电子邮箱", "邮件", "email", "e-mail", "mail"),
    ),
    _column(
        "birthday",
        personal="birthday",
        erased=True,
        aliases=("生日", "出生日期", "date of birth", "dob", "birth date"),
    ),
    _column("gender", erased=True, aliases=("性别", "sex")),
    # A code of settings.LANGUAGES; the import also takes the languages' names (transfer_imports).
    _column("language", erased=True, aliases=("语言", "语种", "lang")),
    _column("address", personal="address", erased=True, aliases=("地址", "详细地址", "联系地址")),
    _column("city", erased=True, aliases=("城市", "所在城市")),
    _column("region", erased=True, aliases=("省份", "省", "地区", "province", "state")),
    # Exported unmasked (export kind, admin resource); the audit log masks it as part of the
    # address (customers/apps.py): one of the two should change, a decision for the data owner.
    _column(
        "postal_code", erased=True, aliases=("邮编", "邮政编码", "zip", "zip code", "postcode")
    ),
    _column("country", erased=True, aliases=("国家", "国家代码")),
    _column("tags", merged=False, erased=True, aliases=("标签",)),  # a merge unions the tags
    _column("stage", aliases=("阶段", "生命周期阶段", "客户阶段")),
    _column("source", aliases=("来源", "获客来源", "客户来源")),
    _column("channel", aliases=("渠道",)),
    # Long free text (NOTES_MAX_LENGTH): kept out of the spreadsheet export.
    _column(
        "notes",
        exported=False,
        erased=True,
        aliases=("备注", "说明", "note", "remarks", "comment"),
    ),
    # Staff, not the person: out of the ZIP. Files name them by email and team name.
    _column(
        "owner",
        import_label_override=_("Owner (staff email)"),
        in_zip=False,
        aliases=("owner", "负责人", "所属员工", "owner email"),
    ),
    _column("team", in_zip=False, aliases=("团队",)),
    _column(
        "created_at",
        import_label_override=pgettext_lazy("import field", "Created (new records only)"),
        merged=False,
        aliases=("created", "created at", "创建时间", "创建日期"),
    ),
)

# Concrete fields of Customer that no file, merge or ZIP lists, and why.
EXCLUDED: dict[str, str] = {
    "name_sort": "derived from the name (crm.lib.contacts.name_sort_key)",
    "stage_override": "set with the stage: by hand in the form, by an import that names it",
    "updated_at": "bookkeeping, set on every write",
    "erased_at": "set by erasure only (customers.privacy)",
    "custom": "one column per custom field (customers.custom_fields), appended by each use",
}

# Longest notes any writer accepts (the model's TextField has no limit of its own).
NOTES_MAX_LENGTH = 10_000

_BY_KEY = {c.key: c for c in COLUMNS}


def column(key: str) -> CustomerColumn:
    return _BY_KEY[key]


def label(key: str) -> Any:
    return _BY_KEY[key].label


def max_length(key: str) -> int | None:
    if key == "notes":
        return NOTES_MAX_LENGTH
    return _BY_KEY[key].max_length


def imported() -> tuple[CustomerColumn, ...]:
    return tuple(c for c in COLUMNS if c.imported)


def export_headers() -> tuple[str, ...]:
    return tuple(c.key for c in COLUMNS if c.exported)


def merge_fields() -> tuple[str, ...]:
    return tuple(c.key for c in COLUMNS if c.merged)


def zip_fields() -> tuple[str, ...]:
    return tuple(c.key for c in COLUMNS if c.in_zip)


def personal() -> dict[str, str]:
    """Personal column key -> its masking kind."""
    return {c.key: c.personal for c in COLUMNS if c.personal}


def erased_values() -> dict[str, Any]:
    """Field name -> the empty value erasure writes (the name gets its stand-in on top)."""
    return {c.field: c.empty for c in COLUMNS if c.erased and c.field is not None}


def table_columns(*, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The customers table's columns in table order (COPY writes them in this order)."""
    return tuple(
        str(f.column) for f in Customer._meta.concrete_fields if str(f.column) not in without
    )
