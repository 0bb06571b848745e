"""RSS and CPU of the processes involved in one load run, sampled with psutil."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import psutil

Group = Callable[[], list[psutil.Process]]


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used, ours and anyone else's."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclasses.dataclass(kw_only=True)
class Usage:
    cpu_seconds: float  # CPU seconds used over the run
    cpu_cores: float  # CPU seconds used per wall second over the run
    rss_peak_mb: float


class Sampler:
    """Samples named process groups in a thread between start() and stop().

    CPU is the difference of cumulative CPU times between the first and the
    last sample (exact for processes alive throughout; a process that lives
    less than one interval is missed); RSS is the peak of the samples.
    """

    def __init__(self, groups: dict[str, Group], *, interval: float = 0.5) -> None:
        self._groups = groups
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}
        self._peak: dict[str, int] = {}
        self._started = 0.0
        self._wall = 0.0
        self._machine = 0.0
        self.machine_cores = 0.0

    def _sample(self) -> None:
        for name, group in self._groups.items():
            try:
                processes = group()
            except psutil.Error:
                continue
            self._peak[name] = max(self._peak.get(name, 0), _rss(processes))
            seconds = cpu_seconds(processes)
            if name not in self._first:
                self._first[name] = dict(seconds)
            self._last.setdefault(name, {}).update(seconds)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> None:
        self._started = time.monotonic()
        self._machine = machine_busy_seconds()
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Usage]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._wall = time.monotonic() - self._started
        # Everything the machine did, including other people's work on a shared
        # box: what is left after our groups is interference.
        self.machine_cores = round((machine_busy_seconds() - self._machine) / self._wall, 3) if self._wall else 0.0
        result = {}
        for name in self._groups:
            first, last = self._first.get(name, {}), self._last.get(name, {})
            # A process born during the run (a new backend, an autovacuum worker)
            # counts from zero.
            used = sum(last[pid] - first.get(pid, 0.0) for pid in last)
            result[name] = Usage(
                cpu_seconds=round(used, 3),
                cpu_cores=round(used / self._wall, 3) if self._wall else 0.0,
                rss_peak_mb=round(self._peak.get(name, 0) / 2**20, 1),
            )
        return result
