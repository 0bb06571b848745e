"""The documentation site builds without a warning, and the hand-written metrics reference
lists what a running service exposes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    site = tmp_path / "site"
    for page in ("reference/configuration", "reference/api", "reference/errors", "tutorial/walk-through"):
        assert (site / page / "index.html").exists(), page
    assert (site / "openapi.json").read_text() == (ROOT / "docs" / "openapi.json").read_text()
    assert (site / "screenshots" / "queue-1280.png").exists()
    assert (
        "../../screenshots/queue-1280.png"
        in (site / "how-to" / "console-and-live-events" / "index.html").read_text()
    )


async def test_the_metrics_reference_lists_every_metric_and_job_a_service_exposes(client):
    scrape = await (await client.get("/metrics")).text()
    # Every family, without the _created series prometheus-client adds beside each counter.
    exposed = {
        name
        for name in re.findall(r"^# TYPE (\S+) \S+$", scrape, re.MULTILINE)
        if not name.endswith("_created")
    }
    jobs = set(re.findall(r'^scheduler_job_runs_total\{job="([^"]+)"', scrape, re.MULTILINE))
    page = (ROOT / "docs" / "reference" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?:counter|gauge|histogram) \|", page, re.MULTILINE))
    assert documented == exposed, (
        "docs/reference/metrics.md must list every metric the service exposes, and no other"
    )
    table = page[page.index("| `job` |") :]
    assert jobs and set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)) - {"job"} == jobs
