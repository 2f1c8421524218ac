"""The desk page where a signed-in user sees and revokes their own API tokens."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from common.errors import NotFound
from desk.desk import staff_required
from recovery.services import api_tokens


@staff_required
def token_list(request):
    tokens = api_tokens.api_tokens_of(request.user)
    return render(request, "desk/api_tokens.html", {"tokens": tokens, "nav": "tokens"})


@require_POST
@staff_required
def token_revoke(request, key: str):
    try:
        api_tokens.api_token_revoke(user=request.user, token_key=key)
    except NotFound as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Token %(key)s… revoked.") % {"key": key})
    return redirect("desk:api-tokens")


@require_POST
@staff_required
def token_revoke_all(request):
    count = api_tokens.api_tokens_revoke_all(user=request.user)
    messages.success(request, _("%(count)d token(s) revoked.") % {"count": count})
    return redirect("desk:api-tokens")
