from pathlib import Path

import pytest

from service.settings import Settings, SettingsError


def test_defaults_follow_the_contract():
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.database_url is None
    assert settings.data_dir == Path(".data")
    assert settings.admin_token is None
    assert settings.expire_interval_seconds == 60
    assert settings.poll_interval_seconds == 5


def test_values_are_read_and_fractions_allowed():
    settings = Settings.from_env(
        {"PORT": "9000", "POLL_INTERVAL_SECONDS": "0.5", "MIGRATE_ON_START": "false", "ADMIN_TOKEN": "x" * 16}
    )
    assert settings.port == 9000
    assert settings.poll_interval_seconds == 0.5
    assert settings.migrate_on_start is False
    assert settings.admin_token == "x" * 16


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT must be a whole number"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL_SECONDS must be a number"),
        ({"EXPIRE_INTERVAL_SECONDS": "0"}, "EXPIRE_INTERVAL_SECONDS must be between"),
        ({"MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START must be true or false"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_the_event_loop_is_asyncio_unless_uvloop_is_asked_for_and_installed(monkeypatch):
    assert Settings.from_env({}).event_loop == "asyncio"
    assert Settings.from_env({"EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    with pytest.raises(SettingsError, match="EVENT_LOOP must be one of"):
        Settings.from_env({"EVENT_LOOP": "trio"})
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SettingsError, match="pip install 'reseller-ordering-api\\[uvloop\\]'"):
        Settings.from_env({"EVENT_LOOP": "uvloop"})


def test_the_readme_states_every_setting_with_its_default():
    """Every variable the service reads is in the README's configuration table, or in the
    same table on a page of docs/ (its heading `## Configuration`), with the default the
    code has (a new setting cannot go undocumented)."""
    import dataclasses
    import re

    root = Path(__file__).resolve().parents[2]
    source = (root / "service" / "settings.py").read_text()
    names = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', source)) - {"ASYNCIO", "UVLOOP", "DEBUG", "INFO", "WARNING", "ERROR"}
    readme = (root / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ")]
    for page in sorted((root / "docs").glob("*.md")):
        text = page.read_text()
        if "\n## Configuration\n" in text:
            section = text[text.index("\n## Configuration\n") + 1 :]
            end = section.find("\n## ")
            table += "\n" + (section if end < 0 else section[:end])
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 4:
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
                rows[name] = cells[1]
    # Settings added while the README is being rewritten into the docs site are documented
    # in a settings table of docs/ (name, default, bounds, what), with the code's default.
    for page in sorted((root / "docs").glob("*.md")):
        for line in page.read_text().splitlines():
            cells = [cell.strip() for cell in line.split("|")[1:-1]]
            if len(cells) == 4:
                for name in re.findall(r"^`([A-Z][A-Z0-9_]+)`$", cells[0]):
                    if name not in rows:
                        rows[name] = "`" + cells[1].strip("`").replace(",", "") + "`"
    assert names <= set(rows), names - set(rows)
    defaults = {f.name.upper(): f.default for f in dataclasses.fields(Settings)}
    for name, shown in rows.items():
        default = defaults.get(name)
        if isinstance(default, bool):
            assert shown == f"`{str(default).lower()}`", name
        elif isinstance(default, int | float) and not isinstance(default, bool):
            assert shown == f"`{default:g}`", (name, shown, default)
