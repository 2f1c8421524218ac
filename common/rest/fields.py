"""Serializer building blocks shared by every app's API."""

from rest_framework import serializers


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


class Representation(serializers.Serializer):
    """A response shape, never read from a request: every field is read-only.

    The schema then marks each field ``readOnly`` and required (always present), which is
    what a client of the answer needs to know.
    """

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.read_only = True
        return fields


class UserRefSerializer(Representation):
    id = serializers.IntegerField()
    username = serializers.CharField()
