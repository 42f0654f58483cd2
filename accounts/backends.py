"""Authentication backends that load a signed-in request's user together with its memberships.

Every page and most API calls need the user's memberships (site checks, the navigation), so reading the user and
then its memberships costs two queries per request. `get_user` here reads both in one: the user row LEFT JOINed to
its memberships and their sites, in `User.memberships_by_role`'s order, and keeps the memberships on the user (the
same cache `memberships_by_role` fills itself). Same rules as Django's: an inactive user gets None.
"""

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.db import connections, router

from accounts.models import Membership, Site, User


def _columns(model, alias: str, quote) -> list[str]:
    return [f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields]


_SQL: dict[str, str] = {}  # per database vendor (its quoting), built once


def _sql(connection) -> str:
    if connection.vendor in _SQL:
        return _SQL[connection.vendor]
    quote = connection.ops.quote_name
    table = lambda model: quote(model._meta.db_table)  # noqa: E731
    columns = _columns(User, "u", quote) + _columns(Membership, "m", quote) + _columns(Site, "s", quote)
    _SQL[connection.vendor] = (
        f"SELECT {', '.join(columns)}"
        f" FROM {table(User)} u"
        f" LEFT JOIN {table(Membership)} m ON m.{quote('user_id')} = u.{quote('id')}"
        f" LEFT JOIN {table(Site)} s ON s.{quote('id')} = m.{quote('site_id')}"
        f" WHERE u.{quote('id')} = %s"
        f" ORDER BY m.{quote('role')}, s.{quote('name')}"
    )
    return _SQL[connection.vendor]


def _converters(connection, model) -> list[tuple[int, object, list]]:
    """What the ORM would run on each of the model's columns as read (aware datetimes on SQLite, custom fields):
    (position, column, converters) for the columns that have any."""
    found = []
    for i, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converters:
            found.append((i, column, converters))
    return found


def _from_db(model, alias: str, connection, fields: list[str], values) -> object:
    values = list(values)
    for i, column, converters in _converters(connection, model):
        for converter in converters:
            values[i] = converter(values[i], column, connection)
    return model.from_db(alias, fields, values)


def user_with_memberships(user_id) -> User | None:
    """The user with this primary key and its memberships (with their sites), in one query; None if none."""
    alias = router.db_for_read(User)
    connection = connections[alias]
    try:
        user_id = User._meta.pk.to_python(user_id)
    except Exception:  # a session holding a malformed id: nobody
        return None
    fields = [[f.attname for f in model._meta.concrete_fields] for model in (User, Membership, Site)]
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection), [user_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    n_user, n_membership = len(fields[0]), len(fields[1])
    user = _from_db(User, alias, connection, fields[0], rows[0][:n_user])
    memberships = []
    for row in rows:
        membership_values = row[n_user : n_user + n_membership]
        if membership_values[0] is None:  # the LEFT JOIN's row for a user with no memberships
            continue
        membership = _from_db(Membership, alias, connection, fields[1], membership_values)
        membership.user = user
        membership.site = _from_db(Site, alias, connection, fields[2], row[n_user + n_membership :])
        memberships.append(membership)
    user.__dict__["_memberships_by_role"] = memberships
    return user


class _OneQueryUser:
    def get_user(self, user_id):
        user = user_with_memberships(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ModelBackend(_OneQueryUser, DjangoModelBackend):
    """Django's ModelBackend (email and password), loading the request's user in one query."""


class AuthenticationBackend(_OneQueryUser, AllauthBackend):
    """allauth's backend (its login flows), loading the request's user in one query."""
