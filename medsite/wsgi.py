import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medsite.settings")
application = get_wsgi_application()
# Import every view now, while the gunicorn worker boots and before it accepts a connection, instead of in its first
# request: Django loads the URLconf lazily, and with it the views' imports (DRF, pydicom, scikit-learn for the model
# pages...), about 2 s of CPU that a user would otherwise wait for after each start or worker restart.
URL_PATTERNS = get_resolver().url_patterns
