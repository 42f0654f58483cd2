"""Audit events to a syslog collector (a SIEM), as RFC 5424 messages, in the spirit of IHE ATNA.

MEDSITE_AUDIT_SYSLOG_URL chooses the transport: udp://host:port (RFC 5426, one datagram per message),
tcp://host:port (RFC 6587 octet counting) or tls://host:port (RFC 5425: octet counting over TLS 1.2 or later, the
server's certificate checked against MEDSITE_AUDIT_SYSLOG_CA_FILE or the system's CAs, and its name against the
host). Each message carries, as structured data, the action, the actor's id, the object's type and id, the site's id,
the event's id, chain and hash: never a patient identifier, and not the user agent or the detail.

Sending never blocks or fails the request that wrote the event. `send` (called on commit) only puts the message on a
bounded in-memory queue; one background thread per process takes it off and writes it, with a short socket timeout.
When the collector is slow or down the queue fills and further messages are dropped; drops and failures are counted
in `stats` and logged (the event's id, never its content; the first and then every thousandth). The audit table
stays the record: the collector is a copy for monitoring, and `manage.py verify_audit` does not depend on it.
"""

import logging
import os
import queue
import socket
import ssl
import threading
from collections import Counter
from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
TIMEOUT = 5.0  # seconds, for connecting and for each write
FACILITY = 10  # security/authorization (authpriv), as IHE ATNA uses
SEVERITY = 5  # notice
SD_ID = "medsite@32473"  # 32473: the example Private Enterprise Number of RFC 5612, until one is registered
APP_NAME = "medsite"

stats: Counter = Counter()  # sent, dropped (queue full), failed (could not connect or write)


def _sd_value(value) -> str:
    """A PARAM-VALUE: backslash, double quote and closing bracket escaped (RFC 5424 section 6.3.3)."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most ``limit`` characters, or the NILVALUE."""
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def format_message(event, *, hostname: str | None = None) -> bytes:
    """One RFC 5424 message for an audit event (without transport framing)."""
    params = {
        "event": event.pk,
        "action": event.action,
        "actor": event.actor_id,
        "objectType": event.object_type,
        "objectId": event.object_id,
        "site": event.site_id,
        "chain": event.chain,
        "hash": event.hash,
        "key": event.key_id,
    }
    sd = "".join(f' {name}="{_sd_value(value)}"' for name, value in params.items() if value not in (None, ""))
    sd = f"[{SD_ID}{sd}]"
    timestamp = event.at.astimezone(UTC).isoformat()
    header = " ".join(
        [
            f"<{FACILITY * 8 + SEVERITY}>1",
            timestamp.replace("+00:00", "Z"),
            _header_field(hostname or socket.gethostname(), 255),
            APP_NAME,
            str(os.getpid()),
            _header_field(event.action, 32),
        ]
    )
    text = f"audit event {event.pk}: {event.action} {event.object_type} {event.object_id}".strip()
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)  # one line of ASCII, whatever the id held
    return f"{header} {sd} {text}".encode()


def _count(outcome: str) -> bool:
    """Count a drop or a failure; True when it should be logged (the first, then every thousandth), so that a
    collector that is down does not flood the log."""
    stats[outcome] += 1
    return stats[outcome] % 1000 == 1


def frame(message: bytes) -> bytes:
    """Octet-counting framing (RFC 6587 section 3.4.1, RFC 5425 section 4.3): the length, a space, the message."""
    return str(len(message)).encode() + b" " + message


class _Sender:
    """One background thread that takes messages off a bounded queue and writes them to one collector."""

    def __init__(self, url: str, ca_file: str | None):
        parts = urlsplit(url)
        self.url, self.scheme, self.address = url, parts.scheme, (parts.hostname, parts.port)
        self.ca_file = ca_file
        self.queue: queue.Queue[tuple[int, bytes]] = queue.Queue(maxsize=QUEUE_SIZE)
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, name="audit-syslog", daemon=True)
        self.thread.start()

    def put(self, event_id: int, message: bytes) -> None:
        try:
            self.queue.put_nowait((event_id, message))
        except queue.Full:
            if _count("dropped"):
                logger.warning(
                    "Audit syslog queue full: event %s not sent to %s (%s dropped so far)",
                    event_id,
                    self.url,
                    stats["dropped"],
                )

    def _connect(self) -> socket.socket:
        if self.scheme == "udp":
            family = socket.getaddrinfo(*self.address, type=socket.SOCK_DGRAM)[0][0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.settimeout(TIMEOUT)
            sock.connect(self.address)
            return sock
        sock = socket.create_connection(self.address, timeout=TIMEOUT)
        if self.scheme == "tls":
            context = ssl.create_default_context(cafile=self.ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                sock = context.wrap_socket(sock, server_hostname=self.address[0])
            except BaseException:
                sock.close()
                raise
        return sock

    def _write(self, message: bytes) -> None:
        if self.sock is None:
            self.sock = self._connect()
        if self.scheme == "udp":
            self.sock.send(message)
        else:
            self.sock.sendall(frame(message))

    def _run(self) -> None:
        while True:
            event_id, message = self.queue.get()
            try:
                try:
                    self._write(message)
                except OSError:  # a collector that restarted closed the connection: one fresh try
                    self._close()
                    self._write(message)
                stats["sent"] += 1
            except Exception as exc:
                self._close()
                if _count("failed"):
                    logger.warning(
                        "Audit syslog: event %s not sent to %s (%s; %s failed so far)",
                        event_id,
                        self.url,
                        exc.__class__.__name__,
                        stats["failed"],
                    )
            finally:
                self.queue.task_done()

    def _close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


_sender: _Sender | None = None
_sender_key: tuple | None = None
_lock = threading.Lock()


def _current_sender() -> _Sender | None:
    """The sender for the configured collector, made afresh in a forked child (its thread did not survive)."""
    global _sender, _sender_key
    url = settings.MEDSITE_AUDIT_SYSLOG_URL
    if not url:
        return None
    key = (url, settings.MEDSITE_AUDIT_SYSLOG_CA_FILE, os.getpid())
    with _lock:
        if _sender_key != key:
            _sender, _sender_key = _Sender(url, settings.MEDSITE_AUDIT_SYSLOG_CA_FILE), key
        return _sender


def send(event) -> None:
    """Queue one audit event for the collector; never raises, never waits."""
    try:
        sender = _current_sender()
        if sender is not None:
            sender.put(event.pk, format_message(event))
    except Exception as exc:
        if _count("failed"):
            logger.warning("Audit syslog: event %s not queued (%s)", event.pk, exc.__class__.__name__)


def flush(timeout: float = TIMEOUT * 3) -> bool:
    """Wait until the queue is empty (tests, and a worker shutting down); False if it did not empty in time."""
    sender = _sender
    if sender is None:
        return True
    done = threading.Event()

    def wait() -> None:
        sender.queue.join()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done.wait(timeout)
