"""``/favicon.ico``: browsers ask for it at the site's root whatever the page links to.

Without it every first visit logged a 404. The pages link the SVG and the ICO from the
static files (``templates/base.html``); this answers the root address with the same ICO.
"""

from functools import cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

ICON = "redress/img/favicon.ico"


@cache
def _icon_bytes() -> bytes:
    with open(finders.find(ICON), "rb") as icon:
        return icon.read()


@require_safe
@cache_control(public=True, max_age=86_400)  # a day: an icon changes rarely
def favicon(request):
    return HttpResponse(_icon_bytes(), content_type="image/vnd.microsoft.icon")
