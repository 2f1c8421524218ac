from django.contrib import admin

from common.admin import ReadOnlyAdmin
from escalation.models import (
    BusinessCalendar,
    CalendarClosure,
    Clock,
    Escalation,
    EscalationLadder,
    EscalationLevel,
    SlaPolicy,
    SlaTarget,
)


class ClosureInline(admin.TabularInline):
    model = CalendarClosure
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "always_open", "holiday_country", "holiday_subdivision"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ClosureInline]


class LevelInline(admin.TabularInline):
    model = EscalationLevel
    extra = 0


@admin.register(EscalationLadder)
class EscalationLadderAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default"]
    inlines = [LevelInline]


class TargetInline(admin.TabularInline):
    model = SlaTarget
    extra = 0


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["position", "name", "is_active", "calendar", "ladder"]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    inlines = [TargetInline]


@admin.register(Clock)
class ClockAdmin(ReadOnlyAdmin):
    list_display = [
        "complaint",
        "kind",
        "state",
        "due_at",
        "escalation_level",
        "next_escalation_at",
    ]
    list_filter = ["kind", "state"]
    list_select_related = ["complaint"]
    search_fields = ["complaint__reference"]


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "complaint",
        "previous_level",
        "level",
        "target",
        "owner",
        "manual",
    ]
    list_filter = ["level", "manual", "target"]
    list_select_related = ["complaint", "owner"]
    search_fields = ["complaint__reference"]
