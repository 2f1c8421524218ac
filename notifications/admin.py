from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _

from common.admin import ReadOnlyAdmin
from escalation.regulatory import PROFILES
from notifications import rendering
from notifications.models import (
    EmailDelivery,
    InboundEmail,
    MessageTemplate,
    Outbox,
    StaffEmail,
)


@admin.register(Outbox)
class OutboxAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "complaint_id", "created_at", "delivered_at", "attempts"]
    list_filter = ["event_type", ("delivered_at", admin.EmptyFieldListFilter)]


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["kind", "language", "regulatory_profile", "subject", "body_text"]

    def _post_clean(self):
        super()._post_clean()
        # A template that cannot render must be refused when it is saved, not discovered
        # when a customer's email is due (the email would then be skipped).
        for field, problem in rendering.template_errors(self.instance).items():
            self.add_error(field, problem)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """Editable customer emails; saving checks they render, and *Preview* shows them."""

    form = MessageTemplateForm

    list_display = ["kind", "language", "regulatory_profile", "subject", "updated_at"]
    list_filter = ["kind", "language", "regulatory_profile"]
    change_form_template = "admin/notifications/messagetemplate/change_form.html"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="notifications_messagetemplate_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        """The template rendered for a sample complaint under a chosen regulatory profile."""
        template = self.get_object(request, unquote(object_id))
        if template is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        profiles = [("", _("No regulatory profile"))] + [
            (code, profile.name) for code, profile in sorted(PROFILES.items())
        ]
        profile = request.GET.get("profile", template.regulatory_profile)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": _("Preview: %(template)s") % {"template": template},
            "profiles": profiles,
            "profile": profile,
            "sample_customer": rendering.SAMPLE_CUSTOMER_NAME,
        }
        if profile not in dict(profiles):
            context["problem"] = _("Unknown regulatory profile %(profile)r; choose one below.") % {
                "profile": profile
            }
            return TemplateResponse(request, self._preview_template, context, status=400)
        errors = rendering.template_errors(template)
        if errors:
            context["errors"] = sorted(errors.items())
        else:
            subject, text, html = rendering.render(
                template, rendering.sample_context(template.kind, profile)
            )
            context.update(subject=subject, text=text, html=html)
        try:
            chosen = rendering.find_template(template.kind, template.language, profile)
        except rendering.TemplateMissing:
            chosen = None
        # A customer under this profile may be sent a more specific template than this one.
        context["used_instead"] = chosen if chosen is not None and chosen != template else None
        return TemplateResponse(request, self._preview_template, context)

    _preview_template = "admin/notifications/messagetemplate/preview.html"


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "recipient",
        "kind",
        "status",
        "attempts",
        "sent_at",
        "bounced_at",
        "bounce_status",
    ]
    list_filter = ["status", "kind", "bounce_permanent"]
    search_fields = ["recipient", "rfc_message_id"]


@admin.register(StaffEmail)
class StaffEmailAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "subject", "status", "attempts", "sent_at"]
    list_filter = ["status"]
    search_fields = ["recipient", "rfc_message_id"]


@admin.register(InboundEmail)
class InboundEmailAdmin(ReadOnlyAdmin):
    """Every email that came in. Held ones are reviewed on the desk, on the page of the
    complaint they were held on (``notifications.inbound_review``); here they are listed, all
    complaints together (filter by status "Held for review")."""

    list_display = [
        "received_at",
        "status",
        "sender",
        "subject",
        "complaint_id",
        "held_complaint_id",
        "authentication",
    ]
    list_filter = ["status"]
    search_fields = ["sender", "subject", "fingerprint", "rfc_message_id"]
    exclude = ["raw"]
