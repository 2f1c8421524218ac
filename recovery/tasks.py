"""Celery tasks of the recovery app: thin, each calls one service."""

import logging

from celery import shared_task

from recovery.services.unpicked import alert_unpicked

logger = logging.getLogger(__name__)


@shared_task(name="recovery.alert_unpicked", ignore_result=True, acks_late=True)
def alert_unpicked_complaints() -> dict:
    """One beat tick: tell supervisors of complaints nobody picked up. Safe if ticks overlap
    (each complaint's alert is claimed once)."""
    result = alert_unpicked()
    if result.alerted or result.failed:
        logger.info("Unpicked complaints: %s alerted, %s failed.", result.alerted, result.failed)
    return {"alerted": result.alerted, "failed": result.failed}
