from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from crm.accounts.audit_labels import register_table
        from crm.tenants.seeding import register_seeder
        from customers.merge import merge_relation_register
        from support import customer_tabs, erasure, erasure_mail, feedback_registry
        from support.models import Ticket
        from support.seeding import tickets_seed

        register_table(
            "support_ticket",
            _("Ticket"),
            personal={
                "requester_email": "email",
                "requester_phone": "phone",
            },
        )
        register_table("support_ticketmessage", _("Ticket message"))
        register_table("support_slapolicy", _("SLA target"))
        register_table("support_businesshours", _("Business hours"))
        register_table("support_holidayoverride", _("Holiday override"))
        register_table("support_supportsettings", _("Support settings"))
        register_table("support_cannedresponse", _("Canned response"))
        register_table("support_mailsettings", _("Support email settings"))
        register_table("support_ticketattachment", _("Ticket attachment"))
        register_table("support_slaoverride", _("SLA override"))
        register_table("support_slaoverridetarget", _("SLA override target"))
        register_table("support_ticketsavedview", _("Saved ticket view"))
        merge_relation_register(Ticket, "customer")
        erasure.register()
        erasure_mail.register()
        customer_tabs.register()
        register_seeder("support", tickets_seed, order=40)
        # The public web form's settings, and the tickets export and import kinds (portal).
        from support import transfer_exports, transfer_imports

        register_table("support_webformsettings", _("Web form settings"))
        transfer_exports.register()
        transfer_imports.register()
        feedback_registry.register()
