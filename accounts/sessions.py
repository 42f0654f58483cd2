"""Database sessions, read with one fixed SQL statement.

Django's database session store, unchanged in what it stores and when, except how a request reads its session:
the ORM builds and compiles the same `SELECT ... WHERE session_key = %s AND expire_date > now` for every request,
which costs more than running it. This store runs that statement directly. Set as SESSION_ENGINE.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self):
        key = self.session_key
        if key is None:
            return {}
        model = self.model
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('session_data')} FROM {quote(model._meta.db_table)}"
                f" WHERE {quote('session_key')} = %s AND {quote('expire_date')} > %s",
                [key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:  # no such session, or it expired: as Django's store, forget the key
            self._session_key = None
            return {}
        return self.decode(row[0])
