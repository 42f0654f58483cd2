"""Authentication that loads a signed-in request's user together with its memberships.

Every page and most API calls need the user's memberships (site checks, the navigation), so reading the user and
then its memberships costs two queries per request. `get_user` here reads both in one: the user row LEFT JOINed to
its memberships and their sites, in `User.memberships_by_role`'s order, and keeps the memberships on the user (the
same cache `memberships_by_role` fills itself). Same rules as Django's: an inactive user gets None.
`TokenAuthentication` does the same for the API's tokens (accounts.ApiToken, stored as SHA-512 digests): the token
found by its digest, its user, whether the user has a TOTP authenticator, and the user's memberships, in one query.
"""

import functools
from datetime import timedelta
from hmac import compare_digest

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from allauth.mfa.models import Authenticator
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from rest_framework import authentication, exceptions

from accounts.middleware import mfa_required
from accounts.models import ApiToken, Membership, Site, User


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
        totp = (
            f"EXISTS (SELECT 1 FROM {table(Authenticator)} a WHERE a.{quote('user_id')} = u.{quote('id')}"
            f" AND a.{quote('type')} = '{Authenticator.Type.TOTP.value}')"
        )
        columns = _columns(ApiToken, "t", quote) + columns + [totp]
        source = f"{table(ApiToken)} t JOIN {table(User)} u ON u.{quote('id')} = t.{quote('user_id')}"
        where = f"t.{quote('digest')} = %s"
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


def _load(param, by_token: bool) -> tuple[User, ApiToken | None] | None:
    alias = router.db_for_read(User)
    connection = connections[alias]
    models = ([ApiToken] if by_token else []) + [User, Membership, Site]
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
        token = _from_db(ApiToken, alias, connection, fields[0], rows[0][slice(*bounds[0])])
        token.user_has_totp = bool(rows[0][-1])
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


SUPERUSER_REFUSED = _("API tokens of platform administrators are refused; use a site account.")
EXPIRED = _("This API token has expired.")
NEEDS_TOTP = _(
    "Your role requires two-factor authentication: sign in to MedSite and set it up before using an API token."
)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute per token


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <token>` against accounts.ApiToken (django-rest-knox's model: only the SHA-512 digest
    of each token is stored, with an expiry). The token is found by its digest, the primary key, and read with its
    user and the user's memberships in one query; knox's own authentication instead reads every token sharing the
    first 15 characters, then the user, then the user's other tokens to delete expired ones.

    Refused with 401: an unknown or revoked token, an inactive user, an expired token (kept, and listed to its
    owner as expired), a superuser's token, and the token of a user whose role requires TOTP but who has none.
    A refusal counts against the client address (medsite.exceptions.api_exception_handler): past the anonymous rate
    it is a 429. `last_used_at` is written at most once a minute per token, by a conditional UPDATE.
    """

    def authenticate_credentials(self, key):
        digest = hash_token(key)
        found = _load(digest, by_token=True)
        if found is None or not compare_digest(found[1].digest, digest):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        now = timezone.now()
        if token.expiry is not None and token.expiry <= now:
            raise exceptions.AuthenticationFailed(EXPIRED)
        if user.is_superuser:
            raise exceptions.AuthenticationFailed(SUPERUSER_REFUSED)
        if mfa_required(user) and not token.user_has_totp:
            raise exceptions.AuthenticationFailed(NEEDS_TOTP)
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(
                Q(last_used_at=None) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION), digest=digest
            ).update(last_used_at=now)
            token.last_used_at = now
        return user, token
