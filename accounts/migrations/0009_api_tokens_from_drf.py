"""The API's tokens move from DRF's rest_framework.authtoken (the key stored in plain text, never expiring) to
accounts.ApiToken (django-rest-knox: only the SHA-512 digest is stored, with an expiry).

DRF stored each key itself, so each existing token becomes an ApiToken with that key's digest, its first 15
characters as the displayed prefix, the name "migrated" and an expiry of now + REST_KNOX's TOKEN_TTL: running
clients keep working until then. Superusers' tokens are not carried over (theirs are refused now). The plain keys
are then deleted. "rest_framework.authtoken" is no longer installed, so its table, `authtoken_token`, stays behind
empty; drop it when convenient. A database that never had the table (a new one) has nothing to convert.

knox's own migrations no longer run (settings.MIGRATION_MODULES): they made a table `knox_authtoken` for the model
that accounts.ApiToken replaces, never used; it is dropped here.
"""

from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings

DRF_TABLE = "authtoken_token"


def tokens_from_drf(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if DRF_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    User = apps.get_model("accounts", "User")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('key')}, {quote('user_id')} FROM {quote(DRF_TABLE)}")
        rows = cursor.fetchall()
    superusers = set(User.objects.filter(is_superuser=True).values_list("pk", flat=True))
    ttl = knox_settings.TOKEN_TTL
    expiry = timezone.now() + ttl if ttl is not None else None
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                digest=hash_token(key),
                token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                user_id=user_id,
                name="migrated",
                expiry=expiry,
            )
            for key, user_id in rows
            if user_id not in superusers
        ],
        ignore_conflicts=True,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(DRF_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_audit_keyed_chain"),
    ]

    operations = [
        migrations.RunPython(tokens_from_drf, migrations.RunPython.noop, elidable=True),
        migrations.RunSQL("DROP TABLE IF EXISTS knox_authtoken", migrations.RunSQL.noop, elidable=True),
    ]
