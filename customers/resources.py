"""django-import-export resources for the Django admin: the same columns and headers as the
"customers" and "orders" export kinds (customers/transfer_exports.py), every cell formula-safe,
personal fields masked for users without "see personal data".

Only exports go through these resources. Imports in the admin are sent to our import wizard
(crm/accounts/admin_site.py), so every import is validated, audited and undoable the same way."""

from typing import Any

from django.db.models import QuerySet
from import_export import fields, resources

from crm.accounts.masking import MASK, mask_address, mask_birthday, mask_email, mask_phone
from crm.accounts.permissions import can_view_personal_data
from crm.lib.spreadsheet import safe_cell
from customers.custom_fields import active, field_definitions, form_name
from customers.models import Customer, CustomField, Order
from customers.transfer_exports import CUSTOMER_HEADERS, ORDER_HEADERS


class _SafeResource(resources.ModelResource):
    """Cells through safe_cell; ``user`` (from the admin request) decides masking. No user:
    masked, the safe default."""

    def __init__(self, user: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.personal = user is not None and can_view_personal_data(user)

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> str:
        return safe_cell(super().export_field(field, instance, **kwargs))


class CustomerResource(_SafeResource):
    phones = fields.Field(column_name="phones")
    emails = fields.Field(column_name="emails")
    owner = fields.Field(column_name="owner")
    team = fields.Field(column_name="team")

    class Meta:
        model = Customer
        fields = CUSTOMER_HEADERS
        export_order = CUSTOMER_HEADERS

    def __init__(self, user: Any = None, **kwargs: Any) -> None:
        super().__init__(user, **kwargs)
        # The tenant's active custom fields, one column each after the fixed ones, named and
        # masked as in the customers export kind.
        for definition in active(field_definitions()):
            name = form_name(definition)
            self.fields[name] = fields.Field(
                column_name=name, dehydrate_method=self._custom_value(definition)
            )

    def _custom_value(self, definition: CustomField) -> Any:
        def value(customer: Customer) -> str:
            stored = (customer.custom or {}).get(definition.key)
            if stored in (None, ""):
                return ""
            if definition.personal and not self.personal:
                return MASK * 6
            return str(stored)

        return value

    def filter_export(self, queryset: QuerySet[Customer], **kwargs: Any) -> QuerySet[Customer]:
        return queryset.select_related("owner", "team").prefetch_related("phones", "emails")

    def dehydrate_phones(self, customer: Customer) -> str:
        values = [p.e164 for p in customer.phones.all()]
        return " ".join(values if self.personal else [mask_phone(v) for v in values])

    def dehydrate_emails(self, customer: Customer) -> str:
        values = [e.email for e in customer.emails.all()]
        return " ".join(values if self.personal else [mask_email(v) for v in values])

    def dehydrate_birthday(self, customer: Customer) -> str:
        if not customer.birthday:
            return ""
        return customer.birthday.isoformat() if self.personal else mask_birthday(customer.birthday)

    def dehydrate_address(self, customer: Customer) -> str:
        if not customer.address or self.personal:
            return customer.address
        return mask_address(customer.address)

    def dehydrate_tags(self, customer: Customer) -> str:
        return ",".join(customer.tags)

    def dehydrate_owner(self, customer: Customer) -> str:
        return customer.owner.email if customer.owner else ""

    def dehydrate_team(self, customer: Customer) -> str:
        return customer.team.name if customer.team else ""

    def dehydrate_created_at(self, customer: Customer) -> str:
        return customer.created_at.isoformat()


class OrderResource(_SafeResource):
    customer_external_id = fields.Field(column_name="customer_external_id")
    customer_phone = fields.Field(column_name="customer_phone")
    customer_email = fields.Field(column_name="customer_email")

    class Meta:
        model = Order
        fields = ORDER_HEADERS
        export_order = ORDER_HEADERS

    def filter_export(self, queryset: QuerySet[Order], **kwargs: Any) -> QuerySet[Order]:
        return queryset.select_related("customer").prefetch_related(
            "customer__phones", "customer__emails"
        )

    def dehydrate_customer_external_id(self, order: Order) -> str:
        return order.customer.external_id

    def dehydrate_customer_phone(self, order: Order) -> str:
        phones = sorted(order.customer.phones.all(), key=lambda p: (not p.is_primary, p.pk))
        if not phones:
            return ""
        return phones[0].e164 if self.personal else mask_phone(phones[0].e164)

    def dehydrate_customer_email(self, order: Order) -> str:
        emails = sorted(order.customer.emails.all(), key=lambda e: (not e.is_primary, e.pk))
        if not emails:
            return ""
        return emails[0].email if self.personal else mask_email(emails[0].email)

    def dehydrate_ordered_at(self, order: Order) -> str:
        return order.ordered_at.isoformat()

    def dehydrate_amount(self, order: Order) -> str:
        return str(order.amount)
