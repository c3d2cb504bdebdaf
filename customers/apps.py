from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from crm.accounts.audit_labels import register_table
        from crm.tenants.seeding import register_seeder
        from customers.seeding import customers_seed

        register_seeder("customers", customers_seed, order=20)

        from crm.tenants.selectors import register_customer_counter
        from customers.selectors import customers_counted

        register_customer_counter(customers_counted)

        from customers import transfer_exports

        transfer_exports.register()

        from customers import transfer_imports

        transfer_imports.register()

        from customers import transfer_imports_orders

        transfer_imports_orders.register()

        # Personal columns (crm.accounts.masking's kinds, and custom values, which may be):
        # masked in the audit log for readers who may not see personal data.
        register_table(
            "customers_customer", _("Customer"), personal=("birthday", "address", "custom")
        )
        register_table(
            "customers_customerphone", _("Customer phone"), personal=("raw", "e164", "digits")
        )
        register_table("customers_customeremail", _("Customer email"), personal=("email",))
        register_table("customers_consentevent", _("Consent"))
        register_table("customers_customfield", _("Custom field"))

        # Duplicates and merges (customers.merge).
        from crm.accounts.audit_labels import ACTIONS
        from customers.merge import register_defaults

        register_defaults()
        register_table("customers_duplicatepair", _("Possible duplicate"))
        register_table("customers_customermerge", _("Customer merge"), personal=("before",))
        ACTIONS.setdefault("merge", _("Merged customers"))
        ACTIONS.setdefault("merge revert", _("Undid a customer merge"))
