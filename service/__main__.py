"""Command line: serve | migrate | rotate-secret-key | openapi | connector-sim | webhook-receiver."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from service import db, logs, migrate, sealing, secretbox
from service.app import create_app
from service.demo import banner, seed, start_connector
from service.embedded import embedded_postgres
from service.execution import connector_sim
from service.http import openapi, protocol
from service.settings import SECRET_KEY_BYTES, Settings, SettingsError
from service.state import LIFECYCLE, SERVICES
from service.webhooks import receiver as webhook_receiver
from service.webhooks.signing import SignatureError
from service.workers import run_workers

logger = logging.getLogger("service")


class StartupError(RuntimeError):
    """The service cannot start; the message is the one line the operator sees."""


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The DSN to use: DATABASE_URL, or an embedded PostgreSQL under DATA_DIR."""
    if settings.database_url:
        yield settings.database_url
        return
    try:
        server = embedded_postgres(settings.data_dir)
        dsn = server.__enter__()
    except Exception as exc:
        raise StartupError(f"cannot start the embedded PostgreSQL in {settings.data_dir}: {exc}") from exc
    try:
        yield dsn
    finally:
        server.__exit__(None, None, None)


def _describe(dsn: str) -> str:
    # Never print the password.
    parts = urlsplit(dsn)
    try:
        port = parts.port or 5432
    except ValueError:
        return "the DATABASE_URL host"
    return f"{parts.hostname or parts.query or 'localhost'}:{port}{parts.path}"


async def _check_database(dsn: str) -> None:
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StartupError(f"cannot connect to the database at {_describe(dsn)}: {reason}") from None
    await conn.close()


def _box(settings: Settings) -> secretbox.SecretBox:
    assert settings.secret_key is not None  # main() fills it in
    return secretbox.SecretBox(settings.secret_key, old=settings.old_secret_key)


async def _migrate(settings: Settings, dsn: str) -> list[migrate.Migration]:
    sql = db.sql_dir(settings.sql_dir)
    queries = db.load_queries(sql / "queries")
    conn = await asyncpg.connect(dsn, timeout=10, **db.connect_kwargs())
    try:
        return await migrate.migrate(conn, migrate.discover(sql / "migrations"), queries, box=_box(settings))
    except migrate.MigrationError as exc:
        raise StartupError(str(exc)) from None
    except asyncpg.InsufficientPrivilegeError as exc:
        raise StartupError(
            f"cannot apply the migrations: {exc}; the DATABASE_URL role needs to own the schema "
            "(or run `migrate` with a role that does, and serve with MIGRATE_ON_START=false)"
        ) from None
    except asyncpg.PostgresError as exc:
        raise StartupError(f"a migration failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    finally:
        await conn.close()


async def run_migrate(settings: Settings, dsn: str) -> None:
    await _check_database(dsn)
    applied = await _migrate(settings, dsn)
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(m.filename for m in applied)}")
    else:
        print("nothing to apply: the database is up to date")


async def _check_secret_key(settings: Settings, dsn: str) -> None:
    """Refuse to serve with a SECRET_KEY that does not open the database's secrets."""
    queries = db.load_queries(db.sql_dir(settings.sql_dir) / "queries")
    conn = await asyncpg.connect(dsn, timeout=10, **db.connect_kwargs())
    try:
        await sealing.check_key(conn, queries, _box(settings))
    except asyncpg.UndefinedTableError:
        pass  # not migrated yet: /api answers 503 until it is
    except sealing.KeyMismatch as exc:
        raise StartupError(str(exc)) from None
    finally:
        await conn.close()


async def _prepare(settings: Settings, dsn: str) -> None:
    await _check_database(dsn)
    if settings.migrate_on_start:
        await _migrate(settings, dsn)
    await _check_secret_key(settings, dsn)


async def run_rotate(settings: Settings, dsn: str) -> None:
    """Re-seal everything under SECRET_KEY that OLD_SECRET_KEY sealed (docs/how-to/secrets.md)."""
    await _check_database(dsn)
    sql = db.sql_dir(settings.sql_dir)
    queries = db.load_queries(sql / "queries")
    conn = await asyncpg.connect(dsn, timeout=10, **db.connect_kwargs())
    try:
        # Under the migration lock: a `migrate` sealing plain rows meanwhile waits.
        await conn.execute(queries["migrations_lock"], migrate.LOCK_KEY)
        try:
            counts = await sealing.rotate(conn, queries, _box(settings))
        finally:
            await conn.execute(queries["migrations_unlock"], migrate.LOCK_KEY)
    except asyncpg.UndefinedTableError:
        raise StartupError("the database is not migrated yet; run `python -m service migrate` first") from None
    except sealing.KeyMismatch as exc:
        raise StartupError(str(exc)) from None
    finally:
        await conn.close()
    print(f"re-sealed under SECRET_KEY id {secretbox.key_id(settings.secret_key).hex()}: {counts}")


