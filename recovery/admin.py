from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from common.admin import NoChange, ReadOnlyAdmin, ReadOnlyInline
from common.errors import RedressError
from common.form_errors import add_to_form
from common.text import validate_single_line
from recovery import field_rules, roles, second_factor
from recovery.admin_actions import COMPLAINT_ACTIONS, RECOVERY_ACTIONS
from recovery.models import (
    ApprovalLimit,
    Category,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    CorrectiveAction,
    Customer,
    CustomerContact,
    IdempotencyKey,
    JourneyStage,
    Message,
    RecoveryAction,
    RecoveryGuideline,
    RootCause,
    RootCauseAlert,
    RoutingRule,
    SsoIdentity,
    Survey,
    Team,
    Touchpoint,
    UnpickedAlert,
)
from recovery.models.routing import MATCH_FIELDS
from recovery.regulation_form import RegulationChangeForm
from recovery.services import prevention, regulation
from recovery.services.corrections import CORRECTABLE_FIELDS, complaint_correct_details


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_triage"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]

    def has_delete_permission(self, request, obj=None):
        # Deleting a team would take it off its complaints with no timeline event: a team
        # that ever held a complaint stays (rename it, or route nothing to it).
        if obj is not None and obj.complaints.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Rules route complaints received after they are saved; none is re-routed here (a
    complaint changes team through the desk's services, with its timeline)."""

    list_display = ["position", "name", "team", "is_active", "matches"]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "team"]
    list_select_related = ["team"]
    search_fields = ["name"]

    @admin.display(description=_("matches"))
    def matches(self, rule):
        parts = [
            f"{RoutingRule._meta.get_field(name).verbose_name}: {', '.join(values)}"
            for name in MATCH_FIELDS
            if isinstance(values := getattr(rule, name), list) and values
        ]
        return "; ".join(parts) or _("everything")


@admin.register(Category, Touchpoint)
class SlugNamedAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active"]
    list_filter = ["is_active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(JourneyStage)
class JourneyStageAdmin(admin.ModelAdmin):
    list_display = ["position", "name", "slug", "is_active"]
    list_display_links = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(RootCause)
class RootCauseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "parent", "owner", "touchpoint", "retired_at"]
    list_filter = [("retired_at", admin.EmptyFieldListFilter), "touchpoint"]
    autocomplete_fields = ["parent"]
    search_fields = ["code", "name"]
    list_select_related = ["parent__parent"]

    def has_delete_permission(self, request, obj=None):
        # Retire codes instead: resolutions that used them must keep their meaning.
        return False


