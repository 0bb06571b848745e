"""The README and the documentation say what the code does: the generated reference pages
hold every setting, error, event type and migration; the hand-written pages name only
settings and migrations that exist; the README stays a short front door."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import pytest

from service import errors, lifecycle, migrate
from service.settings import Settings, declared

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hooks)

PAGES = sorted(DOCS.rglob("*.md"))
TEXTS = {path: path.read_text() for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *PAGES]}
# Variables the docs name that are not settings of the service, and where they come from.
OTHER_VARIABLES = {
    "PROMETHEUS_MULTIPROC_DIR": "set by the service for its WORKERS",
    "TCP_USER_TIMEOUT": "a socket option",
    "POSTGRES_PASSWORD": "deploy/compose.yaml's PostgreSQL",
    "HTTP_BIND": "deploy/compose.yaml",
    "HTTP_PORT": "deploy/compose.yaml",
    "FUZZ_EXAMPLES": "tests/integration/test_fuzz.py",
    "CONSOLE_SCREENSHOTS": "tests/integration/test_console.py",
    "APPROVER_ID": "printed by serve --demo's banner",
    "APPROVER_SECRET": "printed by serve --demo's banner",
    "EVENT_TYPES": "a name in service/lifecycle.py",
    "EVENT_DESCRIPTIONS": "a name in service/lifecycle.py",
}


def test_every_declared_setting_is_on_the_configuration_page_with_its_default_and_bounds():
    page = hooks.configuration_page()
    rows = {
        re.search(r"`([A-Z0-9_]+)`", line)[1]: [cell.strip() for cell in line.split(" | ")]
        for line in page.splitlines()
        if line.startswith('| <a id="')
    }
    fields = list(declared())
    assert [f.metadata["env"] for f in fields] == list(rows)
    for field in fields:
        row = rows[field.metadata["env"]]
        assert row[1] == hooks._default(field.default), field.name
        assert row[2] == field.metadata["kind"].bounds(), field.name
        assert row[3].rstrip(" |") == " ".join(field.metadata["description"].split())


def test_every_field_of_settings_is_declared_with_its_variable_and_sentence():
    for field in dataclasses.fields(Settings):
        assert {"env", "kind", "description"} <= set(field.metadata), (
            f"Settings.{field.name} is not declared with setting(...): from_env would not read it"
        )
        assert field.metadata["description"].endswith("."), field.name
    assert Settings.from_env({}) == Settings()


def test_the_docs_name_only_settings_that_exist():
    settings = {f.metadata["env"] for f in declared()}
    for path, text in TEXTS.items():
        for name in re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", text):
            assert name in settings or name in OTHER_VARIABLES, (
                f"{path.relative_to(ROOT)} names {name}, which is no setting: declare it in "
                "service/settings.py or list it in OTHER_VARIABLES here with where it comes from"
            )


def test_the_docs_name_only_migrations_that_exist_and_the_reference_lists_them_all():
    files = {m.filename for m in migrate.discover(ROOT / "sql" / "migrations")}
    for path, text in TEXTS.items():
        for name in re.findall(r"\b\d{4}_[a-z0-9_]+\.sql\b", text):
            assert name in files, f"{path.relative_to(ROOT)} names {name}, which is not in sql/migrations/"
    page = hooks.migrations_page()
    assert set(re.findall(r"`(\d{4}_[a-z0-9_]+\.sql)`", page)) == files
    assert f"{len(files)} files" in page


def test_the_error_page_lists_every_code_of_the_error_tree():
    page = hooks.errors_page()
    codes = {kind.code for kind in hooks._error_classes()}
    assert {errors.OrderNotDraft.code, errors.DatabaseUnavailable.code} <= codes
    for code in codes:
        assert f'<a id="{code}"></a>`{code}`' in page, code


def test_the_events_page_lists_every_event_type_and_status():
    page = hooks.events_page()
    for event in lifecycle.EVENT_TYPES:
        assert f'<a id="{event}"></a>`{event}`' in page
        assert event in lifecycle.EVENT_DESCRIPTIONS, f"describe {event} in service/lifecycle.py"
    for status in lifecycle.ORDER_STATUSES:
        assert f"| `{status}` |" in page


def test_the_api_page_shows_every_operation_of_the_committed_document():
    import json

    document = json.loads((DOCS / "openapi.json").read_text())
    page = hooks.api_page()
    for path, item in document["paths"].items():
        for method in item:
            assert f"### {method.upper()} `{path}`" in page
    for name in document["components"]["schemas"]:
        assert f"{{#schema-{name.lower()}}}" in page


def test_the_limits_page_renders_the_declared_table_or_says_there_is_none():
    page = hooks.limits_page()
    if importlib.util.find_spec("service.limits") is None:
        assert "No limits are declared" in page
        return
    from service.limits import TABLE

    assert TABLE, "service.limits.TABLE is empty"
    for limit in TABLE:
        assert limit.name in page and limit.answer.split()[0] in page


def test_the_performance_page_shows_the_latest_full_run_and_its_settings():
    latest = hooks.latest_full_run()
    section = hooks.benchmark_section()
    assert latest.name in section
    assert "RATE_LIMIT_PER_MINUTE=1000000" in section
    # Every target the run judged, with its verdict: a missed one shows as missed.
    for target in json.loads(latest.read_text())["targets"]:
        verdict = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        assert f"| {target['limit'].split(' (')[0]} | {verdict} |" in section, target
    assert hooks.BENCH_MARKER in (DOCS / "explanation" / "performance.md").read_text()


def test_the_performance_page_links_the_newest_flame_graph():
    flame = hooks.latest_flame()
    assert flame is not None, "python -m bench.variants defaults --flame writes one to bench/results/"
    assert "(flame-get-order.svg)" in hooks.benchmark_section() and flame.name in hooks.benchmark_section()
    assert hooks.FLAME_PAGE == "explanation/flame-get-order.svg"


# --- the README ----------------------------------------------------------------------------------

README = TEXTS[ROOT / "README.md"]


def test_the_readme_is_a_short_front_door():
    assert len(README.split()) <= 1500
    first_block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)[1]
    assert "python3 -m venv .venv" in first_block and "pip install -e" in first_block
    assert "python -m service serve\n" in README and "python -m pytest\n" in README
    assert "python -m pytest\n" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("words", ["the contract", "v3.1", "the speed issue", "budget", "the issue"])
def test_the_readme_uses_no_words_a_reader_cannot_resolve(words):
    assert words not in README.lower()


def test_links_point_at_files_in_the_repository():
    for path in (ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text()):
            assert not target.startswith(("../", "/")), (path.name, target)
            if target.startswith(("http://", "https://")):
                assert target.startswith(("http://localhost", "http://127.0.0.1")), (path.name, target)
                continue
            assert (ROOT / target).exists(), (path.name, target)


def test_shell_blocks_are_bash():
    for path, text in TEXTS.items():
        assert not re.search(r"^\s*```(sh|shell)$", text, re.MULTILINE), (
            f"{path.relative_to(ROOT)}: use ```bash"
        )


def test_the_release_is_one_version_everywhere():
    """pyproject.toml's version is the newest release in CHANGELOG.md, the one the Dockerfile
    installs and the image the manifests run."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert releases and releases[0] == version
    assert f"reseller-ordering-api=={version}" in (ROOT / "Dockerfile").read_text()
    for manifest in ("deployment.yaml", "migrate-job.yaml"):
        text = (ROOT / "deploy" / "kubernetes" / manifest).read_text()
        assert re.findall(r"image: \S+:(\S+)", text) == [version], manifest
