"""Query-string filters of the complaint queue."""

import django_filters
from django import forms

from common.instant_fields import IsoInstantField
from recovery.models import Channel, Complaint, Priority, Severity, State


class InstantFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoInstantField


class NoBlankFilterForm(forms.Form):
    """A parameter given empty (``?received_before=``) is an error, not "no filter": the
    client meant to filter by something and would otherwise silently get everything."""

    def clean(self):
        cleaned = super().clean()
        for name in self.fields:
            if "" in self.data.getlist(name):
                self.add_error(name, "Give a value, or leave the parameter out.")
        return cleaned


class ComplaintFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    team = django_filters.CharFilter(field_name="team__slug")
    assignee = django_filters.CharFilter(field_name="assignee__username")
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    category = django_filters.CharFilter(field_name="category__slug")
    customer = django_filters.NumberFilter(field_name="customer_id")
    received_after = InstantFilter(field_name="received_at", lookup_expr="gte")
    received_before = InstantFilter(field_name="received_at", lookup_expr="lt")
    # ?customer_replied=true: resolved or loop-closed complaints the customer wrote on since.
    customer_replied = django_filters.BooleanFilter(
        field_name="customer_replied_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Complaint
        fields: list[str] = []
        form = NoBlankFilterForm
