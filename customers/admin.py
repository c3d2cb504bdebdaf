"""The customers app's models in the tenant site's Django admin (crm/accounts/admin_site.py):
read-mostly lists of customers and orders with django-import-export's export (masked,
formula-safe, audited)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.accounts.admin_site import ReadMostlyAdmin, site
from crm.accounts.masking import MASK, mask_address, mask_birthday
from crm.accounts.permissions import can_view_personal_data
from customers import schema
from customers.custom_fields import field_definitions, value_display
from customers.models import Customer, Order
from customers.resources import CustomerResource, OrderResource

# The customer's fields that hold personal data, and the masked stand-in the record page shows
# in their place to administrators who may not see personal data.
# (customers.schema's personal columns that are model fields, then the custom values).
_MASKED_FIELDS = {
    **{c.field: f"{c.field}_shown" for c in schema.COLUMNS if c.personal and c.field},
    "custom": "custom_shown",
}


@admin.register(Customer, site=site)
class CustomerAdmin(ReadMostlyAdmin):
    resource_classes = [CustomerResource]
    import_kind = "customers"
    list_display = ("name", "external_id", "stage", "owner", "team", "created_at")
    list_filter = ("stage", "kind")
    search_fields = ("name", "external_id")
    list_select_related = ("owner", "team")
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if can_view_personal_data(request.user):
            return fields
        return [
            _MASKED_FIELDS.get(name, name) if isinstance(name, str) else name for name in fields
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), *_MASKED_FIELDS.values())

    @admin.display(description=_("birthday"))
    def birthday_shown(self, customer: Customer) -> str:
        return mask_birthday(customer.birthday) if customer.birthday else ""

    @admin.display(description=_("address"))
    def address_shown(self, customer: Customer) -> str:
        return mask_address(customer.address) if customer.address else ""

    @admin.display(description=_("custom fields"))
    def custom_shown(self, customer: Customer) -> str:
        definitions = {d.key: d for d in field_definitions()}
        shown = []
        for key, value in (customer.custom or {}).items():
            definition = definitions.get(key)
            # A value without its definition might be personal: masked, to be safe.
            text = MASK * 6 if definition is None else value_display(None, definition, value)
            shown.append(f"{definition.label if definition else key}: {text}")
        return "; ".join(shown)


@admin.register(Order, site=site)
class OrderAdmin(ReadMostlyAdmin):
    resource_classes = [OrderResource]
    import_kind = "orders"
    list_display = ("number", "customer", "ordered_at", "amount", "currency", "status")
    list_filter = ("status", "currency")
    search_fields = ("number",)
    list_select_related = ("customer",)
    show_full_result_count = False