class CustomerContactInline(ReadOnlyInline):
    # Authorised by accepting a held email on the desk (recovery.services.contacts).
    model = CustomerContact
    fields = ["email", "authorised_by", "authorised_at", "complaint"]
    readonly_fields = fields


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "phone", "external_id", "segment", "provisional"]
    list_filter = ["provisional"]
    search_fields = ["name", "email", "external_id"]
    raw_id_fields = ["user"]
    # Set by intake for an unproven address (recovery.services.address_proof), never by hand;
    # the address and the account decide where a complaint's emails go and who may read it,
    # so they change only through that proof, not by an edit that no timeline records.
    readonly_fields = ["provisional", "email", "user"]
    inlines = [CustomerContactInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "name" in form.base_fields:
            form.base_fields["name"].validators.append(validate_single_line)
        return form


class TimelineInline(ReadOnlyInline):
    model = ComplaintEvent
    fields = ["created_at", "type", "actor", "parameters"]
    readonly_fields = fields
    ordering = ["created_at", "id"]


class MessageInline(ReadOnlyInline):
    model = Message
    # Not ``merged_from``: a merged duplicate's messages are listed on the survivor.
    fk_name = "complaint"
    fields = ["created_at", "direction", "kind", "author", "body", "merged_from"]
    readonly_fields = fields


class RootCauseInline(ReadOnlyInline):
    model = ComplaintRootCause
    fields = ["root_cause", "is_primary"]
    readonly_fields = fields


class ComplaintCorrectionForm(forms.ModelForm):
    """Shows a correction that breaks a field's rule on the form, as every other entry does
    (the service refuses it too: ``recovery.field_rules``)."""

    def clean(self):
        cleaned = super().clean()
        changes = {name: cleaned[name] for name in self.changed_data if name in cleaned}
        for field, problems in field_rules.descriptive_problems(changes).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
        return cleaned


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    """Complaints change through the services; the admin shows them, corrects what they say
    (``complaint_correct_details``) and offers the services as actions."""

    form = ComplaintCorrectionForm

    list_display = ["reference", "state", "subject", "customer", "team", "assignee", "received_at"]
    list_filter = ["state", "channel", "severity", "team"]
    search_fields = ["reference", "subject", "customer__name", "customer__email"]
    list_select_related = ["customer", "team", "assignee"]
    date_hierarchy = "received_at"
    inlines = [RootCauseInline, MessageInline, TimelineInline]
    actions = COMPLAINT_ACTIONS
    # Every field but the descriptive ones: the workflow fields (state, assignee, hold,
    # escalation, deadlines) move with clocks and timeline through their own services, and
    # channel, category, severity and priority chose the SLA policy the clocks run on. The
    # regime moves legal deadlines: changed through its service, from the link it shows.
    readonly_fields = [
        *(
            field.name
            for field in Complaint._meta.concrete_fields
            if field.editable
            and not field.primary_key
            and field.name not in CORRECTABLE_FIELDS
            and field.name not in ("regulatory_profile", "jurisdiction", "sent_to_company_at")
        ),
        "reference",
        "regulation",
    ]
    exclude = ["regulatory_profile", "jurisdiction", "sent_to_company_at"]

    def save_model(self, request, obj, form, change):
        """Save a correction through the service, never the instance the form changed."""
        try:
            complaint_correct_details(
                complaint=obj,
                actor=request.user,
                changes={name: form.cleaned_data[name] for name in form.changed_data},
            )
        except RedressError as error:
            raise DjangoPermissionDenied(error.message) from error

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("regulatory regime"))
    def regulation(self, complaint):
        profile = complaint.regulatory_profile or _("none")
        where = complaint.jurisdiction or _("no jurisdiction")
        sent = (
            _(", sent to company %(at)s") % {"at": complaint.sent_to_company_at.isoformat()}
            if complaint.sent_to_company_at
            else ""
        )
        url = reverse("admin:recovery_complaint_regulation", args=[complaint.pk])
        return format_html(
            '{} ({}{}) — <a href="{}">{}</a>', profile, where, sent, url, _("change…")
        )

    def get_urls(self):
        return [
            path(
                "<int:complaint_id>/regulation/",
                self.admin_site.admin_view(self.regulation_view),
                name="recovery_complaint_regulation",
            ),
            *super().get_urls(),
        ]

    def regulation_view(self, request, complaint_id: int):
        """Change the regulatory regime through ``complaint_change_regulation``."""
        complaint = get_object_or_404(Complaint, pk=complaint_id)
        form = RegulationChangeForm(request.POST or None, complaint=complaint)
        if request.method == "POST" and form.is_valid():
            try:
                regulation.complaint_change_regulation(
                    complaint=complaint, actor=request.user, **form.changes()
                )
            except RedressError as error:
                add_to_form(form, error)
            else:
                self.message_user(request, _("Regulatory regime changed; deadlines re-planned."))
                return redirect("admin:recovery_complaint_change", complaint.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": complaint,
            "title": _("Change the regulatory regime of %(ref)s") % {"ref": complaint.reference},
            "form": form,
        }
        return render(request, "admin/recovery/complaint/regulation.html", context)


@admin.register(ComplaintEvent)
class ComplaintEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "complaint", "type", "actor"]
    list_filter = ["type"]
    list_select_related = ["complaint", "actor"]
    search_fields = ["complaint__reference"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "owner", "complaint", "created_at"]
    list_select_related = ["owner", "complaint"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApprovalLimit)
class ApprovalLimitAdmin(admin.ModelAdmin):
    list_display = ["role", "currency", "amount"]
    list_filter = ["role"]


@admin.register(RecoveryGuideline)
class RecoveryGuidelineAdmin(admin.ModelAdmin):
    list_display = ["root_cause", "severity", "type", "amount", "currency"]
    list_filter = ["type", "severity"]
    autocomplete_fields = ["root_cause"]


@admin.register(RecoveryAction)
class RecoveryActionAdmin(ReadOnlyAdmin):
    """Proposed on the desk; decided and delivered here only through the services."""

    list_display = ["complaint", "type", "amount", "currency", "status", "proposed_by"]
    actions = RECOVERY_ACTIONS
    list_filter = ["status", "type", "currency"]
    list_select_related = ["complaint", "proposed_by"]


