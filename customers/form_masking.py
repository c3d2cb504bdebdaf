"""The customer form for an editor who may not see personal data.

Such an editor gets the stored phones, emails, birthday and address as masks (the same masks
the customer page shows), never the values. What they send back decides: a mask left as it is
keeps the stored value behind it, a new value replaces it, an emptied field or a removed line
clears it. Nothing they can send reads a stored value back: a line that still holds a mask but
is not one of the masks they were given is refused without saying what it hides."""

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.accounts.masking import MASK, mask_address, mask_birthday, mask_email, mask_phone
from customers import schema
from customers.models import Customer

# The standard fields that hold personal data (crm.accounts.masking's kinds).
PERSONAL_FIELDS = tuple(schema.personal())


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


@dataclass
class MaskedPersonal:
    """One customer's personal values as masks, each with the stored value it stands for."""

    phones: list[tuple[str, str]] = field(default_factory=list)  # (mask, E.164)
    emails: list[tuple[str, str]] = field(default_factory=list)  # (mask, email)
    birthday: datetime.date | None = None
    address: str = ""

    @classmethod
    def of(cls, customer: Customer) -> "MaskedPersonal":
        return cls(
            phones=[(mask_phone(p.e164), p.e164) for p in customer.phones.all()],
            emails=[(mask_email(e.email), e.email) for e in customer.emails.all()],
            birthday=customer.birthday,
            address=customer.address,
        )

    def initial(self) -> dict[str, str]:
        """The form's starting values: masks only."""
        return {
            "phones": "\n".join(mask for mask, _value in self.phones),
            "emails": "\n".join(mask for mask, _value in self.emails),
            "birthday": mask_birthday(self.birthday) if self.birthday else "",
            "address": mask_address(self.address) if self.address else "",
        }

    def _contacts(self, text: str, stored: list[tuple[str, str]], what: str) -> str:
        """The submitted lines with each untouched mask replaced by the stored value it stands
        for (each stored value at most once, so two numbers with the same mask both stay)."""
        left = list(stored)
        lines: list[str] = []
        for line in _lines(text):
            match = next((item for item in left if item[0] == line), None)
            if match is not None:
                left.remove(match)
                lines.append(match[1])
            elif MASK in line:
                raise ValidationError(
                    _(
                        "A masked %(what)s was changed. Leave it exactly as it is to keep it,"
                        " delete the line to remove it, or type the whole new one."
                    )
                    % {"what": what}
                )
            else:
                lines.append(line)
        return "\n".join(lines)

    def phones_resolve(self, text: str) -> str:
        return self._contacts(text, self.phones, str(_("phone number")))

    def emails_resolve(self, text: str) -> str:
        return self._contacts(text, self.emails, str(_("email address")))

    def birthday_resolve(self, text: str) -> datetime.date | None:
        text = (text or "").strip()
        if self.birthday and text == mask_birthday(self.birthday):
            return self.birthday
        if MASK in text:
            raise ValidationError(
                _("The birthday is masked: leave it as it is, clear it, or type the whole date.")
            )
        from customers.forms import birthday_field

        return birthday_field("").clean(text)

    def address_resolve(self, text: str) -> str:
        text = (text or "").strip()
        if self.address and text == mask_address(self.address):
            return self.address
        if MASK in text:
            raise ValidationError(
                _("The address is masked: leave it as it is, clear it, or type the whole address.")
            )
        return text

    def redact(self, text: str) -> str:
        """A message with every stored value it may quote replaced by its mask (a service's
        error names the value it refused, which may be one the editor kept unseen)."""
        pairs = [
            *self.phones,
            *self.emails,
            *([(mask_address(self.address), self.address)] if self.address else []),
            *([(mask_birthday(self.birthday), self.birthday.isoformat())] if self.birthday else []),
        ]
        for mask, value in pairs:
            if value:
                text = text.replace(value, mask)
        return text
