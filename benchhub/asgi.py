import os

from django.core.asgi import get_asgi_application

# Servers and workers default to production (fails closed: it refuses to start without its
# secrets); only manage.py defaults to the local settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.production")
application = get_asgi_application()

from benchhub.tracing import tracing_setup  # noqa: E402 - after Django is set up

tracing_setup()  # off unless OTEL_EXPORTER_OTLP_ENDPOINT is set

# Without a broker this server process is also the worker: it recovers the runs a previous server
# left unfinished (at once, then every BENCHHUB_RUN_RECOVER_INTERVAL_SECONDS), as beat does for workers.
from benchhub.dispatch import embedded_beat_start  # noqa: E402 - needs the app loaded above

embedded_beat_start()
