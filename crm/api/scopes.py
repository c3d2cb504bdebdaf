"""What a token may reach. Fixed by the issue that asked for the API: each router registers
under one of these (crm.api.registry), and a token carries a subset."""

from django.utils.translation import gettext_lazy as _

LOYALTY = "loyalty"
CUSTOMERS = "customers"

SCOPES = {
    LOYALTY: _("Loyalty: post orders, read balances, redeem points"),
    CUSTOMERS: _("Customers: read customer records"),
}
