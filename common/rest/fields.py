"""Serializer building blocks shared by every app's API."""

import calendar
import copy
import re
from datetime import date, datetime

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.utils import timezone
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers
from rest_framework.fields import SkipField
from rest_framework.settings import api_settings

from common.text import validate_single_line


def json_type_name(value) -> str:
    """The JSON name of a parsed value's type, for messages a client can act on."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is an error, not silently ignored.

    Text fields take JSON strings only: DRF would turn ``42`` into ``"42"``, which hides a
    client bug and is not what the OpenAPI schema promises.
    """

    def get_fields(self):
        """The declared fields, each copied for this serializer as DRF's ``get_fields`` does,
        but a plain field by a shallow copy: DRF deep-copies each by calling its constructor
        again, a tenth of a new complaint's CPU. A plain field holds nothing that varies until
        ``bind`` gives the copy its name and parent, and nothing here changes a field after
        that; nested serializers and list fields are still deep-copied."""
        return {
            name: copy.copy(field) if type(field) in _LEAF_INPUT_FIELDS else copy.deepcopy(field)
            for name, field in self._declared_fields.items()
        }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Expected a JSON object, got {json_type_name(data)}."]}
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        not_text = {
            name: [f"Expected a string, got {json_type_name(value)}."]
            for name, value in data.items()
            if isinstance(self.fields[name], serializers.CharField)
            and value is not None
            and not isinstance(value, str)
        }
        if not_text:
            raise serializers.ValidationError(not_text)
        return super().to_internal_value(data)


# A date written in the ISO form whose month or day does not exist (2026-02-30).
_ISO_DATE_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


class CalendarDateField(serializers.DateField):
    """A date as YYYY-MM-DD that tells an impossible date from a wrong format.

    DRF answers both with "Date has wrong format"; a client that sent 2026-02-30 used the
    right format and needs to hear the date does not exist.
    """

    def to_internal_value(self, value):
        if isinstance(value, str):
            shape = _ISO_DATE_SHAPE.fullmatch(value.strip())
            if shape:
                year, month, day = (int(part) for part in shape.groups())
                try:
                    date(year, month, day)
                except ValueError:
                    raise serializers.ValidationError(
                        _impossible_date(year, month, day), code="invalid"
                    ) from None
        return super().to_internal_value(value)


def _impossible_date(year: int, month: int, day: int) -> str:
    if not 1 <= month <= 12:
        return f"{year:04d}-{month:02d}-{day:02d} is not a date: there is no month {month}."
    if year < 1:
        return f"{year:04d}-{month:02d}-{day:02d} is not a date: years start at 0001."
    return f"{day} {calendar.month_name[month]} {year} is not a date."


