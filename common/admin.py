"""Admin bases for records that only the services write: shown, never edited by hand."""

from django.contrib import admin


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the services write (timeline, outbox, clocks): shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoChange:
    """Shown and deletable, never edited (an audit record whose deletion has a meaning)."""

    def has_change_permission(self, request, obj=None):
        return False
