"""The authentication backend: Django's ModelBackend, loading a signed-in user with what every
request asks of them (permissions, two-factor enrolment) in one query."""

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

# Set on the user by PermissionBackend.get_user: the permission names ("app_label.codename")
# and whether a confirmed authenticator existed, both as of the moment the user was loaded.
LOADED_PERMISSIONS = "_loaded_permission_names"
LOADED_TWO_FACTOR = "loaded_with_two_factor"


@functools.cache
def _user_load_sql() -> str:
    """The signed-in user, their permission names (own and their roles', "app_label.codename")
    and whether they have a confirmed authenticator. Written as SQL, not built with the ORM:
    it runs on every request, and composing the two subqueries cost more than running them."""
    user = get_user_model()
    own = user.user_permissions.through._meta
    roles = user.groups.through._meta
    q = connection.ops.quote_name
    columns = ", ".join(f"u.{q(str(f.column))}" for f in user._meta.concrete_fields)
    # Only model tables and columns, quoted, go into the text; the id is a parameter.
    sql = f"""
        SELECT {columns},
          ARRAY(
            SELECT ct.app_label || '.' || p.codename
            FROM {q(Permission._meta.db_table)} p
            JOIN {q(ContentType._meta.db_table)} ct ON ct.id = p.content_type_id
            WHERE p.id IN (
              SELECT up.permission_id FROM {q(own.db_table)} up WHERE up.user_id = u.id
              UNION ALL
              SELECT gp.permission_id
              FROM {q(roles.db_table)} ug
              JOIN {q(Group.permissions.through._meta.db_table)} gp ON gp.group_id = ug.group_id
              WHERE ug.user_id = u.id
            )
          ) AS {LOADED_PERMISSIONS},
          EXISTS (
            SELECT 1 FROM {q(TOTPDevice._meta.db_table)} d WHERE d.user_id = u.id AND d.confirmed
          ) AS {LOADED_TWO_FACTOR}
        FROM {q(user._meta.db_table)} u
        WHERE u.id = %s
    """  # noqa: S608
    return sql


@functools.cache
def _converters(field: Any) -> list[Any]:
    """What the ORM applies to a column's value of this field as it leaves the database."""
    column = field.get_col(field.model._meta.db_table)
    return [*connection.ops.get_db_converters(column), *field.get_db_converters(connection)]


def _from_db(field: Any, value: Any) -> Any:
    for convert in _converters(field):
        value = convert(value, field.get_col(field.model._meta.db_table), connection)
    return value


class PermissionBackend(ModelBackend):
    """ModelBackend with two changes, the answers unchanged:

    - a signed-in user is loaded together with their permissions and whether they have a
      confirmed authenticator, so the navigation's has_perm checks and the two-factor
      middleware need no query of their own (one query a request instead of three);
    - otherwise (a user loaded some other way), permissions come from one UNION query."""

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        try:
            user_pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        with connection.cursor() as cursor:
            cursor.execute(_user_load_sql(), [user_pk])
            row = cursor.fetchone()
        if row is None:
            return None
        # Built as the ORM would (from_db, each field's converters), without a RawQuerySet,
        # which works out the columns' mapping afresh for every query.
        fields = model._meta.concrete_fields
        values = [_from_db(field, value) for field, value in zip(fields, row, strict=False)]
        user = model.from_db(connection.alias, [f.attname for f in fields], values)
        setattr(user, LOADED_PERMISSIONS, row[len(fields)])
        setattr(user, LOADED_TWO_FACTOR, row[len(fields) + 1])
        return user if self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            loaded = getattr(user_obj, LOADED_PERMISSIONS, None)
            if loaded is not None and not user_obj.is_superuser:
                user_obj._perm_cache = set(loaded)
            else:
                user_obj._perm_cache = self._read_permissions(user_obj)
        return user_obj._perm_cache

    @staticmethod
    def _read_permissions(user_obj: Any) -> set[str]:
        fields = ("content_type__app_label", "codename")
        if user_obj.is_superuser:
            rows = Permission.objects.values_list(*fields).order_by()
        else:
            own = Permission.objects.filter(user=user_obj).values_list(*fields).order_by()
            roles = Permission.objects.filter(group__user=user_obj).values_list(*fields).order_by()
            rows = own.union(roles)
        return {f"{app_label}.{codename}" for app_label, codename in rows}
