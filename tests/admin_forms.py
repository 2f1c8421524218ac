"""Rebuilding the POST an admin page sends, from the form it was rendered with.

A test fetches an add or change page, takes the data a browser would submit (every field's
initial value, each inline formset with its management form), fills valid values into the
required fields left empty, and posts it back.
"""

from datetime import date, timedelta

from django import forms
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper


class GenericValues:
    """A valid value for an empty required form field, by the field's type.

    Dates and times rise with each value given, so that a form's "ends" field (given after
    its "starts" field) lands after it, as the closure's constraint requires.
    """

    first_day = date(2030, 1, 7)

    def __init__(self):
        self.days = 0

    def next_day(self) -> date:
        self.days += 1
        return self.first_day + timedelta(days=self.days)

    def __call__(self, bound: forms.BoundField) -> dict:
        field, name = bound.field, bound.html_name
        if isinstance(field, forms.SplitDateTimeField):
            return {f"{name}_0": self.next_day().isoformat(), f"{name}_1": "09:00:00"}
        if isinstance(field, forms.DateTimeField):
            return {name: f"{self.next_day().isoformat()} 09:00:00"}
        if isinstance(field, forms.DateField):
            return {name: self.next_day().isoformat()}
        if isinstance(field, forms.ModelMultipleChoiceField):
            return {name: [str(field.queryset.first().pk)]}
        if isinstance(field, forms.ModelChoiceField):
            return {name: str(field.queryset.first().pk)}
        if isinstance(field, forms.ChoiceField):
            return {name: next(str(value) for value, _ in field.choices if value != "")}
        if isinstance(field, forms.IntegerField | forms.DecimalField | forms.FloatField):
            return {name: str(max(1, field.min_value or 0))}
        if isinstance(field, forms.EmailField):
            return {name: f"{bound.name}@example.com"}
        if isinstance(field, forms.SlugField) or is_plain_text(field):
            # Lower case and hyphens: valid for slugs, codes and usernames alike.
            text = f"admin-{bound.name}".replace("_", "-")
            return {name: text[: field.max_length]}
        raise LookupError(f"no generic value for {name} ({type(field).__name__}); give one")


def is_plain_text(field: forms.Field) -> bool:
    # Text with no format of its own (a name, a subject, a code): a suffix keeps it valid.
    formatted = (
        forms.EmailField,
        forms.URLField,
        forms.SlugField,
        forms.RegexField,
        forms.UUIDField,
    )
    return (
        isinstance(field, forms.CharField)
        and not isinstance(field, formatted)
        and not isinstance(field.widget, forms.PasswordInput)
    )


def submitted(bound: forms.BoundField) -> dict:
    """What a browser sends for the field as rendered: its initial value."""
    field = bound.field
    widget = field.widget
    if isinstance(widget, RelatedFieldWidgetWrapper):
        widget = widget.widget
    value = bound.value()
    if field.disabled:
        return {}
    if isinstance(widget, forms.CheckboxInput):
        return {bound.html_name: "on"} if value else {}
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, list | tuple) else widget.decompress(value)
        return {
            f"{bound.html_name}{suffix}": sub.format_value(part) or ""
            for suffix, sub, part in zip(widget.widgets_names, widget.widgets, parts, strict=True)
        }
    shown = widget.format_value(value)
    return {bound.html_name: "" if shown is None else shown}


def is_empty(value) -> bool:
    return value in (None, "", [], ())


def form_data(form, fill: GenericValues | None) -> dict:
    """The form as rendered, with ``fill`` giving each empty required field a value."""
    data = {}
    for bound in form:
        if fill and bound.field.required and not bound.field.disabled and is_empty(bound.value()):
            data.update(fill(bound))
        else:
            data.update(submitted(bound))
    return data


def page_data(page, *, fill: GenericValues | None, add_inline_rows: bool) -> dict:
    """The main form and every inline formset (management form, rows, one new row if asked)."""
    data = form_data(page.context["adminform"].form, fill)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({bound.html_name: bound.value() for bound in management})
        for form in formset.forms:
            data.update(form_data(form, fill))
        if add_inline_rows and inline.has_add_permission:
            index = len(formset.forms)
            empty = formset.empty_form
            empty.prefix = formset.add_prefix(index)
            data.update(form_data(empty, fill))
            data[management["TOTAL_FORMS"].html_name] = str(index + 1)
    return data


def edited_field(form) -> str | None:
    """A plain text field of ``form`` the change can alter, if it has one."""
    for bound in form:
        if (
            is_plain_text(bound.field)
            and not bound.field.disabled
            and len(f"{bound.value() or ''}-edited") <= (bound.field.max_length or 1000)
        ):
            return bound.name
    return None


def page_errors(page) -> list:
    """The validation errors a 200 answer to a POST shows, to say why the save failed."""
    if page.context is None or "adminform" not in page.context:
        return [page.status_code]
    inline_errors = [inline.formset.errors for inline in page.context["inline_admin_formsets"]]
    inline_errors += [
        inline.formset.non_form_errors() for inline in page.context["inline_admin_formsets"]
    ]
    return [page.context["adminform"].form.errors, inline_errors]
