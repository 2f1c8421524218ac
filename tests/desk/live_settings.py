"""Settings of the live server the browser tests start: the test settings, with the rate
limit of the complaint form counted in the server's own memory, so that runs of the suite
close together never share (and exhaust) one count in Redis."""

from config.settings_test import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