async def run_serve(settings: Settings, dsn: str, *, demo: bool = False) -> None:
    await _prepare(settings, dsn)
    app = create_app(settings, dsn=dsn)
    runner = protocol.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
    )
    connector = receiver = None
    await runner.setup()
    try:
        if demo:
            connector, connector_url = await start_connector(delay=2.0)
            receiver, receiver_url = await webhook_receiver.start()
            seeded = await seed(app[SERVICES], connector_url=connector_url, receiver_url=receiver_url)
            receiver.app[webhook_receiver.RECEIVER].use_secret(seeded.webhook["secret"])
            print(banner(seeded, port=settings.port), flush=True)
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        logger.info("serving", extra={"host": settings.host, "port": settings.port, "event_loop": loop})
        await stop.wait()
        # Readiness answers 503 from now on; keep serving briefly so load
        # balancers notice before the listener closes.
        app[LIFECYCLE].stopping = True
        logger.info("stopping", extra={"drain_seconds": settings.shutdown_drain_seconds})
        await asyncio.sleep(settings.shutdown_drain_seconds)
    finally:
        # Closes the listener, lets in-flight requests finish (up to the
        # shutdown timeout; a body still arriving has BODY_TIMEOUT_SECONDS,
        # see service.http.protocol), then runs the cleanup contexts.
        await runner.cleanup()
        for helper in (connector, receiver):
            if helper is not None:
                await helper.cleanup()
    logger.info("stopped")


def check_port(settings: Settings) -> None:
    """Fail with one line while the port is taken, before a database is started or migrated:
    a second `serve` by mistake must not touch the first one's database."""
    try:
        addresses = socket.getaddrinfo(
            settings.host or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # As asyncio binds the listener: SO_REUSEADDR, and SO_REUSEPORT when asked for.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if settings.reuse_port or settings.workers > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None


def run_loop(main, event_loop: str) -> None:
    """Run `serve` on the event loop EVENT_LOOP names (uvloop: the optional extra)."""
    if event_loop == "uvloop":
        import uvloop  # checked at settings time: it is installed

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
        return
    asyncio.run(main)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and the scheduler")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations on start")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed a demo reseller, credentials, products and a webhook; run the reference connector "
        "and a webhook receiver in-process (and allow webhooks to private addresses)",
    )
    commands.add_parser("migrate", help="apply pending migrations and exit")
    commands.add_parser(
        "rotate-secret-key",
        help="re-seal every secret under SECRET_KEY that OLD_SECRET_KEY sealed (safe while replicas serve)",
    )
    commands.add_parser(
        "openapi", help="print the OpenAPI document (docs/openapi.json holds it; no database, no settings)"
    )
    connector_sim.add_arguments(
        commands.add_parser("connector-sim", help="run a reference fulfillment connector (no database)")
    )
    webhook_receiver.add_arguments(
        commands.add_parser(
            "webhook-receiver", help="receive webhooks: print each verified delivery as a JSON line (no database)"
        )
    )
    return parser


def _run_tool(args: argparse.Namespace) -> int:
    """The commands that need no database: connector-sim and webhook-receiver."""
    logs.configure("INFO")
    tool = connector_sim if args.command == "connector-sim" else webhook_receiver
    try:
        asyncio.run(tool.serve(args))
    except SignatureError as exc:
        print(f"error: --secret: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def _with_secret_key(settings: Settings, *, rotating: bool) -> Settings:
    """SECRET_KEY as given; for the embedded default without one, the key kept in DATA_DIR."""
    if rotating:
        if settings.secret_key is None or settings.old_secret_key is None:
            raise StartupError(
                "rotate-secret-key needs SECRET_KEY (the new key) and OLD_SECRET_KEY (the one it replaces)"
            )
        return settings
    if settings.secret_key is not None:
        return settings
    try:
        key = secretbox.kept_key(settings.data_dir)
    except (OSError, SettingsError) as exc:  # SettingsError: the kept key is not a key
        raise StartupError(f"cannot keep the SECRET_KEY in {settings.data_dir}: {exc}") from None
    return dataclasses.replace(settings, secret_key=key)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("connector-sim", "webhook-receiver"):
        return _run_tool(args)
    if args.command == "openapi":
        # The document depends on the code alone: built with the defaults and a key that
        # seals nothing (no I/O happens), so it needs no settings and no DATA_DIR.
        unused = Settings(secret_key=bytes(SECRET_KEY_BYTES))
        sys.stdout.write(openapi.document_text(create_app(unused, dsn="postgresql://unused")))
        return 0
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        if args.command == "serve":
            check_port(settings)
        settings = _with_secret_key(settings, rotating=args.command == "rotate-secret-key")
        with database(settings) as dsn:
            if args.command == "migrate":
                asyncio.run(run_migrate(settings, dsn))
            elif args.command == "rotate-secret-key":
                asyncio.run(run_rotate(settings, dsn))
                if not settings.database_url:
                    # The embedded default starts with the kept key from now on.
                    secretbox.keep_key(settings.data_dir, settings.secret_key)
            elif args.command == "serve":
                if args.no_migrate:
                    settings = dataclasses.replace(settings, migrate_on_start=False)
                if args.demo:
                    # The demo's webhook receiver listens on a loopback address.
                    settings = dataclasses.replace(settings, webhook_allow_private_urls=True)
                if settings.workers > 1:
                    if args.demo:
                        raise StartupError("--demo runs in one process; unset WORKERS")
                    asyncio.run(_prepare(settings, dsn))
                    return run_workers(count=settings.workers, dsn=dsn, secret_key=settings.secret_key)
                run_loop(run_serve(settings, dsn, demo=args.demo), settings.event_loop)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
