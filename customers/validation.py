"""Messages for customer values refused, written once for the customer form and services
(customers.forms, customers.services) and the imports (customers.transfer_imports): the same
bad value gets the same words whichever way it came in. Generic ones (too long, not an email,
not a phone, not a date) are in crm.lib.validation_messages."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer

# Lazy: forms take them as error_messages when the module is imported.
NAME_REQUIRED = gettext_lazy("A customer needs a name.")
KIND_UNKNOWN = gettext_lazy("Write individual or company.")
GENDER_UNKNOWN = gettext_lazy("Write female, male or other (or leave it empty).")
LANGUAGE_UNKNOWN = gettext_lazy("Write English or Chinese, e.g. en or zh-hans (or leave it empty).")
COUNTRY_FORMAT = gettext_lazy("Two letters, e.g. CN.")
TAG_LENGTH = gettext_lazy("A tag is 1 to 50 characters.")


def external_id_taken() -> str:
    return _("Another customer has this external id.")


def stage_unknown() -> str:
    return _("Unknown stage; write one of: %(stages)s.") % {
        "stages": ", ".join(Customer.Stage.values)
    }


def customer_limit_reached(limit: int) -> str:
    return _("Your plan allows %(limit)d customers. Ask the platform operator for more.") % {
        "limit": limit
    }
