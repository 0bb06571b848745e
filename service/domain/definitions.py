"""Typed values of custom fields and characteristics, validated one way for both.

A definition is {"name", "label", "type", "required", "options"}; a value is
JSON. `null` clears a value.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from service.errors import FieldError, ValidationFailed
from service.schemas.common import is_storable

TYPES = ("text", "number", "boolean", "date", "select")
MAX_TEXT = 1000
MAX_NUMBER = 1e15


def check(definition: Mapping[str, Any], value: Any) -> str | None:
    """Return why `value` does not fit `definition`, or None when it does."""
    if value is None:
        return None
    kind = definition["type"]
    if kind == "text":
        if not isinstance(value, str):
            return "must be a string"
        if len(value) > MAX_TEXT:
            return f"must be at most {MAX_TEXT} characters"
        if not is_storable(value):
            return "must be valid Unicode text without NUL characters"
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            return f"must be a finite number within ±{MAX_NUMBER:.0e}"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return "must be true or false"
    elif kind == "date":
        if not isinstance(value, str) or len(value) != 10:
            return "must be a date YYYY-MM-DD"
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return "must be a date YYYY-MM-DD"
    elif kind == "select":
        options = definition["options"]
        if not isinstance(value, str) or value not in options:  # options are validated text
            return f"must be one of: {', '.join(options)}"
    return None


def validate_entries(
    entries: Sequence[Mapping[str, Any]],
    definitions: Mapping[str, Mapping[str, Any]],
    *,
    field: str,
) -> dict[str, Any]:
    """Check every [{"name","value"}] entry before any is written; all or nothing."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for index, entry in enumerate(entries):
        name = entry["name"]
        where = f"{field}[{index}]"
        definition = definitions.get(name)
        if definition is None:
            errors.append(FieldError(f"{where}.name", "unknown_name", f"{name!r} is not defined"))
            continue
        if name in values:
            errors.append(FieldError(f"{where}.name", "duplicate_name", f"{name!r} is given twice"))
            continue
        problem = check(definition, entry["value"])
        if problem:
            errors.append(FieldError(f"{where}.value", "invalid_value", f"{name}: {problem}"))
            continue
        values[name] = entry["value"]
    if errors:
        raise ValidationFailed("Some values are not valid; nothing was changed", errors=errors)
    return values


def missing_required(definitions: Iterable[Mapping[str, Any]], values: Mapping[str, Any]) -> list[str]:
    return [d["name"] for d in definitions if d["required"] and values.get(d["name"]) is None]


def listing(definitions: Iterable[Mapping[str, Any]], values: Mapping[str, Any]) -> list[dict]:
    """The wire form: [{"name","label","type","required","options","value"}]."""
    return [
        {
            "name": d["name"],
            "label": d["label"],
            "type": d["type"],
            "required": d["required"],
            "options": list(d["options"] or []),
            "value": values.get(d["name"]),
        }
        for d in definitions
    ]
