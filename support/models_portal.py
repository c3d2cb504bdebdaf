"""The public web form's settings (issue 16, helper "portal"): one row per tenant."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class WebFormSettings(models.Model):
    """Whether the tenant's public web form (/help/) takes tickets, the text above it, and
    the categories a customer may choose from (none: the form asks for no category)."""

    enabled = models.BooleanField(
        _("customers may open tickets through the web form"), default=True
    )
    intro = models.TextField(_("text above the form"), blank=True)
    categories = ArrayField(
        models.CharField(max_length=60), default=list, blank=True, verbose_name=_("categories")
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="webformsettings_single")]

    def __str__(self) -> str:
        return "web form settings"
