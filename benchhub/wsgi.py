import os

from django.core.wsgi import get_wsgi_application

# Servers and workers default to production (fails closed: it refuses to start without its
# secrets); only manage.py defaults to the local settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.production")
application = get_wsgi_application()

from benchhub.tracing import tracing_setup  # noqa: E402 - after Django is set up

tracing_setup()  # off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
