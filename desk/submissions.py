"""One-time forms: the same rendering of a desk form, posted again, does what it asks once.

A double click, back and resend, or a refresh posts one rendering of a form again; two tabs
may post it at the same moment. Each rendering of a ``forms.OneTimeSubmission`` carries a
fresh token, and ``once`` runs the form's service under a ``FormSubmission`` row keyed by
it, in one transaction: the first post writes the row with what the service wrote, any
other post of that token writes nothing and is told it was already done. The rows are kept
for ``KEPT_FOR``, then ``expire`` (a beat task) deletes them.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import AlreadySent, Conflict
from desk.models import FormSubmission
from recovery.models import Complaint


def once(form, *, name: str, complaint: Complaint, run: Callable[[], object]) -> object:
    """``run()`` once per rendering of ``form``, a valid ``forms.OneTimeSubmission``.

    ``name`` tells the page's forms apart (a token is only ever sent by one of them). A form
    sent without a token (a page rendered before it had one) just runs.

    1. In one transaction, insert the token's row, then ``run()``; they commit together, and
       an error in ``run()`` rolls the row back, so the form can be sent again once fixed.
    2. The same token posted again meets the row's unique key: ``AlreadySent`` (answered as
       the first post was), or ``Conflict`` if the form now says something else.
    3. Posted twice at the same moment: the second insert waits on the first's uncommitted
       row and meets the key when it commits (step 2); if it rolls back, the second runs.
    """
    token = form.cleaned_data.get("submission")
    if not token:
        return run()
    key, said = f"{name}:{token}", fingerprint(form)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the key's error leaves the rest usable
                FormSubmission.objects.create(key=key, fingerprint=said, complaint=complaint)
        except IntegrityError:
            earlier = FormSubmission.objects.get(key=key)
            if earlier.fingerprint != said:
                raise Conflict(
                    "This form was sent already, with other words: nothing was changed. "
                    "Send what you wrote from the fresh form below.",
                    details={"submission": key},
                ) from None
            raise AlreadySent(earlier) from None
        return run()


def fingerprint(form) -> str:
    """What a valid form said, its token left out: values as text, rows by their key, files
    by name and size."""

    def text(value) -> object:
        if isinstance(value, list | tuple):
            return [text(item) for item in value]
        if hasattr(value, "size") and hasattr(value, "name"):  # an uploaded file
            return f"{value.name}:{value.size}"
        return str(getattr(value, "pk", value))

    said = {name: text(value) for name, value in form.cleaned_data.items() if name != "submission"}
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()


# A token answers a form posted again from the same rendering of the page: a double click
# (seconds), back and resend or a tab left open (hours, a weekend, a holiday). Thirty days
# is long past any of those; a form older still, posted again, runs as a new one would.
KEPT_FOR = timedelta(days=30)
# Rows deleted per statement: a short delete, so a backlog (the first run after an upgrade)
# never holds a long lock on the table the desk's forms write to.
EXPIRE_BATCH = 1_000


def expire(*, now: datetime | None = None) -> int:
    """Delete the submissions older than ``KEPT_FOR``, a batch at a time; how many."""
    cutoff = (now or timezone.now()) - KEPT_FOR
    deleted = 0
    while True:
        batch = list(
            FormSubmission.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :EXPIRE_BATCH
            ]
        )
        if not batch:
            return deleted
        deleted += FormSubmission.objects.filter(pk__in=batch).delete()[0]
