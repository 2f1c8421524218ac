"""Celery tasks of the insights: thin, they call a service."""

import logging

from celery import shared_task

from insights.selectors import refresh_summaries_if_needed
from insights.services import rising_causes_raise

logger = logging.getLogger(__name__)


@shared_task(name="recovery.insights.raise_rising_causes", ignore_result=True, acks_late=True)
def raise_rising_causes() -> int:
    """Periodic: alert owners of rising causes. Idempotent (one alert per cause and week)."""
    raised = rising_causes_raise()
    if raised:
        logger.info("Rising root causes: %d new alerts.", len(raised))
    return len(raised)


@shared_task(name="recovery.insights.refresh_summaries", ignore_result=True, acks_late=True)
def refresh_summaries() -> int:
    """Periodic: rebuild the insight summaries of the days whose complaints changed."""
    refreshed = refresh_summaries_if_needed()
    if refreshed is not None and refreshed.days:
        logger.info(
            "Insight summaries: %d days rebuilt (full: %s).", refreshed.days, refreshed.full
        )
    return refreshed.days if refreshed is not None else 0
