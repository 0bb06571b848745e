"""Field types and bases shared by every resource's schemas."""

from __future__ import annotations

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
)

MAX_ID = 2**63 - 1
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class Text(fields.String):
    """A string with a length bound and no NUL byte (PostgreSQL refuses NUL in text)."""

    def __init__(self, *, max_length: int = 200, min_length: int = 1, **kwargs) -> None:
        super().__init__(validate=validate.Length(min=min_length, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if not is_storable(result):
            raise ValidationError("Must be valid Unicode text without NUL characters.")
        return result


class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes "yes", 1 and "on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


def is_storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor lone UTF-16 surrogates (which JSON can smuggle in)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def Id(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def Name(**kwargs) -> fields.String:  # noqa: N802
    """A machine name of a custom field or characteristic."""
    error = "Must start with a letter and hold only letters, digits or _ (at most 64)."
    return fields.String(validate=validate.Regexp(NAME_PATTERN, error=error), **kwargs)


class Request(Schema):
    """Request bodies: unknown fields are errors; read-only fields are ignored."""

    read_only: tuple[str, ...] = ()

    class Meta:
        unknown = RAISE

    @pre_load
    def _drop_read_only(self, data, **kwargs):
        if isinstance(data, dict) and self.read_only:
            return {k: v for k, v in data.items() if k not in self.read_only}
        return data


class Response(Schema):
    class Meta:
        unknown = EXCLUDE


class ProblemFieldError(Response):
    field = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


class Problem(Response):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    errors = fields.List(fields.Nested(ProblemFieldError), required=True)
    requestId = fields.String(required=True)


class Live(Response):
    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


class Ready(Live):
    migration = fields.Integer(required=True, metadata={"description": "the latest applied migration"})
