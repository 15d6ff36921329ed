import os

from django.core.asgi import get_asgi_application

# Servers and workers default to production (fails closed: it refuses to start without its
# secrets); only manage.py defaults to the local settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.production")
application = get_asgi_application()
