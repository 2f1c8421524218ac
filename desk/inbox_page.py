"""Which page of the notification inbox a request asks for: its ``before`` or ``after``."""

from django import forms
from django.utils.translation import gettext_lazy as _

# Outbox ids are a bigint sequence: anything above its largest value names no notification,
# and would not fit the query's parameter.
_LARGEST_OUTBOX_ID = 2**63 - 1

_NOT_A_PAGE = _("That link does not name a page of notifications; the newest are shown.")


def _cursor_field() -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=1,
        max_value=_LARGEST_OUTBOX_ID,
        error_messages={
            "invalid": _NOT_A_PAGE,
            "min_value": _NOT_A_PAGE,
            "max_value": _NOT_A_PAGE,
        },
    )


class InboxCursorForm(forms.Form):
    """``?before=<outbox id>`` for older notifications, ``?after=<outbox id>`` for newer.

    A wrong value (not a whole number, out of range, a NUL) is said on the page and the
    newest page shown instead, as the queue does with a wrong filter.
    """

    before = _cursor_field()
    after = _cursor_field()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError(_NOT_A_PAGE)
        return cleaned

    def cursor(self) -> dict:
        """``before`` and ``after`` for ``inbox_page``: none at all when any is wrong."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value is not None}

    def problem(self) -> str:
        return str(_NOT_A_PAGE) if self.is_bound and not self.is_valid() else ""
