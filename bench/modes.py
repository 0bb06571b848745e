"""How big and how long: full (the numbers we publish), quick (a minute or two), tiny (CI smoke)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mode:
    name: str
    sizes: tuple[int, ...]  # total orders at each growth step; the last is where scenarios run
    resellers: int
    expiry_drafts: int  # expired drafts the expiry job deletes
    rounds: int
    seconds: float  # one wrk run
    warmup: float  # per scenario and target, not recorded
    concurrencies: tuple[int, ...] = (32, 128)
    growth_concurrency: int = 32
    webhook_events: int = 2_000  # the backlog the webhooks scenario delivers (to each of its endpoints)
    webhook_lag_seconds: float = 10.0  # how long orders are made to measure the lag
    subscriptions: int = 4_000  # loaded before the scenarios, for subscriptions_page


MODES = {
    "full": Mode(name="full", sizes=(10_000, 100_000, 1_000_000), resellers=1_000,
                 expiry_drafts=1_000_000, rounds=3, seconds=10, warmup=2,
                 webhook_events=10_000, webhook_lag_seconds=30, subscriptions=1_000_000),
    "quick": Mode(name="quick", sizes=(2_000, 10_000, 40_000), resellers=100,
                  expiry_drafts=20_000, rounds=2, seconds=2, warmup=1, subscriptions=40_000),
    "tiny": Mode(name="tiny", sizes=(1_000, 4_000), resellers=20,
                 expiry_drafts=2_000, rounds=1, seconds=1, warmup=0,
                 webhook_events=200, webhook_lag_seconds=2),
}
