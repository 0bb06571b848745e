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


# Open enums by schema name, for the OpenAPI document (service.http.openapi).
ENUMS: dict[str, tuple[str, ...]] = {}


def OpenEnum(  # noqa: N802 - reads like a field class
    name: str, values: tuple[str, ...], *, nullable: bool = False, description: str = "", **kwargs
) -> fields.String:
    """A status clients must accept new values of: documented as one of the known
    values (the enum `name`) or any other string, so a generated client keeps
    parsing when a value is added."""
    ENUMS[name] = tuple(values)
    variants: list[dict] = [{"$ref": f"#/components/schemas/{name}"}, {"type": "string"}]
    if nullable:
        variants.append({"type": "null"})
    schema: dict = {"anyOf": variants}
    if description:
        schema["description"] = description
    return fields.String(allow_none=nullable, metadata={"openapi": schema, "description": description}, **kwargs)


def NamedEnum(name: str, values: tuple[str, ...], **kwargs) -> fields.String:  # noqa: N802
    """A closed set of values, validated, and documented once as the enum `name`
    (not one anonymous enum per place it appears)."""
    ENUMS[name] = tuple(values)
    return fields.String(
        validate=validate.OneOf(values), metadata={"openapi": {"$ref": f"#/components/schemas/{name}"}}, **kwargs
    )


def JsonValue(**kwargs) -> fields.Raw:  # noqa: N802
    """A custom field's or characteristic's value: text, number, boolean or null."""
    schema = {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}],
        "description": kwargs.pop("description", "typed by its definition; null clears it"),
    }
    return fields.Raw(allow_none=True, metadata={"openapi": schema}, **kwargs)


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
    """RFC 9457 problem details; each response lists the `code`s it may carry."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "stable snake_case; see each response"})
    errors = fields.List(fields.Nested(ProblemFieldError), required=True)
    requestId = fields.String(required=True)
    # RFC 6749's fields on the token endpoint's errors.
    error = fields.String(metadata={"description": "POST /oauth/token only: the RFC 6749 error code"})
    error_description = fields.String(metadata={"description": "POST /oauth/token only"})


class Live(Response):
    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


class Ready(Live):
    migration = fields.Integer(required=True, metadata={"description": "the latest applied migration"})
