"""One PNG that answers at a glance: how close to the ceiling, how it grows, what expiry costs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

SERVICE, CEILING = "#d95f02", "#7570b3"


def _bars(ax, results: dict, field: str, title: str, log: bool = False) -> None:
    entries = results["scenarios"]
    labels = [f"{e['key']}\nc={e['concurrency']}" for e in entries]
    width = 0.4
    for offset, name, colour in ((-width / 2, "ceiling", CEILING), (width / 2, "service", SERVICE)):
        xs, ys, low, high = [], [], [], []
        for i, e in enumerate(entries):
            if name not in e:
                continue
            xs.append(i + offset)
            ys.append(e[name][field])
            if field == "rps_median":
                low.append(e[name]["rps_median"] - e[name]["rps_min"])
                high.append(e[name]["rps_max"] - e[name]["rps_median"])
        ax.bar(xs, ys, width, label=name, color=colour,
               yerr=[low, high] if field == "rps_median" else None, capsize=3)
    if field == "rps_median":
        for i, e in enumerate(entries):
            if "ratio" in e:
                top = max(e["service"]["rps_max"], e["ceiling"]["rps_max"])
                ax.annotate(f"{e['ratio']:.2f}×", (i, top), ha="center", va="bottom", fontsize=8,
                            color="red" if e["ratio"] < 0.8 else "black")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def _cpu(ax, results: dict) -> None:
    entries = [e for e in results["scenarios"] if "service" in e]
    labels = [f"{e['key']}\nc={e['concurrency']}" for e in entries]
    bottom = [0.0] * len(entries)
    for field, label, colour in (("cpu_server", "service", SERVICE), ("cpu_postgres", "PostgreSQL", "#1b9e77"),
                                 ("cpu_wrk", "wrk", "#999999")):
        values = [e["service"][field] for e in entries]
        ax.bar(range(len(entries)), values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    # What else the machine did meanwhile (harness, the idle ceiling, other users).
    other = [max(0.0, e["service"].get("cpu_machine", 0.0) - b) for e, b in zip(entries, bottom)]
    ax.bar(range(len(entries)), other, bottom=bottom, label="rest of the machine", color="#dddddd")
    ax.axhline(results["machine"]["cpus"], color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_title("CPU cores used during the service's runs")
    ax.legend(fontsize=8)


def _growth(ax, results: dict) -> None:
    growth = results["growth"]
    sizes = [g["orders"] for g in growth]
    for name, colour in (("ceiling", CEILING), ("service", SERVICE)):
        if all(name in g for g in growth):
            ax.plot(sizes, [g[name]["p99_ms"] for g in growth], "o-", color=colour, label=f"{name} p99")
            ax.plot(sizes, [g[name]["p50_ms"] for g in growth], "o--", color=colour, alpha=0.5,
                    label=f"{name} p50")
    ax.set_xscale("log")
    ax.set_xlabel("orders in the database")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.set_title(f"List page latency as data grows (c={results['mode']['growth_concurrency']})")
    ax.legend(fontsize=8)


def _expiry(ax, results: dict) -> None:
    expiry = results.get("expiry")
    ax.set_title("API p99 while the expiry job runs")
    if not expiry:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return
    ax.bar(["idle", "during expiry"], [expiry["idle"]["p99_ms"], expiry["during"]["p99_ms"]],
           color=[SERVICE, "#e7298a"])
    ax.set_ylabel("p99 ms, " + expiry["load"])
    ax.text(0.02, 0.97, f"{expiry['expired_loaded']:,} drafts in {expiry['seconds']:.1f} s\n"
            f"{expiry['source'][:60]}", transform=ax.transAxes, va="top", fontsize=8)


def write_png(results: dict, path: Path) -> Path:
    fig, axes = plt.subplots(2, 3, figsize=(18, 9.5))
    _bars(axes[0][0], results, "rps_median", "Throughput, req/s (median, min–max over rounds)")
    _bars(axes[0][1], results, "p99_ms", "p99 latency, ms (median over rounds)", log=True)
    _cpu(axes[0][2], results)
    _growth(axes[1][0], results)
    _expiry(axes[1][1], results)
    rss = axes[1][2]
    rss.axis("off")
    lines = [f"{t['target']}: {t['value']} (limit {t['limit']}) "
             f"{ {True: 'MET', False: 'MISSED', None: 'n/a'}[t['met']] }" for t in results["targets"]]
    rss.text(0, 1, "Targets\n\n" + "\n".join(lines), va="top", fontsize=9, family="monospace", wrap=True)
    fig.suptitle(f"Reseller Ordering API benchmark — {results['mode']['name']} mode, "
                 f"{results['data'].get('orders', 0):,} orders, {results['started_at']}, "
                 f"{results['machine']['cpus']} CPUs")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
