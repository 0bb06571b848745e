"""The request metrics' fast path counts exactly what prometheus-client's own
observe() would: the same bucket for every duration, bounds included."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from service.metrics import Metrics


def _samples(registry: CollectorRegistry, name: str) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name.startswith(name)
    }


def test_the_fast_path_fills_the_buckets_prometheus_client_would():
    metrics = Metrics()
    bounds = metrics.durations._upper_bounds[:-1]
    durations = [0.0, *bounds, *(b * 0.999 for b in bounds), *(b * 1.001 for b in bounds), 10_000.0]
    reference_registry = CollectorRegistry()
    reference = Histogram(
        "http_request_duration_seconds", "", ("method", "route"), buckets=bounds, registry=reference_registry
    )
    for seconds in durations:
        metrics.observe("GET", "/api/orders/{order_id}", 200, seconds)
        reference.labels("GET", "/api/orders/{order_id}").observe(seconds)
    ours = _samples(metrics.registry, "http_request_duration_seconds")
    theirs = _samples(reference_registry, "http_request_duration_seconds")
    assert len(ours) > len(bounds)  # the buckets, count and sum are there to compare
    assert {k: v for k, v in ours.items() if not k[0].endswith("_created")} == {
        k: v for k, v in theirs.items() if not k[0].endswith("_created")
    }
    requests = _samples(metrics.registry, "http_requests_total")
    labels = (("method", "GET"), ("route", "/api/orders/{order_id}"), ("status", "200"))
    assert requests[("http_requests_total", labels)] == len(durations)


def test_unknown_methods_fold_into_one_series():
    metrics = Metrics()
    metrics.observe("BREW", "unmatched", 405, 0.001)
    metrics.observe("PURGE", "unmatched", 405, 0.001)
    requests = _samples(metrics.registry, "http_requests_total")
    assert requests[("http_requests_total", (("method", "other"), ("route", "unmatched"), ("status", "405")))] == 2