class SingleLineCharField(serializers.CharField):
    """One line of text (``common.text.validate_single_line``).

    That check names a NUL with its position, so DRF's own "Null characters are not
    allowed." is dropped: one problem, one message.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(validator, ProhibitNullCharactersValidator)
        ]
        self.validators.append(validate_single_line)


# Input fields a shallow copy serves (exact classes: a subclass may keep state of its own).
_LEAF_INPUT_FIELDS = frozenset(
    {
        CalendarDateField,
        SingleLineCharField,
        drf_fields.BooleanField,
        drf_fields.CharField,
        drf_fields.ChoiceField,
        drf_fields.DateField,
        drf_fields.DateTimeField,
        drf_fields.DecimalField,
        drf_fields.EmailField,
        drf_fields.FloatField,
        drf_fields.IntegerField,
        drf_fields.SlugField,
        drf_fields.URLField,
        drf_fields.UUIDField,
    }
)


class Representation(serializers.Serializer):
    """A response shape, never read from a request: every field is read-only.

    The schema then marks each field ``readOnly`` and required (always present), which is
    what a client of the answer needs to know.

    Answers are rendered from a plan made once per class (``render_plan``), not from fields
    built for every serializer: DRF builds a model serializer's fields by introspecting the
    model each time one is made, which cost a fifth of a new complaint's answer. The plan
    gives the same answer as DRF's own ``to_representation`` (tests/api/test_render_plan.py).
    """

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.read_only = True
        return fields

    def to_representation(self, instance):
        plan = render_plan(type(self))
        if plan is None:
            return super().to_representation(instance)
        return _render(self, plan, instance)


# Fields whose reading and rendering use nothing but their own settings (no context, no
# parent): one instance per class serves every request and thread.
_PLAIN_FIELDS = (
    drf_fields.BooleanField,
    drf_fields.CharField,
    drf_fields.ChoiceField,
    drf_fields.DateField,
    drf_fields.DateTimeField,
    drf_fields.DecimalField,
    drf_fields.DurationField,
    drf_fields.FloatField,
    drf_fields.IntegerField,
    drf_fields.JSONField,
    drf_fields.ReadOnlyField,
    drf_fields.TimeField,
    drf_fields.UUIDField,
    relations.SlugRelatedField,
)
# Fields whose ``to_representation`` gives back a value of these exact types unchanged
# (``str(text)``, ``int(number)``, a JSON document as parsed): the plan hands such a value
# on without the call, which a long timeline made for every field of every event.
_UNCHANGED = {
    drf_fields.CharField: (str,),
    drf_fields.IntegerField: (int,),
    drf_fields.BooleanField: (bool,),
}
_PLAIN, _METHOD, _NESTED, _LIST, _DATETIME = range(5)
_plans: dict[type, tuple | None] = {}


def render_plan(serializer_class) -> tuple | None:
    """How ``serializer_class`` renders, field by field, or None where DRF's own way must
    serve (a field kind the plan does not know)."""
    try:
        return _plans[serializer_class]
    except KeyError:
        pass
    entries = []
    for field in serializer_class()._readable_fields:
        entry = _plan_entry(field)
        if entry is None:
            entries = None
            break
        entries.append(entry)
    plan = _plans[serializer_class] = None if entries is None else tuple(entries)
    return plan


def _plan_entry(field) -> tuple | None:
    if isinstance(field, serializers.SerializerMethodField):
        return (_METHOD, field.field_name, None, field.method_name, ())
    attrs = tuple(field.source_attrs)
    if isinstance(field, serializers.ListSerializer):
        child = type(field.child)
        if issubclass(child, Representation) and render_plan(child) is not None:
            return (_LIST, field.field_name, field, child, attrs)
        return None
    if isinstance(field, serializers.BaseSerializer):
        child = type(field)
        if issubclass(child, Representation) and render_plan(child) is not None:
            return (_NESTED, field.field_name, field, child, attrs)
        return None
    if _is_iso_datetime(field):
        return (_DATETIME, field.field_name, field, None, attrs)
    if type(field).to_representation is not drf_fields.Field.to_representation and isinstance(
        field, _PLAIN_FIELDS
    ):
        unchanged = _UNCHANGED.get(type(field), ())
        if type(field) is drf_fields.JSONField and not field.binary:
            unchanged = (dict, list, str, int, bool, float)
        return (_PLAIN, field.field_name, field, unchanged, attrs)
    return None


def _is_iso_datetime(field) -> bool:
    """A DRF DateTimeField that renders as its defaults do: ISO 8601 in the current zone."""
    if type(field) is not drf_fields.DateTimeField or hasattr(field, "timezone"):
        return False
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return isinstance(output, str) and output.lower() == drf_fields.ISO_8601 and settings.USE_TZ


def _iso(serializer, field, value) -> str:
    """``field.to_representation(value)`` for an aware datetime, asking for the current time
    zone once per serializer rather than once per value (DRF's own way looked it up for each
    date, a tenth of a complaint's answer)."""
    if type(value) is not datetime or value.tzinfo is None:
        return field.to_representation(value)
    zone = serializer.__dict__.get("_render_zone")
    if zone is None:
        zone = serializer.__dict__["_render_zone"] = timezone.get_current_timezone()
    try:
        text = value.astimezone(zone).isoformat()
    except OverflowError:
        return field.to_representation(value)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _value(field, attrs: tuple, instance):
    """``field.get_attribute(instance)`` for the common case of plain attributes and dict
    keys, at a fraction of the cost; anything else (a callable, a missing attribute, a
    related object that does not exist) goes to DRF's own reading, which knows what to do."""
    value = instance
    try:
        for attr in attrs:
            value = value[attr] if type(value) is dict else getattr(value, attr)
            if callable(value) and drf_fields.is_simple_callable(value):
                return field.get_attribute(instance)
    except Exception:
        return field.get_attribute(instance)
    return value


def _render(serializer, plan: tuple, instance) -> dict:
    """DRF's ``Serializer.to_representation`` over a plan: the same skips and nulls."""
    answer = {}
    for kind, name, field, extra, attrs in plan:
        if kind == _METHOD:
            answer[name] = getattr(serializer, extra)(instance)
            continue
        try:
            value = _value(field, attrs, instance)
        except SkipField:
            continue
        if value is None:
            answer[name] = None
        elif kind == _DATETIME:
            answer[name] = _iso(serializer, field, value)
        elif kind == _PLAIN:
            answer[name] = value if type(value) in extra else field.to_representation(value)
        else:
            child = _child(serializer, extra)
            # The child's own plan, unless its class renders otherwise.
            plan_of_child = (
                render_plan(extra)
                if extra.to_representation is Representation.to_representation
                else None
            )
            if kind == _NESTED:
                answer[name] = (
                    child.to_representation(value)
                    if plan_of_child is None
                    else _render(child, plan_of_child, value)
                )
            else:
                items = value.all() if isinstance(value, models.manager.BaseManager) else value
                answer[name] = (
                    [child.to_representation(item) for item in items]
                    if plan_of_child is None
                    else [_render(child, plan_of_child, item) for item in items]
                )
    return answer


def _child(serializer, child_class):
    """One serializer of ``child_class`` per answer, sharing the answer's context (for its
    method fields)."""
    children = serializer.__dict__.setdefault("_render_children", {})
    child = children.get(child_class)
    if child is None:
        child = children[child_class] = child_class(context=serializer.context)
    return child


class UserRefSerializer(Representation):
    id = serializers.IntegerField()
    username = serializers.CharField()
