"""Celery tasks of the escalation app: thin, they call the sweeper."""

import logging

from celery import shared_task

from escalation.services.sweeper import sweep

logger = logging.getLogger(__name__)


@shared_task(name="escalation.sweep_clocks", ignore_result=True, acks_late=True)
def sweep_clocks() -> dict:
    """One beat tick: handle every due clock. Safe if two ticks overlap (rows are claimed)."""
    result = sweep().as_dict()
    if any(result.values()):
        logger.info("Sweep: %s", result)
    return result
