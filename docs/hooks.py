"""MkDocs hook: the reference pages are rendered from the code at every build.

- reference/configuration.md  from the declarations in service/settings.py
- reference/limits.md         from service.limits.TABLE (an honest empty page while that module is absent)
- reference/errors.md         from the error tree in service/errors.py and the codes docs/openapi.json lists
- reference/events.md         from service/lifecycle.py
- reference/migrations.md     from sql/migrations/
- reference/api.md            from the committed docs/openapi.json (`python -m service openapi`)
- explanation/performance.md  gets the newest full run in bench/results/ where it says
  <!-- latest-benchmark-run -->

Nothing here is copied: a setting, error, event type, limit, migration or operation
added to the code appears in the next build. mkdocs.yml names this file under `hooks:`;
tests/unit/test_docs.py renders the same pages.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository's service/ and bench/, as the tests see them

BENCH_MARKER = "<!-- latest-benchmark-run -->"
GENERATED_NOTE = (
    '!!! note "Generated"\n    This page is rendered from {source} at every build of the documentation; '
    "edit the code, not the page.\n"
)


def _cell(text: Any) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- configuration -------------------------------------------------------------------------------


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float | int):
        return f"`{value:g}`"
    if isinstance(value, tuple):
        return "`" + ",".join(f"{v:g}" for v in value) + "`"
    return f"`{value}`"


def configuration_page() -> str:
    from service import settings

    rows = []
    for field in settings.declared():
        env = field.metadata["env"]
        rows.append(
            (
                f'<a id="{env}"></a>`{env}`',
                _default(field.default),
                field.metadata["kind"].bounds(),
                field.metadata["description"],
            )
        )
    return (
        "# Configuration\n\n"
        + GENERATED_NOTE.format(source="the declarations in `service/settings.py`")
        + "\nEverything comes from environment variables, read and validated once at start. A bad value "
        "ends the process with one line naming the variable, and exit code 2:\n\n"
        "```console\n$ PORT=http python -m service serve\nerror: PORT must be a whole number, got 'http'\n```\n\n"
        "Seconds may be fractions. An empty value means the default.\n\n"
        + _table(("variable", "default", "accepted", "what it does"), rows)
        + "\nTo add a setting, declare it as one field of `Settings` (see `service/settings.py`); it is "
        "read, validated and listed here from that one line.\n"
    )


# --- limits --------------------------------------------------------------------------------------


def limits_page() -> str:
    try:
        limits = importlib.import_module("service.limits")
    except ModuleNotFoundError as missing:
        if missing.name != "service.limits":
            raise
        return (
            "# Limits\n\n"
            + GENERATED_NOTE.format(source="`service.limits.TABLE`")
            + "\nNo limits are declared in this version: the module `service/limits.py`, which would "
            "declare them, does not exist yet. The bounds that do apply are settings: see "
            "[Configuration](configuration.md) (for example `RATE_LIMIT_PER_MINUTE` and "
            "`SSE_MAX_STREAMS_PER_CREDENTIAL`).\n"
        )
    rows = []
    for limit in limits.TABLE:
        setting = f"[`{limit.setting}`](configuration.md#{limit.setting})" if limit.setting else "fixed"
        rows.append((limit.name, limit.bound, setting, limit.answer))
    return (
        "# Limits\n\n"
        + GENERATED_NOTE.format(source="`service.limits.TABLE`")
        + "\nWhat the service bounds, where the bound comes from, and what a client gets when it "
        "reaches it.\n\n" + _table(("limit", "bound", "setting", "answer when reached"), rows)
    )


# --- errors --------------------------------------------------------------------------------------


def _error_classes() -> list[type]:
    importlib.import_module("service.app")  # every module that defines an error is imported by now
    from service import errors

    found, queue = [], [errors.ServiceError]
    while queue:
        kind = queue.pop(0)
        found.append(kind)
        queue.extend(sorted(kind.__subclasses__(), key=lambda k: k.__name__))
    return found


def _documented_codes(document: dict) -> tuple[dict[str, int], set[str]]:
    """How many operations list each problem code, and every field code of a 422."""
    problem: dict[str, int] = {}
    fields: set[str] = set()
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                for code in response.get("x-problem-codes", ()):
                    problem[code] = problem.get(code, 0) + 1
                fields.update(response.get("x-field-codes", ()))
    return problem, fields


def errors_page() -> str:
    from service import errors

    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    operations, field_codes = _documented_codes(document)
    rows, seen = [], set()
    for kind in _error_classes():
        if kind.code in seen:
            continue  # a subclass that only narrows the message (NotHttp is bad_request)
        seen.add(kind.code)
        parent = kind.__mro__[1] if kind is not errors.ServiceError else None
        if parent is errors.ServiceError:
            parent = None
        rows.append(
            (
                f'<a id="{kind.code}"></a>`{kind.code}`',
                kind.status,
                (kind.__doc__ or "").strip().splitlines()[0],
                f"`{parent.code}`" if parent is not None and parent.code != kind.code else "",
                f"`{kind.oauth_error}`" if kind.oauth_error else "",
                operations.get(kind.code, 0),
            )
        )
    rows.sort(key=lambda row: (row[1], row[0]))
    return (
        "# Error codes\n\n"
        + GENERATED_NOTE.format(source="the error tree in `service/errors.py` and `docs/openapi.json`")
        + "\nEvery error is an RFC 9457 `application/problem+json` body with a stable `code`:\n\n"
        "```json\n"
        '{"type": "/problems/order_not_draft", "title": "The order is not a Draft", "status": 409,\n'
        ' "detail": "The order is not a Draft", "code": "order_not_draft", "errors": [], '
        '"requestId": "…"}\n```\n\n'
        "A code's meaning never changes; a new situation gets a new code. Codes form a tree: a client that "
        "does not know a code can act on its parent (for example `order_not_draft` is a `conflict`). "
        "The token endpoint also sends RFC 6749's `error`. Each operation lists the codes it can answer in "
        "the [API reference](api.md) (`x-problem-codes` in `docs/openapi.json`).\n\n"
        + _table(("code", "status", "title", "a kind of", "OAuth `error`", "operations listing it"), rows)
        + "\n## Field codes\n\nA 422 names each invalid field in `errors[]` as "
        '`{"field", "code", "message"}`. The codes operations list (`x-field-codes`):\n\n'
        + "".join(f"- `{code}`\n" for code in sorted(field_codes))
    )


# --- events --------------------------------------------------------------------------------------


def events_page() -> str:
    from service import lifecycle

    described = getattr(lifecycle, "EVENT_DESCRIPTIONS", {})
    events = _table(
        ("type", "recorded when", "`data`"),
        [
            (f'<a id="{t}"></a>`{t}`', *described.get(t, ("(not described in `service/lifecycle.py`)", "")))
            for t in lifecycle.EVENT_TYPES
        ],
    )
    moves = _table(
        ("status", "may move to"),
        [
            (f"`{status}`", ", ".join(f"`{to}`" for to in sorted(targets)) or "— (final)")
            for status, targets in lifecycle.TRANSITIONS.items()
        ],
    )
    subscription_moves = _table(
        ("status", "may move to"),
        [
            (f"`{status}`", ", ".join(f"`{to}`" for to in sorted(targets)) or "— (final)")
            for status, targets in lifecycle.SUBSCRIPTION_TRANSITIONS.items()
        ],
    )
    paragraphs = (lifecycle.__doc__ or "").split("\n\n")
    diagram = paragraphs[1]
    subscription_diagram = next(p for p in paragraphs if lifecycle.ACTIVE in p and "──" in p)
    return (
        "# Events and statuses\n\n"
        + GENERATED_NOTE.format(source="`service/lifecycle.py`")
        + "\nEvery change to an order or a subscription writes one event in the same transaction as the change. "
        "`GET /api/orders/{orderId}/events` is one order's history, `GET /api/events` the reseller's feed, "
        "`GET /api/events/stream` the same feed live, and webhooks deliver each event (see the "
        "[webhooks guide](../how-to/webhooks.md)). An event is "
        '`{"id", "type", "occurredAt", "orderId", "accountId", "actor", "data"}`; `actor.type` is '
        "`client` for API calls and `system` for the scheduler's jobs.\n\n"
        "## Event types\n\n"
        + events
        + "\nClients must accept types they do not know: new ones are added without a new API version.\n\n"
        "## Order statuses\n\n```text\n"
        + diagram.strip("\n")
        + "\n```\n\n"
        + moves
        + "\nAn item's status is `null` while its order is not executing, then one of "
        + ", ".join(f"`{s}`" for s in lifecycle.ITEM_STATUSES)
        + ". `GET /api/orders?stage=` groups the statuses: "
        + ", ".join(f"`{s}`" for s in lifecycle.STAGES)
        + " (Confirmed is every status except "
        + ", ".join(f"`{s}`" for s in sorted(lifecycle.NOT_CONFIRMED))
        + ").\n\n"
        "## Subscription statuses and item actions\n\n"
        "A purchase item that completes becomes a subscription; an item naming one changes it "
        "([Subscriptions and change orders](../how-to/subscriptions.md)).\n\n```text\n"
        + subscription_diagram.strip("\n")
        + "\n```\n\n"
        + subscription_moves
        + "\nAn item's `action` is one of "
        + ", ".join(f"`{a}`" for a in lifecycle.ITEM_ACTIONS)
        + f" (`{lifecycle.PURCHASE}` unless it names a subscription). Clients must accept statuses "
        "and actions they do not know.\n"
    )


# --- migrations ----------------------------------------------------------------------------------


def migrations_page() -> str:
    from service import migrate

    found = migrate.discover(ROOT / "sql" / "migrations")
    rows = []
    for migration in found:
        comment = []
        for line in migration.sql.splitlines():
            if not line.startswith("--"):
                break
            comment.append(line.removeprefix("--").strip())
        first = re.split(r"(?<=\.)\s", " ".join(comment), maxsplit=1)[0]
        # The first sentence, without asides that point elsewhere or name a release.
        first = re.sub(r"\s*\([^)]*\)", "", re.sub(r"^v\d+(\.\d+)*\s+", "", first))
        first = first[:1].upper() + first[1:]
        rows.append((f"`{migration.filename}`", first))
    versions = {m.version for m in found}
    gaps = [v for v in range(1, max(versions, default=0)) if v not in versions]
    gap_text = ""
    if gaps:
        numbers = ", ".join(f"{v:04d}" for v in gaps)
        gap_text = (
            f"\nThere is no file numbered {numbers}. Numbers are handed out to changes while they are "
            "developed; a change that turned out to need no schema change leaves its number unused. The "
            "runner applies files in order of their numbers and needs no number to follow another.\n"
        )
    return (
        "# Migrations\n\n"
        + GENERATED_NOTE.format(source="the files in `sql/migrations/`")
        + f"\n`python -m service migrate` (or `serve`, unless `MIGRATE_ON_START=false`) applies these "
        f"{len(found)} files in order, each in its own transaction, and records each with its checksum; "
        "a file edited after it was applied stops the runner. Migrations are forward-only. After the "
        f'last one, `GET /health/ready` answers `"migration": {max(versions, default=0)}`.\n\n'
        + _table(("file", "what it does"), rows)
        + gap_text
    )


# --- the API -------------------------------------------------------------------------------------


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        _, section, kind, name = node["$ref"].split("/")
        node = document[section][kind][name]
    return node


def _type(schema: dict) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#schema-{name.lower()})"
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return kind + ": " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    return kind + (f" ({schema['format']})" if "format" in schema else "")


def _operation(document: dict, method: str, path: str, operation: dict) -> str:
    out = [f"### {method.upper()} `{path}`\n", f"{operation.get('summary', '')}\n"]
    if operation.get("description"):
        out.append(operation["description"] + "\n")
    security = operation.get("security")
    if security:
        out.append(
            "**Auth:** "
            + ", ".join(
                f"`{name}`" + (f" with `{' '.join(s)}`" if s else "")
                for req in security
                for name, s in req.items()
            )
            + "\n"
        )
    elif security == []:
        out.append("**Auth:** none\n")
    params = [_resolve(document, p) for p in operation.get("parameters", [])]
    params = [p for p in params if p["name"] not in ("X-Api-Version", "X-Request-Id")]
    if params:
        out.append(
            _table(
                ("parameter", "in", "type", "description"),
                [
                    (f"`{p['name']}`", p["in"], _type(p.get("schema", {})), p.get("description", ""))
                    for p in params
                ],
            )
        )
    body = operation.get("requestBody")
    if body:
        for media, content in body["content"].items():
            out.append(f"**Body** (`{media}`): {_type(content['schema'])}\n")
    rows = []
    for status, response in operation["responses"].items():
        response = _resolve(document, response)
        schema = next(iter(response.get("content", {}).values()), {}).get("schema")
        codes = ", ".join(f"[`{c}`](errors.md#{c})" for c in response.get("x-problem-codes", ()))
        rows.append((status, _type(schema) if schema else "", codes or response["description"]))
    out.append(_table(("status", "body", "codes / meaning"), rows))
    return "\n".join(out)


def _schema(document: dict, name: str, schema: dict) -> str:
    out = [f"### {name} {{#schema-{name.lower()}}}\n"]
    if schema.get("description"):
        out.append(schema["description"] + "\n")
    if "properties" in schema:
        required = set(schema.get("required", ()))
        out.append(
            _table(
                ("field", "type", "required", "description"),
                [
                    (
                        f"`{field}`",
                        _type(prop),
                        "yes" if field in required else "",
                        prop.get("description", ""),
                    )
                    for field, prop in schema["properties"].items()
                ],
            )
        )
    else:
        out.append(f"{_type(schema)}\n")
        if "discriminator" in schema:
            mapping = schema["discriminator"].get("mapping", {})
            out.append(
                f"Told apart by `{schema['discriminator']['propertyName']}`: "
                + ", ".join(f"`{k}` → {_type({'$ref': v})}" for k, v in mapping.items())
                + "\n"
            )
    return "\n".join(out)


def api_page() -> str:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    by_tag: dict[str, list[str]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            tag = (operation.get("tags") or ["Other"])[0]
            by_tag.setdefault(tag, []).append(_operation(document, method, path, operation))
    out = [
        "# API\n",
        GENERATED_NOTE.format(source="the committed `docs/openapi.json`"),
        (
            f"\n{document['info']['title']}, API version {document['info']['version']}. The machine-readable "
            "document is [`openapi.json`](../openapi.json) (OpenAPI 3.1); a running service serves the same "
            "document at `/api/openapi.json` and an interactive page at `/api/docs`. `python -m service openapi` "
            "prints it, and a test fails when the committed copy differs from what the code produces.\n"
        ),
        document["info"].get("description", ""),
        "\nEvery operation also takes `X-Api-Version` (absent or `"
        + document["info"]["version"]
        + "`) and `X-Request-Id`.\n",
    ]
    for tag in sorted(by_tag):
        out.append(f"## {tag}\n")
        out += by_tag[tag]
    out.append("## Schemas\n")
    for name in sorted(document["components"]["schemas"]):
        out.append(_schema(document, name, document["components"]["schemas"][name]))
    return "\n".join(out)


# --- the benchmark -------------------------------------------------------------------------------


def latest_flame() -> Path | None:
    """The newest flame graph python -m bench.variants --flame wrote to bench/results/."""
    found = sorted((ROOT / "bench" / "results").glob("flame-*.svg"))
    return found[-1] if found else None


# Where the site serves the newest flame graph (a copy, made at every build).
FLAME_PAGE = "explanation/flame-get-order.svg"


def _settings_text(settings: dict) -> str:
    env = settings["service_env"]
    if isinstance(env, str):  # runs before 2026-12-07 wrote one sentence
        return env
    why = settings.get("service_env_why", {})
    return "; ".join(f"`{name}={value}`" + (f" ({why[name]})" if name in why else "") for name, value in env.items())


def latest_full_run() -> Path | None:
    runs = []
    for path in sorted((ROOT / "bench" / "results").glob("[0-9]*.json")):
        results = json.loads(path.read_text())
        if results.get("mode", {}).get("name") == "full":
            runs.append(path)
    return runs[-1] if runs else None


def benchmark_section() -> str:
    path = latest_full_run()
    if path is None:
        return "No full run is recorded in `bench/results/` yet.\n"
    results = json.loads(path.read_text())
    mode, machine, settings = results["mode"], results["machine"], results["settings"]
    out = [
        (
            f"**Latest full run**: `bench/results/{path.name}` and its chart `{path.with_suffix('.png').name}`, "
            f"started {results['started_at']}: {machine['cpus']} cores, PostgreSQL {machine['postgres']} "
            f"(embedded), Python {machine['python']}, {results['data']['orders']:,} orders, "
            f"{mode['rounds']} alternating rounds of {mode['seconds']} s per concurrency.\n"
        ),
        (
            "**The settings it ran with.** The service runs with its defaults but these: "
            f"{_settings_text(settings)}; log level {settings['service_log_level']}; event loop "
            f"`{settings['event_loop']}`; {_pools_text(settings)}; wrk with {settings['wrk_threads']} thread. "
            "`RATE_LIMIT_PER_MINUTE` is raised so that the limiter still takes a token on every request, as in "
            "production, but never refuses the harness's single credential.\n"
        ),
    ]
    rows = []
    for entry in results["scenarios"]:
        service, ceiling = entry.get("service"), entry.get("ceiling")
        if not service or not ceiling:
            continue
        rows.append(
            (
                entry["title"],
                entry["concurrency"],
                f"{service['rps_median']:,.0f}",
                f"{ceiling['rps_median']:,.0f}",
                f"{entry['ratio']:.2f}×" if "ratio" in entry else "",
                f"{service['p99_ms']:.1f} / {ceiling['p99_ms']:.1f}",
            )
        )
    out.append(
        _table(
            (
                "scenario",
                "c",
                "service req/s",
                "ceiling req/s",
                "service/ceiling",
                "p99 ms service / ceiling",
            ),
            rows,
        )
    )
    writes = [e for e in results["scenarios"] if e["key"] in ("write_flow", "write_flow_keyed") and "service" in e]
    if writes:
        plain = {e["concurrency"]: e["service"]["rps_median"] for e in writes if e["key"] == "write_flow"}
        rows = [
            (
                e["concurrency"],
                "with a new key on every POST" if e["key"] == "write_flow_keyed" else "without a key",
                f"{e['service']['rps_median']:,.0f}",
                f"{e['ceiling']['rps_median']:,.0f}" if "ceiling" in e else "",
                f"{e['ratio']:.2f}×" if "ratio" in e else "",
                f"{e['service']['rps_median'] / plain[e['concurrency']]:.2f}×" if plain.get(e["concurrency"]) else "",
            )
            for e in sorted(writes, key=lambda e: (e["concurrency"], e["key"]))
        ]
        out.append(
            "\nThe write flow (create a draft, add an item, check out: requests per second), without and with "
            "an `Idempotency-Key`, against the ceiling writing the same rows (which ignores the key):\n"
        )
        out.append(_table(("c", "Idempotency-Key", "service req/s", "ceiling req/s", "service/ceiling",
                           "vs without a key"), rows))
    cpu = [e for e in results["scenarios"] if e["key"] == "get_order" and e.get("cpu_ratio") is not None]
    if cpu:
        out.append(
            "\nCPU time of the server process per GET order: "
            + "; ".join(
                f"c={e['concurrency']}: {e['service']['cpu_us_per_request']:.0f} µs for the service, "
                f"{e['ceiling']['cpu_us_per_request']:.0f} µs for the ceiling ({e['cpu_ratio']:.2f}×)"
                for e in cpu
            )
            + ".\n"
        )
    targets = [
        (
            t["target"],
            "—" if t["value"] is None else f"{t['value']:,}",
            t["limit"].split(" (")[0],
            {True: "yes", False: "**no**", None: "not measured"}[t["met"]],
        )
        for t in results["targets"]
    ]
    out.append("\nThe targets the harness judges (`bench/report.py`), as measured in this run:\n")
    out.append(_table(("target", "measured", "bound", "met"), targets))
    hooks = results.get("webhooks") or {}
    if hooks.get("throughput"):
        t, lag = hooks["throughput"], hooks.get("lag", {})
        out.append(
            f"\nWebhooks: {t['deliveries']:,} deliveries ({t['events']:,} events × {t['endpoints']} endpoints, "
            f"a local receiver) in {t['seconds']} s, {t['deliveries_per_second']:,} per second; from an order's "
            f"status change to its delivery p50 {lag.get('lag_p50_ms')} ms, p99 {lag.get('lag_p99_ms')} ms.\n"
        )
    expiry = results.get("expiry")
    if expiry:
        out.append(
            f"\nExpiry: {expiry['deleted']:,} expired drafts deleted in {expiry['seconds']:.1f} s "
            f"({expiry['drafts_per_second']:,}/s) while {expiry['load']} ran; its p99 "
            f"{expiry['during']['p99_ms']:.1f} ms against {expiry['idle']['p99_ms']:.1f} ms idle "
            f"({expiry['p99_ratio']}×).\n"
        )
    flame = latest_flame()
    if flame is not None:
        out.append(
            f"\nWhere a GET order's CPU time goes, sampled by py-spy under load: [the flame graph]"
            f"(flame-get-order.svg) (`bench/results/{flame.name}`, from `python -m bench.variants defaults "
            "--flame`; click a frame to zoom).\n"
        )
    return "\n".join(out)


def _pools_text(settings: dict) -> str:
    pools = settings.get("pools")
    if pools is None:
        return f"a pool of {settings['pool_size_each']} connections for each server"
    return pools


# --- MkDocs --------------------------------------------------------------------------------------


def _root_file(name: str, title: str) -> Callable[[], str]:
    """A page made of a file at the top of the repository (CHANGELOG.md, CONTRIBUTING.md)."""

    def render() -> str:
        text = (ROOT / name).read_text()
        return text if text.startswith("# ") else f"# {title}\n\n{text}"

    return render


def cli_page() -> str:
    import argparse

    from service.__main__ import _parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal's width; the page must not vary
    try:
        parser = _parser()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        summaries = {action.dest: action.help for action in commands._choices_actions}
        helps = {}
        for name, sub in commands.choices.items():
            sub.prog = f"python -m service {name}"
            helps[name] = sub.format_help().strip()
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    out = [
        "# Command line\n",
        GENERATED_NOTE.format(source="the command line's parser in `service/__main__.py`"),
        (
            "\n`python -m service COMMAND` (or `reseller-ordering COMMAND` once installed). Every command "
            "reads its settings from the environment ([Configuration](configuration.md)); a bad setting or "
            "a start that cannot succeed prints one line and exits with code 2.\n"
        ),
    ]
    for name, text in helps.items():
        summary = summaries.get(name) or ""
        out.append(f"## {name}\n\n{summary[:1].upper() + summary[1:]}.\n\n```text\n{text}\n```\n")
    return "\n".join(out)


PAGES: dict[str, Callable[[], str]] = {
    "reference/cli.md": cli_page,
    "changelog.md": _root_file("CHANGELOG.md", "Changelog"),
    "contributing.md": _root_file("CONTRIBUTING.md", "Contributing"),
    "reference/configuration.md": configuration_page,
    "reference/limits.md": limits_page,
    "reference/errors.md": errors_page,
    "reference/events.md": events_page,
    "reference/migrations.md": migrations_page,
    "reference/api.md": api_page,
}


def on_files(files, config):
    from mkdocs.structure.files import File

    for path, render in PAGES.items():
        files.append(File.generated(config, path, content=render()))
    flame = latest_flame()
    if flame is not None:
        files.append(File.generated(config, FLAME_PAGE, content=flame.read_bytes()))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if BENCH_MARKER in markdown:
        markdown = markdown.replace(BENCH_MARKER, benchmark_section())
    return markdown


def field_names() -> list[str]:
    """Every declared setting's variable (for tests)."""
    from service import settings

    return [f.metadata["env"] for f in dataclasses.fields(settings.Settings)]
