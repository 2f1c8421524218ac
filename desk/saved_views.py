"""Saved views of the queue: save the queue as filtered, open a view, delete one.

Thin views: ``QueueFilterForm`` checks the filters as the queue does, ``SavedViewForm`` the
name, columns and team, and ``recovery.services.saved_views`` decides (a name once per
person, how many, who may share). The menu's counts are in ``desk.view_counts``.
"""

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from common.errors import PermissionDenied, RedressError
from common.form_errors import add_to_form, status_of
from desk import forms, selectors, view_counts
from desk.desk import QUEUE_URLS, render_queue, staff_required
from recovery import rules
from recovery.models import QueueScope, Team
from recovery.services import saved_views


@staff_required
def view_open(request, view_id: int):
    """The queue with the view's filters, sort and columns; another team's view is a 404."""
    view = view_counts.entry(request.user, view_id)
    if view is None:
        raise Http404(_("There is no such saved view among yours and your teams'."))
    return render_queue(request, view.scope, saved_view=view)


@staff_required
def view_new(request):
    """GET: the form, with the queue's filters (its GET parameters) carried along. POST: save
    the view and open it, or the form again with what is wrong (400)."""
    source = request.POST if request.method == "POST" else request.GET
    choices = selectors.queue_filter_choices()
    parameters = {
        key: source[key]
        for key in saved_views.VIEW_PARAMETERS
        if key in source and source[key].strip()
    }
    filters = forms.QueueFilterForm(
        parameters,
        teams=choices["team"],
        categories=choices["category"],
        root_causes=choices["root_cause"],
    )
    scope = source.get("scope") or QueueScope.TEAM
    scope_notice = ""
    if request.method == "GET" and scope not in QueueScope.values:
        # Only a hand-made link names no known queue: offer the default queue, and say so,
        # rather than a form that saves a view of nothing nameable.
        scope_notice = _(
            "There is no queue called “%(scope)s”: the view will be of the %(queue)s."
        ) % {
            "scope": scope,
            "queue": QueueScope.TEAM.label,
        }
        scope = QueueScope.TEAM
    shareable = rules.teams_to_share_views_with(request.user, dict(choices["team"]))
    form = forms.SavedViewForm(
        request.POST if request.method == "POST" else None,
        initial={"scope": scope},
        teams=choices["team"],
        offered=[(pk, name) for pk, name in choices["team"] if pk in shareable],
    )
    status = 200
    if request.method == "POST":
        if not filters.is_valid():
            # The filters came from a queue page's link: a wrong one is refused, not saved
            # in a view that would quietly show something else.
            for messages_of_field in filters.errors.values():
                for message in messages_of_field:
                    form.add_error(None, _("Filters: %(problem)s") % {"problem": message})
            status = 400
        elif form.is_valid():
            data = form.cleaned_data
            try:
                view = saved_views.saved_view_create(
                    owner=request.user,
                    name=data["name"],
                    scope=data["scope"],
                    parameters=parameters,
                    columns=data["columns"],
                    team_id=data["share_with"],
                )
            except PermissionDenied as error:
                # Only sharing is refused so, and only teams one may share with are offered:
                # a refused team is a wrong choice on the field, like any other.
                form.add_error("share_with", error.message)
                status = 400
            except RedressError as error:
                add_to_form(form, error)
                status = status_of(error)
            else:
                _forget_menus(request.user, view.team_id)
                messages.success(request, _("The view “%(name)s” is saved.") % {"name": view.name})
                return redirect("desk:saved-view", view.pk)
        else:
            status = 400
    return render(
        request,
        "desk/saved_view_form.html",
        {
            "form": form,
            "parameters": parameters,
            "described": _describe(filters, choices),
            "may_share": bool(shareable),
            # Empty when a posted queue is unknown: the form's error says so.
            "scope_label": QueueScope(scope).label if scope in QueueScope.values else "",
            "scope_notice": scope_notice,
            "queue_url": reverse(QUEUE_URLS.get(scope, QUEUE_URLS[QueueScope.TEAM])),
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def view_delete(request, view_id: int):
    """GET: ask, on a page of its own (no script needed). POST: delete the view and open the
    queue it was a view of, naming it."""
    try:
        if request.method == "GET":
            view = saved_views.saved_view_to_delete(view_id=view_id, actor=request.user)
        else:
            view = saved_views.saved_view_delete(view_id=view_id, actor=request.user)
    except RedressError as error:
        if status_of(error) == 404:
            raise Http404(error.message) from error
        return render(request, "403.html", {"exception": error.message}, status=status_of(error))
    if request.method == "GET":
        return render(request, "desk/saved_view_delete.html", {"view": view})
    _forget_menus(request.user, view.team_id)
    messages.success(request, _("The view “%(name)s” is deleted.") % {"name": view.name})
    return redirect(QUEUE_URLS[view.scope])


def _forget_menus(user, team_id: int | None) -> None:
    """The owner's menu, and every member's of the team the view is shared with: now, and
    again after commit (a page served in between could have cached the menu of before)."""
    user_ids = [user.pk]
    if team_id is not None:
        user_ids += list(
            Team.members.through.objects.filter(team_id=team_id).values_list("user_id", flat=True)
        )
    view_counts.forget(user_ids)
    transaction.on_commit(lambda: view_counts.forget(user_ids))


def _describe(filters, choices) -> list[tuple[str, str]]:
    """The filters in words, as (label, value) pairs, for the form to show what it saves."""
    names = {
        "team": dict(choices["team"]),
        "category": dict(choices["category"]),
    }
    described = []
    for name, field in filters.fields.items():
        value = filters.data.get(name)
        if not value or name == "page":
            continue
        shown = value
        if name in names:
            shown = names[name].get(int(value) if value.isdigit() else value, value)
        elif getattr(field, "choices", None):
            shown = {str(key): label for key, label in field.choices}.get(value, value)
        described.append((str(field.label), str(shown)))
    return described
