"""Fuzz every documented operation of a real running service with schemathesis.

The service runs as `python -m service serve` on 127.0.0.1 with its own
migrated database. Before each operation the data is reset and seeded through
the API, so the ids the document's examples use (1, 2, ...) exist: a Standard
reseller with a customer, products, a Draft order with an item, a confirmed
order executed to completion (so subscription 1 exists) and a Draft changing
that subscription. Every response, errors included, must be one the document describes:
status, media type, body and headers, and none may be a 5xx.

Examples per operation: FUZZ_EXAMPLES (default 25). The seed is fixed, so a
run is repeatable. For a deeper local run:
    FUZZ_EXAMPLES=500 python -m pytest tests/integration/test_fuzz.py"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import subprocess
import sys
import tempfile
import uuid

import aiohttp
import asyncpg
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api import ADMIN_TOKEN, Api
from tests.conftest import TEMPLATE, with_database
from tests.process import free_port, service_env, wait_for_status

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_SEED = 20250602


@schemathesis.check
def documented_problem_codes(ctx, response, case) -> None:
    """Each error response lists the codes it may carry (x-problem-codes, x-field-codes)."""
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code), {})
    if "x-problem-codes" not in documented:
        return
    body = response.json()
    assert body["code"] in documented["x-problem-codes"], (case.operation.label, body)
    for entry in body["errors"]:
        assert entry["code"] in documented.get("x-field-codes", []), (case.operation.label, entry)


CHECKS = [
    not_a_server_error,
    documented_problem_codes,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Rows the migrations own (the token signing keys, the applied versions) stay.
KEEP = ["signing_keys", "schema_migrations"]


@dataclasses.dataclass
class Service:
    """The running service and the seeded tenant's credentials."""

    base_url: str
    dsn: str
    reseller_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    operation: str = ""

    def headers_for(self, path: str) -> dict[str, str]:
        if path.startswith("/admin/"):
            return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if path.startswith("/oauth/"):
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {"Authorization": f"Bearer {self.reseller_token}"}

    def reseed_for(self, operation: str) -> None:
        """Start each operation from the same data: otherwise an early PATCH of the
        reseller to Free, or a checkout of the Draft, would leave later operations
        only 403s and 409s, and their validation and SQL unexercised."""
        if operation != self.operation:
            asyncio.run(self._reseed())
            self.operation = operation

    async def _reseed(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            tables = await conn.fetch(
                "SELECT quote_ident(tablename) AS name FROM pg_tables"
                " WHERE schemaname = 'public' AND NOT tablename = ANY($1::text[])",
                KEEP,
            )
            statement = f"TRUNCATE {', '.join(t['name'] for t in tables)} RESTART IDENTITY CASCADE"
            # The service's jobs keep reading these tables: TRUNCATE's locks can
            # deadlock with one of them, which PostgreSQL resolves by failing one side.
            for attempt in range(5):
                try:
                    await conn.execute(statement)
                    break
                except asyncpg.DeadlockDetectedError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await conn.close()
        async with aiohttp.ClientSession(base_url=self.base_url) as session:
            await self._seed(Api(session))

    async def _seed(self, api: Api) -> None:
        tenant = await api.tenant()  # reseller 1, own account 1, customer account 2
        await api.admin(
            "POST",
            f"/admin/resellers/{tenant.reseller_id}/customfields",
            {"name": "po_number", "label": "PO number", "type": "text"},
            expect=201,
        )
        product = await api.product(
            sku="BACKUP-100", characteristics=[{"name": "domain", "label": "Domain", "type": "text"}]
        )
        await api.product(sku="MAIL-200", name="Hosted Mail")
        draft = await api.draft(tenant, tenant.customer_id)  # order 1
        await api.item(tenant, draft["id"], product)  # item 1
        confirmed = await api.draft(tenant, tenant.account_id)  # order 2
        await api.item(tenant, confirmed["id"], product)
        status, _ = await api.call(tenant, "POST", f"/api/orders/{confirmed['id']}/checkout")
        assert status == 202
        # The poll job (every 0.2 s here) executes it: its item becomes subscription 1.
        for _ in range(100):
            status, order = await api.call(tenant, "GET", f"/api/orders/{confirmed['id']}")
            if order["status"] == "Completed":
                break
            await asyncio.sleep(0.05)
        assert order["status"] == "Completed", order
        change = await api.draft(tenant, tenant.account_id)  # order 3
        status, item = await api.call(
            tenant, "POST", f"/api/orders/{change['id']}/items",
            {"subscriptionId": 1, "action": "changeQuantity", "quantity": 5},
        )
        assert status == 201, item
        self.reseller_token, self.client_id, self.client_secret = (
            tenant.token,
            tenant.client_id,
            tenant.client_secret,
        )


async def _admin_sql(server_dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def fuzz_service(server_dsn, template_dsn):
    name = f"fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_sql(server_dsn, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY file_copy"))
    port = free_port()
    service = Service(base_url=f"http://127.0.0.1:{port}", dsn=with_database(server_dsn, name))
    env = service_env(
        DATABASE_URL=service.dsn,
        ADMIN_TOKEN=ADMIN_TOKEN,
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="WARNING",
        SHUTDOWN_DRAIN_SECONDS="0",
        POLL_INTERVAL_SECONDS="0.2",
        # Webhooks the fuzzer creates may name any public host: the webhook
        # jobs never run during the session, so nothing is ever sent to them.
        WEBHOOK_POLL_INTERVAL_SECONDS="86400",
        # The fuzzer's own requests with a missing or made-up operator token must not brake
        # /admin for the seeding between operations (all of it comes from 127.0.0.1).
        ADMIN_FAILED_AUTH_PER_MINUTE="100000",
        # The event stream ends by itself after this, so its 200 answers are whole bodies
        # schemathesis can check (media type and headers) instead of a 10 s timeout each.
        SSE_MAX_STREAM_SECONDS="0.2",
    )
    # The log goes to a file: a full pipe nobody reads would stall the service.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"], env=env, stdout=log, stderr=log
        )
        try:
            wait_for_status(f"{service.base_url}/health/ready", 200, within=30, process=process)
            yield service
        finally:
            process.terminate()
            process.wait(timeout=30)
            asyncio.run(_admin_sql(server_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            log.seek(0)
            # Unhandled errors, for the report of a failing run.
            sys.stderr.write("".join([line for line in log if '"level": "error"' in line][-20:]))


@pytest.fixture
def fuzz_schema(fuzz_service):
    config = schemathesis.Config(seed=FUZZ_SEED)
    project = config.projects.default
    project.update(base_url=fuzz_service.base_url)
    project.generation.update(max_examples=FUZZ_EXAMPLES, deterministic=True, database="none")
    return schemathesis.openapi.from_url(f"{fuzz_service.base_url}/api/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
def test_every_response_conforms_to_the_document(case, fuzz_service):
    fuzz_service.reseed_for(case.operation.label)
    case.call_and_validate(headers=fuzz_service.headers_for(case.path), checks=CHECKS, timeout=10)
