"""The Grafana dashboard and the Prometheus alert rules under deploy/: they
parse, the rules are well formed, and every metric they query is one the
service's /metrics actually exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.metrics_support import Scrape

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "reseller-ordering.json"

# Series Prometheus makes itself, not the service.
PROMETHEUS_OWN = {"up"}
KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
}
FUNCTIONS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "irate", "histogram_quantile",
    "topk", "bottomk", "abs", "clamp_min", "clamp_max", "delta", "absent", "time",
}
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
SEVERITIES = {"critical", "warning", "info"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, which may look like anything
    text = re.sub(r"\{[^{}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\boffset\s+\S+", "", text)
    names = set()
    for match in re.finditer(r"(?<![0-9.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match[0]
        if text[match.end():].lstrip().startswith("("):
            assert word in FUNCTIONS, f"unknown PromQL function {word!r} in {expr!r}"
            continue
        if word not in KEYWORDS:
            names.add(word)
    return names


def balanced(expr: str) -> bool:
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                return False
    return not stack


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture
async def exposed(client) -> Scrape:
    await client.get("/health/live")  # a request, so the histogram has series
    response = await client.get("/metrics")
    assert response.status == 200
    return Scrape(await response.text())


def test_the_extractor_finds_metrics_and_skips_the_rest():
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket'
        '{job=~"$j", route="/api/orders/{order_id}"}[$__rate_interval]))) > bool 0.5 or up offset 5m'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up"}
    assert balanced(expr) and not balanced("sum(rate(x[5m])")


def test_alert_rules_are_well_formed():
    document = yaml.safe_load(ALERTS.read_text())
    assert document["groups"] and all(group["name"] and group["rules"] for group in document["groups"])
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        fields = {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert set(rule) <= fields, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert isinstance(rule["expr"], str) and balanced(rule["expr"]), rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    # What the issue asks the rules to watch.
    watched = set().union(*(metric_names(rule["expr"]) for rule in rules))
    assert {
        "execution_oldest_pending_age_seconds",
        "webhook_oldest_pending_age_seconds",
        "events_feed_horizon_lag_seconds",
        "http_requests_total",
        "up",
    } <= watched


def test_the_dashboard_is_valid_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["targets"], panel
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert all(target["expr"] and balanced(target["expr"]) for target in panel["targets"])
    # What the issue asks the dashboard to show.
    shown = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    assert {"events_feed_horizon_lag_seconds", "webhook_oldest_pending_age_seconds"} <= shown
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    used = set(re.findall(r"\$(\w+)", json.dumps(dashboard["panels"]))) - {"__rate_interval"}
    assert used <= variables


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
async def test_every_metric_queried_is_exposed_by_the_service(exposed, source):
    exprs = [rule["expr"] for rule in alert_rules()] if source == "alerts" else dashboard_exprs()
    queried = set().union(*(metric_names(expr) for expr in exprs)) - PROMETHEUS_OWN
    assert queried, source
    assert queried <= exposed.names, sorted(queried - exposed.names)
