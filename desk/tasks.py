import logging

from celery import shared_task

from desk import submissions

logger = logging.getLogger(__name__)


@shared_task(name="desk.expire_form_submissions", ignore_result=True, acks_late=True)
def expire_form_submissions() -> dict:
    """One beat tick: forget the one-time tokens of forms sent long ago. Safe if ticks
    overlap (a row deleted twice is deleted once)."""
    deleted = submissions.expire()
    if deleted:
        logger.info("Form submissions expired: %s.", deleted)
    return {"deleted": deleted}
