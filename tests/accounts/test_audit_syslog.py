"""Audit events streamed to a syslog collector (RFC 5424 over UDP, TCP and TLS), received by real local servers."""

import datetime
import ipaddress
import re
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accounts import audit_syslog
from accounts.audit import audit_record
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

# <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID params] MSG (RFC 5424 section 6)
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)) (?P<host>\S+) "
    r"(?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) \[(?P<sdid>\S+)(?P<params>( \w+=\"(?:[^\"\\\]]|\\.)*\")*)\] "
    r"(?P<msg>.*)$"
)


def _parse(message: bytes) -> dict:
    match = RFC5424.match(message.decode())
    assert match, message
    fields = match.groupdict()
    fields["params"] = dict(re.findall(r' (\w+)="((?:[^"\\\]]|\\.)*)"', fields["params"]))
    return fields


class Collector:
    """A syslog collector on 127.0.0.1: UDP datagrams, or octet-counted frames over TCP, optionally TLS."""

    def __init__(self, kind: str, tls: ssl.SSLContext | None = None):
        self.kind, self.tls, self.messages = kind, tls, []
        self.received = threading.Event()
        family_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, family_type)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        if kind != "udp":
            self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        if self.kind == "udp":
            while True:
                data, _ = self.sock.recvfrom(65535)
                self.messages.append(data)
                self.received.set()
        while True:
            conn, _ = self.sock.accept()
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                stream = conn.makefile("rb")
                while True:
                    length = b""
                    while not length.endswith(b" "):
                        byte = stream.read(1)
                        if not byte:
                            raise EOFError
                        length += byte
                    self.messages.append(stream.read(int(length)))
                    self.received.set()
            except (EOFError, OSError, ssl.SSLError):
                conn.close()

    def wait(self, count: int, timeout: float = 10) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


def _certificate(tmp_path, name="localhost"):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _record(django_capture_on_commit_callbacks, **fields):
    with django_capture_on_commit_callbacks(execute=True):
        event = audit_record(actor=None, **fields)
    return event


def test_events_reach_a_tcp_collector_as_octet_counted_rfc5424_messages(
    settings, django_capture_on_commit_callbacks, patient, clinician
):
    collector = Collector("tcp")
    settings.MEDSITE_AUDIT_SYSLOG_URL = f"tcp://127.0.0.1:{collector.port}"
    event = _record(
        django_capture_on_commit_callbacks,
        action=AuditEvent.Action.VIEW,
        obj=patient,
        site=patient.site,
        actor_email="someone@x.example",
        detail={"mrn_shown": patient.mrn},
    )
    second = _record(django_capture_on_commit_callbacks, action=AuditEvent.Action.LOGOUT)
    first, other = collector.wait(2)
    fields = _parse(first)
    assert (fields["pri"], fields["app"], fields["msgid"], fields["sdid"]) == ("85", "medsite", "view", "medsite@32473")
    assert fields["params"] == {
        "event": str(event.pk),
        "action": "view",
        "objectType": "patient",
        "objectId": str(patient.pk),
        "site": str(patient.site_id),
        "chain": str(event.chain),
        "hash": event.hash,
        "key": event.key_id,
    }
    assert fields["ts"] == event.at.isoformat().replace("+00:00", "Z")
    for identifier in (patient.mrn, patient.name, "someone@x.example"):  # no patient identifiers, no detail
        assert identifier.encode() not in first
    assert _parse(other)["params"]["event"] == str(second.pk)


def test_events_reach_a_tls_collector_whose_certificate_is_checked(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    cert, key = _certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    collector = Collector("tls", tls=server)
    settings.MEDSITE_AUDIT_SYSLOG_URL = f"tls://localhost:{collector.port}"
    settings.MEDSITE_AUDIT_SYSLOG_CA_FILE = str(cert)
    event = _record(django_capture_on_commit_callbacks, action=AuditEvent.Action.LOGIN_FAILED)
    (message,) = collector.wait(1)
    assert _parse(message)["params"]["hash"] == event.hash

    # A collector whose certificate the CA file does not vouch for gets nothing, and the request does not notice.
    (tmp_path / "impostor").mkdir()
    impostor_cert, impostor_key = _certificate(tmp_path / "impostor")
    impostor_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    impostor_context.load_cert_chain(impostor_cert, impostor_key)
    impostor = Collector("tls", tls=impostor_context)
    settings.MEDSITE_AUDIT_SYSLOG_URL = f"tls://localhost:{impostor.port}"
    failed = audit_syslog.stats["failed"]
    _record(django_capture_on_commit_callbacks, action=AuditEvent.Action.LOGIN_FAILED)
    assert audit_syslog.flush()
    assert impostor.messages == [] and audit_syslog.stats["failed"] == failed + 1


def test_events_reach_a_udp_collector_one_datagram_each(settings, django_capture_on_commit_callbacks):
    collector = Collector("udp")
    settings.MEDSITE_AUDIT_SYSLOG_URL = f"udp://127.0.0.1:{collector.port}"
    event = _record(django_capture_on_commit_callbacks, action=AuditEvent.Action.LOGIN_FAILED)
    (message,) = collector.wait(1)
    assert _parse(message)["params"]["event"] == str(event.pk)  # no length prefix on UDP


def test_a_collector_that_is_down_neither_fails_nor_slows_the_request(settings, django_capture_on_commit_callbacks):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    settings.MEDSITE_AUDIT_SYSLOG_URL = f"tcp://127.0.0.1:{port}"
    failed = audit_syslog.stats["failed"]
    started = time.monotonic()
    for _ in range(5):
        _record(django_capture_on_commit_callbacks, action=AuditEvent.Action.LOGIN_FAILED)
    assert time.monotonic() - started < 2
    assert audit_syslog.flush()
    assert audit_syslog.stats["failed"] == failed + 5
    assert AuditEvent.objects.count() == 5


def test_nothing_is_sent_for_an_event_whose_transaction_rolled_back(settings):
    from django.db import transaction

    collector = Collector("tcp")
    settings.MEDSITE_AUDIT_SYSLOG_URL = f"tcp://127.0.0.1:{collector.port}"
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED)
        raise RuntimeError("the caller's work failed")
    assert audit_syslog.flush() and collector.wait(1, timeout=0.5) == []


def test_structured_data_values_are_escaped():
    event = AuditEvent(pk=7, action="view", object_type="x", object_id='a"b]c\\d', chain=0, hash="h", key_id="k")
    event.at = datetime.datetime(2026, 12, 3, 22, 0, tzinfo=datetime.UTC)
    fields = _parse(audit_syslog.format_message(event, hostname="web 1"))
    assert fields["params"]["objectId"] == 'a\\"b\\]c\\\\d' and fields["host"] == "web1"
    assert audit_syslog.frame(b"abc") == b"3 abc"
