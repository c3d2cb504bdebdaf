from django.db.models import QuerySet

from crm.accounts.models import User


def staff_list() -> QuerySet[User]:
    return User.objects.prefetch_related("groups").order_by("-is_active", "full_name", "email")
