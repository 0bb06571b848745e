"""Reading what a client sent: JSON bodies, schemas, path ids, pages and cursors."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping
from typing import Any

import marshmallow
from aiohttp import web

from service.domain.events import START
from service.errors import (
    FieldError,
    MalformedJson,
    UnsupportedMediaType,
    ValidationFailed,
    field_error,
)
from service.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from service.schemas.common import MAX_ID

_MESSAGES = {"Unknown field.": "unknown_field", "Missing data for required field.": "required"}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Send the body as application/json")
    raw = await request.read()  # over client_max_size: 413 from aiohttp, made a problem
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJson(f"The body is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise MalformedJson("The body nests too deeply") from None


def _flatten(messages: Any, path: str) -> list[FieldError]:
    if isinstance(messages, Mapping):
        errors: list[FieldError] = []
        for key, value in messages.items():
            sub = (
                path
                if key == "_schema"
                else (f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key))
            )
            errors.extend(_flatten(value, sub))
        return errors
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [FieldError(path or "body", _MESSAGES.get(m, "invalid"), m) for m in messages]
    if isinstance(messages, list):
        return [e for m in messages for e in _flatten(m, path)]
    return [FieldError(path or "body", _MESSAGES.get(str(messages), "invalid"), str(messages))]


def load(schema: marshmallow.Schema, data: Any, *, many: bool | None = None) -> Any:
    """Validate with a marshmallow schema; 422 naming every bad field."""
    if many and not isinstance(data, list):
        # marshmallow iterates a collection's items before checking its type.
        raise field_error("body", "must be a list", code="invalid")
    try:
        return schema.load(data, many=many)
    except marshmallow.ValidationError as exc:
        errors = _flatten(exc.messages, "")
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors=errors
        ) from None


def path_id(request: web.Request, name: str) -> int:
    # Routes only match digits; anything that cannot be an id of ours is missing.
    return int(request.match_info[name])


def positive_id(value: Any, field: str) -> int:
    """An id from a query string or a cursor: 1 .. 2**63-1, or 422 naming the field."""
    if isinstance(value, str):
        value = int(value) if value.isdigit() and len(value) <= 19 else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise field_error(field, "must be a positive whole number within 64 bits")
    return value


def page_size(query: Mapping[str, str]) -> int:
    raw = query.get("pageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise field_error("pageSize", f"must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def encode_cursor(kind: str, key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, *key]).encode()).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str], kind: str, arity: int) -> list | None:
    raw = query.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        value = None
    if not isinstance(value, list) or len(value) != arity + 1 or value[0] != kind:
        raise invalid_cursor()
    return value[1:]


def page(items: list, next_key: list | None, kind: str) -> dict:
    return {"items": items, "nextCursor": encode_cursor(kind, next_key) if next_key else None}


def query_date(query: Mapping[str, str], name: str) -> datetime.date | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:  # fromisoformat also takes YYYYMMDD; the contract says YYYY-MM-DD
            raise ValueError(raw)
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise field_error(name, "must be a date YYYY-MM-DD") from None


def query_text(query: Mapping[str, str], name: str, *, max_length: int = 64) -> str | None:
    raw = query.get(name)
    if raw is not None and (len(raw) > max_length or "\x00" in raw):
        raise field_error(name, f"must be at most {max_length} characters")
    return raw


def query_id(query: Mapping[str, str], name: str) -> int | None:
    return positive_id(query[name], name) if name in query else None


def invalid_cursor() -> ValidationFailed:
    return field_error("cursor", "is not a cursor this list gave out", code="invalid_cursor")


FEED = "feed"


def feed_position(raw: str | None) -> tuple[int, int]:
    """A cursor of the events feed (GET /api/events, and the ids of its stream) as
    (xid, id); absent: the start of the feed."""
    if not raw:
        return START
    after = decode_cursor({"cursor": raw}, FEED, 2)
    if not all(isinstance(part, int) and not isinstance(part, bool) and 0 <= part < 2**63 for part in after):
        raise invalid_cursor()
    return after[0], after[1]


def feed_cursor(position: tuple[int, int]) -> str:
    return encode_cursor(FEED, list(position))


def id_after(query: Mapping[str, str], kind: str) -> int | None:
    """The id after which a list keyed by id goes on, from its cursor."""
    after = decode_cursor(query, kind, 1)
    return positive_id(after[0], "cursor") if after else None


def id_page(items: list[dict], size: int, kind: str) -> dict:
    """A list keyed by id; `items` holds one more than a page when there is a next page."""
    page_items = items[:size]
    return page(page_items, [page_items[-1]["id"]] if len(items) > size else None, kind)
