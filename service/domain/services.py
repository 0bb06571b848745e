"""The domain's doors, built once per application: handlers and jobs reach
the database only through these."""

from __future__ import annotations

import dataclasses

from aiohttp.abc import AbstractResolver

from service.db import Database
from service.domain.catalog import Catalog
from service.domain.events import Events
from service.domain.items import Items
from service.domain.orders import Orders
from service.domain.signing_keys import SigningKeys
from service.domain.subscriptions import Subscriptions
from service.domain.tenancy import Tenancy
from service.domain.values import Values
from service.domain.webhooks import Webhooks
from service.secretbox import SecretBox
from service.settings import Settings


@dataclasses.dataclass(frozen=True, kw_only=True)
class Services:
    db: Database
    orders: Orders
    items: Items
    values: Values
    catalog: Catalog
    tenancy: Tenancy
    events: Events
    webhooks: Webhooks
    signing_keys: SigningKeys
    subscriptions: Subscriptions


def build(db: Database, settings: Settings, *, resolver: AbstractResolver, box: SecretBox) -> Services:
    """`resolver` answers for the hosts of webhook URLs (the checks of service.webhooks.addresses);
    `box` seals the secrets those services keep (service.secretbox)."""
    subscriptions = Subscriptions(db=db)
    orders = Orders(db=db, item_deadline_seconds=settings.item_deadline_seconds, subscriptions=subscriptions)
    return Services(
        db=db,
        orders=orders,
        items=Items(db=db, orders=orders, subscriptions=subscriptions),
        values=Values(db=db, orders=orders),
        catalog=Catalog(db=db),
        tenancy=Tenancy(db=db),
        events=Events(db=db, orders=orders),
        webhooks=Webhooks(
            db=db,
            resolver=resolver,
            allow_private=settings.webhook_allow_private_urls,
            per_reseller=settings.webhooks_per_reseller,
            box=box,
        ),
        signing_keys=SigningKeys(db=db, box=box),
        subscriptions=subscriptions,
    )
