"""`python -m service serve` under cProfile with a CPU-time clock, for bench --profile.

The wall clock would charge to socket.send the time the process spends
descheduled on a busy 2-core machine; CPU time shows what the process itself
does. The stats are written when the service exits after SIGTERM.

    python -m bench.profiled_service OUT.prof
"""

from __future__ import annotations

import cProfile
import sys
import time

from service.__main__ import main


def run(out: str) -> int:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        return main(["serve"])
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
