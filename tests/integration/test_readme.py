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


def run_as_a_reader(script: str, cwd: Path, *, leftovers: str) -> tuple[list[str], str]:
    """Run `script` in bash as a reader pastes it, on a free port instead of 8080 (which may be
    in use on a machine that runs the tests), from `cwd`. Then check that nothing answers on that
    port any more and nothing was left in `cwd`. The lines it printed, and what the variables
    named in `leftovers` hold afterwards ("none" for each one unset)."""
    port = str(free_port())
    env = service_env(PORT=port, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("DATA_DIR", None)
    probe = " ".join(f"${{{name}-none}}" for name in leftovers.split())
    run = subprocess.run(
        ["bash", "-c", script.replace("8080", port) + f'\necho "{probe}"\n'],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    stopped = subprocess.run(["curl", "-s", f"http://localhost:{port}/health/live"], check=False)
    assert stopped.returncode != 0, "the service it started still answers"
    assert not list(cwd.iterdir()), "it left files where it ran"
    return lines[:-1], lines[-1]


def test_the_demo_prints_what_the_readme_shows(tmp_path):
    demo = section(README.read_text(), "A five-minute demo")
    script, shown = fenced(demo, "bash")[0], fenced(demo, "text")[0]
    printed, left = run_as_a_reader(script, tmp_path, leftovers="CLIENT_ID B DATA_DIR")
    assert normalised("\n".join(printed)) == normalised(shown), (
        "The README's demo printed something else; if the change is meant, put this output in the README:\n"
        + "\n".join(printed)
    )
    assert left == "none none none", "the demo block left variables behind"


def test_the_tutorial_runs_as_written_and_stops_its_service(tmp_path):
    """The walk-through's blocks, one after the other in one bash, as a reader runs them."""
    tutorial = (ROOT / "docs" / "tutorial" / "walk-through.md").read_text()
    lines, left = run_as_a_reader(
        "\n".join(fenced(tutorial, "bash")), tmp_path, leftovers="SERVER CLIENT_ID R"
    )
    assert lines[0] == "ready"
    assert '{"id":1,"name":"Acme Cloud","edition":"Standard","accountId":1,"approvalRequired":false}' in lines
    assert any('"code": "required_values_missing"' in line for line in lines)
    assert "HTTP/1.1 202 Accepted" in lines and "Location: /api/orders/1/execute/status" in lines
    assert any(line.startswith('{"orderId":1,"status":"Completed"') for line in lines)
    assert 'WWW-Authenticate: Bearer error="insufficient_scope", scope="orders:write"' in lines
    assert re.fullmatch(r'\{"approvalRequired":true,"updatedAt":"[^"]+","updatedBy":"ro_[0-9a-f]{16}"\}', lines[-1])
    # The completed item became the customer's subscription.
    assert any(line.startswith('{"items":[{"id":1,"accountId":2,"accountName":"Globex","productId":1')
               and '"status":"Active"' in line for line in lines)
    assert left == "none none none", "the tutorial's last block leaves variables behind"
