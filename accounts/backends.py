"""Authentication that loads a signed-in request's user together with its memberships.

Every page and most API calls need the user's memberships (site checks, the navigation), so reading the user and
then its memberships costs two queries per request. `get_user` here reads both in one: the user row LEFT JOINed to
its memberships and their sites, in `User.memberships_by_role`'s order, and keeps the memberships on the user (the
same cache `memberships_by_role` fills itself). Same rules as Django's: an inactive user gets None.
`TokenAuthentication` does the same for the API's tokens.
"""

import functools

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from accounts.models import Membership, Site, User


def _columns(model, alias: str, quote) -> list[str]:
    return [f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields]


_SQL: dict[tuple[str, bool], str] = {}  # per database vendor (its quoting) and lookup, built once


def _sql(connection, by_token: bool) -> str:
    key = (connection.vendor, by_token)
    if key in _SQL:
        return _SQL[key]
    quote = connection.ops.quote_name
    table = lambda model: quote(model._meta.db_table)  # noqa: E731
    columns = _columns(User, "u", quote) + _columns(Membership, "m", quote) + _columns(Site, "s", quote)
    if by_token:
        columns = _columns(Token, "t", quote) + columns
        source = f"{table(Token)} t JOIN {table(User)} u ON u.{quote('id')} = t.{quote('user_id')}"
        where = f"t.{quote('key')} = %s"
    else:
        source, where = f"{table(User)} u", f"u.{quote('id')} = %s"
    _SQL[key] = (
        f"SELECT {', '.join(columns)} FROM {source}"
        f" LEFT JOIN {table(Membership)} m ON m.{quote('user_id')} = u.{quote('id')}"
        f" LEFT JOIN {table(Site)} s ON s.{quote('id')} = m.{quote('site_id')}"
        f" WHERE {where}"
        f" ORDER BY m.{quote('role')}, s.{quote('name')}"
    )
    return _SQL[key]


_CONVERTERS: dict[tuple[str, type], list[tuple[int, object, list]]] = {}


def _converters(connection, model) -> list[tuple[int, object, list]]:
    """What the ORM would run on each of the model's columns as read (aware datetimes on SQLite, custom fields):
    (position, column, converters) for the columns that have any; worked out once per database and model."""
    key = (connection.alias, model)
    if key not in _CONVERTERS:
        found = []
        for i, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                found.append((i, column, converters))
        _CONVERTERS[key] = found
    return _CONVERTERS[key]


def _from_db(model, alias: str, connection, fields: list[str], values) -> object:
    values = list(values)
    for i, column, converters in _converters(connection, model):
        for converter in converters:
            values[i] = converter(values[i], column, connection)
    return model.from_db(alias, fields, values)


@functools.cache
def _attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _load(param, by_token: bool) -> tuple[User, Token | None] | None:
    alias = router.db_for_read(User)
    connection = connections[alias]
    models = ([Token] if by_token else []) + [User, Membership, Site]
    fields = [_attnames(model) for model in models]
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection, by_token), [param])
        rows = cursor.fetchall()
    if not rows:
        return None
    bounds, at = [], 0
    for names in fields:
        bounds.append((at, at + len(names)))
        at += len(names)
    token = None
    if by_token:
        token = _from_db(Token, alias, connection, fields[0], rows[0][slice(*bounds[0])])
        fields, bounds = fields[1:], bounds[1:]
    user = _from_db(User, alias, connection, fields[0], rows[0][slice(*bounds[0])])
    memberships = []
    for row in rows:
        membership_values = row[slice(*bounds[1])]
        if membership_values[0] is None:  # the LEFT JOIN's row for a user with no memberships
            continue
        membership = _from_db(Membership, alias, connection, fields[1], membership_values)
        membership.user = user
        membership.site = _from_db(Site, alias, connection, fields[2], row[slice(*bounds[2])])
        memberships.append(membership)
    user.__dict__["_memberships_by_role"] = memberships
    if token is not None:
        token.user = user
    return user, token


def user_with_memberships(user_id) -> User | None:
    """The user with this primary key and its memberships (with their sites), in one query; None if none."""
    try:
        user_id = User._meta.pk.to_python(user_id)
    except ValidationError:  # a session holding a malformed id: nobody
        return None
    found = _load(user_id, by_token=False)
    return None if found is None else found[0]


class _OneQueryUser:
    def get_user(self, user_id):
        user = user_with_memberships(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ModelBackend(_OneQueryUser, DjangoModelBackend):
    """Django's ModelBackend (email and password), loading the request's user in one query."""


class AuthenticationBackend(_OneQueryUser, AllauthBackend):
    """allauth's backend (its login flows), loading the request's user in one query."""


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (`Authorization: Token <key>`), reading the token, its user and the user's
    memberships in one query instead of two. The same answers as DRF's: 401 for an unknown key or an inactive
    user."""

    def authenticate_credentials(self, key):
        found = _load(key, by_token=True)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token
