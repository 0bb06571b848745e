"""The README as a newcomer follows it: its demo block, pasted into bash, prints what the
README says it prints, and leaves nothing running or set behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.process import free_port, service_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

# What must differ from one run to the next, and nothing else.
VARYING = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\d"), "<date>"),
    (re.compile(r"ro_[0-9a-f]{16}"), "ro_<id>"),
    (re.compile(r'"requestId": "[^"]+"'), '"requestId": "<id>"'),
]


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def normalised(output: str) -> str:
    for pattern, replacement in VARYING:
        output = pattern.sub(replacement, output)
    return output.strip()


def test_the_demo_prints_what_the_readme_shows(tmp_path):
    demo = section(README.read_text(), "A five-minute demo")
    (script,) = fenced(demo, "bash")[:1]
    shown = fenced(demo, "text")[0]
    port = str(free_port())  # 8080 may be in use on a machine that runs the tests
    env = service_env(PORT=port, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("DATA_DIR", None)
    run = subprocess.run(
        ["bash", "-c", script.replace("8080", port) + '\necho "left: ${CLIENT_ID-none} ${B-none}"\n'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    printed, _, left = run.stdout.rstrip("\n").rpartition("\n")
    assert normalised(printed) == normalised(shown), (
        "The README's demo printed something else; if the change is meant, put this output in the README:\n"
        + printed
    )
    assert left == "left: none none", "the demo block left variables behind"
    # It stopped its service: nothing answers on its port any more.
    probe = subprocess.run(
        ["curl", "-s", f"http://localhost:{port}/health/live"], capture_output=True, check=False
    )
    assert probe.returncode != 0
    assert not list(tmp_path.iterdir()), "the demo left files where it ran"


def test_the_tutorial_runs_as_written_and_stops_its_service(tmp_path):
    """The walk-through's blocks, one after the other in one bash, as a reader runs them."""
    tutorial = (ROOT / "docs" / "tutorial" / "walk-through.md").read_text()
    port = str(free_port())
    script = "\n".join(fenced(tutorial, "bash")).replace("8080", port)
    env = service_env(PORT=port, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("DATA_DIR", None)
    run = subprocess.run(
        ["bash", "-c", script + '\necho "left: ${SERVER-none} ${CLIENT_ID-none}"\n'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "ready"
    assert '{"id":1,"name":"Acme Cloud","edition":"Standard","accountId":1,"approvalRequired":false}' in lines
    assert any('"code": "required_values_missing"' in line for line in lines)
    assert "HTTP/1.1 202 Accepted" in lines and "Location: /api/orders/1/execute/status" in lines
    assert any(line.startswith('{"orderId":1,"status":"Completed"') for line in lines)
    assert 'WWW-Authenticate: Bearer error="insufficient_scope", scope="orders:write"' in lines
    assert lines[-2:] == ['{"approvalRequired":true}', "left: none none"]
    assert subprocess.run(["curl", "-s", f"http://localhost:{port}/health/live"], check=False).returncode != 0
    assert not list(tmp_path.iterdir())
