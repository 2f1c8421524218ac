"""One-time forms: the same rendering of a desk form, posted again, does what it asks once.

A double click, back and resend, or a refresh posts one rendering of a form again; two tabs
may post it at the same moment. Each rendering of a ``forms.OneTimeSubmission`` carries a
fresh token, and ``once`` runs the form's service under a ``FormSubmission`` row keyed by
it, in one transaction: the first post writes the row with what the service wrote, any
other post of that token writes nothing and is told it was already done.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction

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