@admin.register(CorrectiveAction)
class CorrectiveActionAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "owner", "due_on", "done_at"]
    list_filter = ["status", "kind"]
    autocomplete_fields = ["root_causes", "complaints"]
    # Status moves through the service (it stamps dates and checks the order); who opened
    # it and when are the service's to record.
    readonly_fields = [
        "status",
        "done_at",
        "verified_at",
        "verification_note",
        "created_by",
        "created_at",
    ]

    def has_add_permission(self, request):
        # Opening one links its complaints through the service, which asks for change too.
        return super().has_add_permission(request) and request.user.has_perm(
            "recovery.change_correctiveaction"
        )

    def get_readonly_fields(self, request, obj=None):
        # Linking a complaint writes an event on its timeline (the service does, on opening
        # and through the API's link endpoint); the admin does not change links afterwards.
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "complaints"] if obj is not None else fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            kwargs["queryset"] = roles.staff_members().order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        linked = [] if change else list(form.cleaned_data.pop("complaints", []))
        super().save_related(request, form, formsets, change)
        if linked:
            prevention.corrective_action_link(
                action_id=form.instance.pk,
                actor=request.user,
                complaints=[complaint.reference for complaint in linked],
            )


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    list_display = ["complaint", "sent_at", "submitted_at", "csat", "ces", "nps"]
    list_select_related = ["complaint"]


@admin.register(RootCauseAlert)
class RootCauseAlertAdmin(ReadOnlyAdmin):
    list_display = ["root_cause", "week_start", "count", "baseline", "raised_at"]


@admin.register(UnpickedAlert)
class UnpickedAlertAdmin(ReadOnlyAdmin):
    list_display = ["complaint", "team", "raised_at"]
    list_select_related = ["complaint", "team"]
    search_fields = ["complaint__reference"]


# -- API tokens (knox) ------------------------------------------------------------------
# Records, not settings: shown and deletable (revoking a token), never edited. Tokens are
# issued only to their owner's password (POST /api/auth/token/): an administrator minting
# one for someone else could act as them, hence no add page.

admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["token_key", "user", "created", "expiry"]
    list_select_related = ["user"]
    search_fields = ["token_key", "user__username"]
    fields = ["token_key", "user", "created", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# -- sign-in audit (axes) ---------------------------------------------------------------
# An audit is read, never edited; deleting an access attempt lifts its lockout.


class SignInAttemptAdmin(NoChange, axes_admin.AccessAttemptAdmin):
    """Failures counting towards a lockout; deleting one lifts its lockout."""


class SignInLogAdmin(NoChange, axes_admin.AccessLogAdmin):
    """Successful sign-ins (desk, admin and API token) with address and time."""


class SignInFailureLogAdmin(NoChange, axes_admin.AccessFailureLogAdmin):
    """Every failed sign-in, kept for the audit."""


for _model, _model_admin in [
    (AccessAttempt, SignInAttemptAdmin),
    (AccessLog, SignInLogAdmin),
    (AccessFailureLog, SignInFailureLogAdmin),
]:
    admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)


# -- second factor (django-otp) -----------------------------------------------------------
# A lost phone is recovered by removing the device: the owner then signs in with the password
# alone and enrols again. Only complaints managers and superusers may, and the admin's
# history records who did it to whom (LogEntry).

admin.site.unregister(get_user_model())
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class SecondFactorDeviceAdmin(admin.ModelAdmin):
    """Shown, and deletable (a reset); never added here: a device made by an administrator
    would give them its secret, so only the owner enrols (desk, Second factor)."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Which provider identity signs in as which account; deleting one unlinks it (the next
    single sign-on of that identity makes a new account)."""

    list_display = ["user", "issuer", "subject", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "subject"]
    fields = ["user", "issuer", "subject", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(get_user_model())
class RedressUserAdmin(UserAdmin):
    actions = ["reset_second_factor"]

    def has_delete_permission(self, request, obj=None):
        # An account's name is on timelines, messages and decisions; deleting it would blank
        # them with no trace. Deactivate it instead (unticking "active" revokes its tokens).
        return False

    @admin.action(description=_("Reset second factor (lost phone)"), permissions=["reset_2fa"])
    def reset_second_factor(self, request, queryset):
        count = 0
        for user in queryset:
            if second_factor.devices_reset(actor=request.user, user=user):
                self.log_change(request, user, "Second factor reset.")
                count += 1
        self.message_user(
            request, _("Second factor reset for %(count)d account(s).") % {"count": count}
        )

    def has_reset_2fa_permission(self, request):
        return second_factor.may_reset_devices(request.user)
