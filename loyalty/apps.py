from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = "Loyalty"

    def ready(self) -> None:
        from crm.accounts.audit_labels import register_table
        from crm.tenants.seeding import register_seeder
        from customers.merge import MergeHandler, merge_handler_register
        from customers.order_hooks import (
            orders_batches_register,
            orders_removing_register,
            orders_written_register,
        )
        from customers.removal_hooks import DerivedRows, derived_rows_register
        from loyalty import (
            customer_page,
            erasure,
            list_columns,
            merging,
            orders,
            removal,
            transfer_imports,
        )
        from loyalty.models import Account
        from loyalty.seeding import loyalty_seed

        # Points follow every write of orders (services, imports, undo).
        orders_written_register(orders.orders_written)
        orders_removing_register(orders.orders_removing)
        # An import's batches: each balance changed once, at the end of its transaction.
        orders_batches_register(orders.orders_batches)

        merge_handler_register(
            MergeHandler("loyalty.accounts", merging.accounts_merge, merging.accounts_merge_revert)
        )
        erasure.register()
        derived_rows_register(
            DerivedRows(Account, removal.accounts_removal_blocker, removal.accounts_remove)
        )
        register_seeder("loyalty", loyalty_seed, order=40)

        # The till's endpoints of the JSON API (crm.api): orders, points, redemptions.
        from loyalty import api

        api.register()

        # The staff pages' registrations: the Points tab and timeline events, the list's
        # points and tier, and the points adjustments import.
        customer_page.register()
        list_columns.register()
        transfer_imports.register()
        # Referral codes on the new-customer form and in the customers import.
        from loyalty import referrals

        referrals.register()
        # Beside a support ticket: the customer's tier and points (support.customer_context).
        from loyalty import support_actions, support_context

        support_context.register()
        # Goodwill points on a complaint ticket (support.ticket_actions).
        support_actions.register()

        register_table("loyalty_programme", _("Loyalty programme"))
        register_table("loyalty_earnrule", _("Earn rule"))
        register_table("loyalty_tier", _("Loyalty tier"))
        register_table("loyalty_account", _("Points account"))
        register_table("loyalty_ledgerentry", _("Points entry"))
        register_table("loyalty_adjustment", _("Points adjustment"))
        register_table("loyalty_reward", _("Reward"))
        register_table("loyalty_redemption", _("Redemption"))
