"""Run the DICOM receiver (C-ECHO and C-STORE SCP) until interrupted: docs/dicom-conformance.md."""

from django.core.management.base import BaseCommand

from diagnosis import dicom_listener


class Command(BaseCommand):
    help = "Receive images over DICOM (C-STORE) into the site each called AE title maps to."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")

    def handle(self, *args, host: str, port: int, **options):
        ae = dicom_listener.build_ae()
        sweeper = dicom_listener.start_quiet_sweeper()
        self.stdout.write(f"DICOM receiver listening on {host}:{port} (Ctrl-C stops it)")
        try:
            dicom_listener.start(ae, host, port, block=True)
        except KeyboardInterrupt:
            ae.shutdown()
        finally:
            sweeper.set()
