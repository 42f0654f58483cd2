from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

AUDIT_TABLE = "accounts_auditevent"
CLAIM_FUNCTION = "accounts_audit_claim_chain(integer, integer)"


def grants(app_role: str) -> list[str]:
    """The privileges of the application's database role: everyday reads and writes on every table, but only SELECT
    and INSERT on the audit table, and no ownership of anything. Only a table's owner (or a superuser) may ALTER
    TABLE ... DISABLE TRIGGER or DROP TRIGGER, so this role cannot switch off the append-only trigger, and without
    UPDATE, DELETE and TRUNCATE it cannot change audit rows at all (TRUNCATE does not fire row triggers)."""
    role = connection.ops.quote_name(app_role)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {AUDIT_TABLE} FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"GRANT EXECUTE ON FUNCTION {CLAIM_FUNCTION} TO {role}",
        # Tables that later migrations create (run by this owner) get the everyday privileges too; run this command
        # again after a migration that touches the audit table.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]


class Command(BaseCommand):
    help = (
        "Print (or, with --apply, run) the grants that give the application's PostgreSQL role what it needs and "
        "nothing that would let it alter the audit trail. Run as the role that owns the tables (the one that runs "
        "migrations), after `migrate`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="The login role the web and workers connect as")
        parser.add_argument("--apply", action="store_true", help="Run the statements instead of printing them")

    def handle(self, *args, app_role, apply, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Database roles apply to PostgreSQL only")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.rolsuper, pg_has_role(%s, t.tableowner, 'MEMBER') FROM pg_roles AS r, pg_tables AS t "
                "WHERE r.rolname = %s AND t.schemaname = 'public' AND t.tablename = %s",
                [app_role, app_role, AUDIT_TABLE],
            )
            row = cursor.fetchone()
        if row is None:
            raise CommandError(f"No role {app_role!r} (create it first: CREATE ROLE {app_role} LOGIN PASSWORD '…')")
        superuser, owns = row
        if superuser or owns:
            raise CommandError(
                f"{app_role!r} is a superuser or holds the privileges of the tables' owner: it could drop the audit "
                "trigger. Give the application a role of its own."
            )
        statements = grants(app_role)
        if not apply:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(self.style.SUCCESS(f"Granted {app_role} the application's privileges ({len(statements)})."))
