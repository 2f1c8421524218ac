"""Files on the web pages: checking what a form uploaded, and handing stored files out.

A download is always an attachment (never shown in the browser), typed as what its bytes
are (``recovery.services.attachments``), with ``X-Content-Type-Options: nosniff`` and a
file name made safe when it was stored. Staff download from the desk (the complaint page's
access rule: 404, or 403 for staff outside its queue); the customer from the tracking page,
whose signed link names the one complaint whose files it hands out.
"""

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from common.errors import NotFound, OutsideYourQueue
from desk.desk import _refused, staff_required
from desk.portal import _complaint_of, answers_bad_links
from recovery import attachment_selectors
from recovery.services import attachments


def _download(attachment) -> FileResponse:
    try:
        content = attachments.attachment_content(attachment)
    except FileNotFoundError as error:
        raise Http404(_("This file is no longer stored.")) from error
    response = FileResponse(
        content,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # A download is private to whoever may see the complaint: no shared cache keeps it.
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_safe
@staff_required
def desk_download(request, reference: str, attachment_id: int):
    try:
        found = attachment_selectors.staff_attachment(
            reference=reference, attachment_id=attachment_id, user=request.user
        )
    except OutsideYourQueue as error:
        return _refused(request, error.reference, error.team_name)
    except NotFound as error:
        raise Http404(error.message) from error
    return _download(found)


@require_safe
@answers_bad_links
def track_download(request, token: str, attachment_id: int):
    complaint = _complaint_of(token)
    try:
        found = attachment_selectors.complaint_attachment(
            complaint=complaint, attachment_id=attachment_id
        )
    except NotFound as error:
        return render(request, "portal/link_invalid.html", {"message": error.message}, status=404)
    return _download(found)
