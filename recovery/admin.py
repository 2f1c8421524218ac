from django.contrib import admin

from recovery.models import (
    ApprovalLimit,
    Category,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    CorrectiveAction,
    Customer,
    IdempotencyKey,
    JourneyStage,
    Message,
    RecoveryAction,
    RecoveryGuideline,
    RootCause,
    RootCauseAlert,
    Survey,
    Team,
    Touchpoint,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]


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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "phone", "external_id", "segment"]
    search_fields = ["name", "email", "external_id"]
    raw_id_fields = ["user"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TimelineInline(ReadOnlyInline):
    model = ComplaintEvent
    fields = ["created_at", "type", "actor", "parameters"]
    readonly_fields = fields
    ordering = ["created_at", "id"]


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["created_at", "direction", "kind", "author", "body"]
    readonly_fields = fields


class RootCauseInline(ReadOnlyInline):
    model = ComplaintRootCause
    fields = ["root_cause", "is_primary"]
    readonly_fields = fields


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    """Complaints are changed through the lifecycle services; the admin shows them."""

    list_display = ["reference", "state", "subject", "customer", "team", "assignee", "received_at"]
    list_filter = ["state", "channel", "severity", "team"]
    search_fields = ["reference", "subject", "customer__name", "customer__email"]
    list_select_related = ["customer", "team", "assignee"]
    date_hierarchy = "received_at"
    inlines = [RootCauseInline, MessageInline, TimelineInline]
    readonly_fields = [
        "reference",
        "state",
        "customer",
        "outcome",
        "resolution_summary",
        "withdrawal_reason",
        "duplicate_of",
        "reopen_count",
        "received_at",
        "acknowledged_at",
        "resolved_at",
        "loop_closed_at",
        "withdrawn_at",
    ]
    raw_id_fields = ["assignee"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the services write (timeline, outbox, clocks): shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
    list_display = ["complaint", "type", "amount", "currency", "status", "proposed_by"]
    list_filter = ["status", "type", "currency"]
    list_select_related = ["complaint", "proposed_by"]


@admin.register(CorrectiveAction)
class CorrectiveActionAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "owner", "due_on", "done_at"]
    list_filter = ["status", "kind"]
    autocomplete_fields = ["root_causes", "complaints"]
    # Status moves through the service (it stamps dates and checks the order).
    readonly_fields = ["status", "done_at", "verified_at", "verification_note"]


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    list_display = ["complaint", "sent_at", "submitted_at", "csat", "ces", "nps"]
    list_select_related = ["complaint"]


@admin.register(RootCauseAlert)
class RootCauseAlertAdmin(ReadOnlyAdmin):
    list_display = ["root_cause", "week_start", "count", "baseline", "raised_at"]
