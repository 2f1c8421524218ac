"""Keep the garbage collector off the objects a process loads at start.

A Redress process holds some 130,000 objects from start-up on (Django, DRF, Celery, the
models, URL patterns and templates' code), and a full collection walks every one of them:
57 ms on an idle machine and 80-140 ms under load, measured in the Celery workers and the
ASGI servers, while a delivery or a socket push waits. Frozen (``gc.freeze``), they are left
out of every collection; what the process makes later is collected as before.
"""

import gc


def freeze_startup_objects() -> None:
    """Collect what start-up left behind, then exempt the survivors from collection.

    Called once a process has loaded what it serves with, before its first request or task.
    """
    gc.collect()
    gc.freeze()
