"""The Celery application.

Broker and schedule come from Django settings (``CELERY_*``), so the same code runs on the
embedded in-memory broker and on Redis in production.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("redress")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
