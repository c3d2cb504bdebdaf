from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from crm.accounts.audit_labels import masked_whole, register_table
        from crm.tenants.seeding import register_seeder
        from customers import schema
        from customers.custom_fields import custom_values_shown
        from customers.seeding import customers_seed

        register_seeder("customers", customers_seed, order=20)

        from crm.tenants.selectors import register_customer_counter
        from customers.selectors import customers_counted

        register_customer_counter(customers_counted)

        from customers import customer_tabs_builtin, list_columns_builtin

        customer_tabs_builtin.register()

        list_columns_builtin.register()

        from customers import transfer_exports

        transfer_exports.register()

        from customers import transfer_imports

        transfer_imports.register()

        from customers import transfer_imports_orders

        transfer_imports_orders.register()

        from customers import api

        api.register()

        # Personal columns are masked in the audit log as on the customer page.
        register_table(
            "customers_customer",
            _("Customer"),
            personal={
                **{c.field: c.personal for c in schema.COLUMNS if c.personal and c.field},
                # The log masks it, though files and pages show it (see customers.schema).
                "postal_code": "address",
                "custom": custom_values_shown,
            },
        )
        register_table(
            "customers_customerphone",
            _("Customer phone"),
            personal={"raw": "phone", "e164": "phone", "digits": "phone"},
        )
        register_table("customers_customeremail", _("Customer email"), personal={"email": "email"})
        register_table("customers_consentevent", _("Consent"))
        register_table("customers_customfield", _("Custom field"))

        # Duplicates and merges (customers.merge).
        from crm.accounts.audit_labels import ACTIONS
        from customers.merge import register_defaults

        register_defaults()

        from customers import erasure

        erasure.register()

        from crm.lib.erasure import erasure_replayer_set
        from customers.privacy import customers_erase_again

        erasure_replayer_set(customers_erase_again)
        register_table("customers_duplicatepair", _("Possible duplicate"))
        register_table(
            "customers_customermerge",
            _("Customer merge"),
            personal={"before": masked_whole},
        )
        ACTIONS.setdefault("merge", _("Merged customers"))
        ACTIONS.setdefault("merge revert", _("Undid a customer merge"))
        ACTIONS.setdefault("order status", _("Changed an order's status"))
        register_table("customers_order", _("Order"))
