from django.contrib import admin

from notifications.models import EmailDelivery, InboundEmail, MessageTemplate, Outbox
from recovery.admin import ReadOnlyAdmin


@admin.register(Outbox)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "complaint_id", "created_at", "delivered_at", "attempts"]
    list_filter = ["event_type", ("delivered_at", admin.EmptyFieldListFilter)]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["kind", "language", "regulatory_profile", "subject", "updated_at"]
    list_filter = ["kind", "language", "regulatory_profile"]


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "kind", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["recipient", "rfc_message_id"]


@admin.register(InboundEmail)
class InboundEmailAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "status", "sender", "subject", "complaint_id"]
    list_filter = ["status"]
    search_fields = ["sender", "subject", "fingerprint"]
    exclude = ["raw"]
