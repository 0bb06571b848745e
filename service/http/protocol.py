"""The connections `serve` runs: problem+json for unparseable requests, time
limits for slow clients, and a shutdown that holds no request hostage.

aiohttp answers a request it cannot parse (a request line or header over
8 KiB, a malformed header) from its protocol handler, in text/plain and
without X-Request-Id, and offers no hook to change that (aio-libs/aiohttp#3287).
The contract says every error is problem+json with a request id, so `serve`
runs the app through AppRunner below, whose connections answer those
requests like every other error.

Slow clients. aiohttp waits for a request head as long as its keep-alive
timeout (an hour), so connections that send half a request line hold file
descriptors indefinitely. Here a connection must complete a request head
within `header_timeout` seconds of connecting, or of the first byte of the
head after an idle keep-alive pause; otherwise it is closed. A body that stops
arriving for `body_timeout` seconds fails the request with 408. One sweep per
server checks every connection about four times per timeout, so the hot path
pays only for a clock read per packet.

Shutdown. When the listener closes, aiohttp marks every connection closing and
from then on drops incoming bytes, so a request whose body was still arriving
waits for the rest until the shutdown timeout cuts it off, unanswered. Here a
request being handled keeps receiving its body: it is read to the end and
answered. One still incomplete `body_timeout` seconds after the listener
closed is answered 503 with `Connection: close`. A connection answered while
its client may still be sending lingers briefly (write side shut, incoming
bytes read and dropped), so the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from service.errors import BadRequest, RequestTimeout, ServiceError, ServiceUnavailable
from service.http.middleware import access_log, problem_response

# How long an answered connection keeps reading what its client still sends.
LINGER_SECONDS = 2.0


class NotHttp(BadRequest):
    """The request is not valid HTTP"""


def protocol_error(status: int) -> ServiceError:
    if status == 400:
        return NotHttp("The request line or a header is malformed or over 8 KiB")
    error = ServiceError()  # 500: what the middleware could not handle; its log has the cause
    if status != 500:
        error.status, error.code = status, "http_error"
    return error


class ProblemRequestHandler(RequestHandler):
    __slots__ = ("_head_since", "_last_read", "_linger", "_lingering")

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            # aiohttp's own handler logs the cause (our defect) with its traceback.
            super().handle_error(request, status, exc, message)
        elif request.writer.output_size > 0:
            # Some of an answer is out already: the connection is broken (as aiohttp does).
            raise ConnectionError("Response is sent already, cannot send another response")
        request_id = uuid.uuid4().hex
        response = problem_response(protocol_error(status), request_id)
        response.headers["X-Request-Id"] = request_id
        response.force_close()  # the stream may be out of step after a bad request
        if status < 500:
            # The client's mistake, not ours: one access line like every request, no traceback.
            access_log.write(
                method=request.method, path=request.path, status=status, duration_ms=0.0, request_id=request_id
            )
        return response

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Set before the base class starts reading: a new connection owes a head from now.
        self._head_since: float | None = self._loop.time()
        self._last_read = self._head_since
        self._linger = False
        self._lingering: asyncio.Future[None] | None = None
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        self._last_read = now
        if self._close or self._force_close:
            self._receive_while_closing(data)
            return
        if self._head_since is None and self._waiter is not None:
            self._head_since = now  # the first byte of a head after an idle keep-alive pause
        super().data_received(data)
        if self._messages:
            self._head_since = None

    def _receive_while_closing(self, data: bytes) -> None:
        """Shutting down: keep feeding the body of the request being handled (aiohttp drops it)."""
        request = self._current_request
        if request is None or self._parser is None or self._linger or request.content.is_eof():
            return
        with contextlib.suppress(Exception):  # a malformed rest fails the request through its payload
            self._parser.feed_data(data)

    def check_deadlines(self, now: float, *, head: float, body: float, upload_until: float | None) -> None:
        if self._head_since is not None and not self._messages:
            if now - self._head_since > head:
                super().force_close()  # nothing to answer: no request has arrived
            return
        request = self._current_request
        if request is None or self._linger:
            return
        payload = request.content
        # Paused: the handler has not read what arrived yet; the client is not late.
        if payload.is_eof() or self._reading_paused:
            return
        if now - self._last_read > body:
            error: ServiceError = RequestTimeout(f"The request body stopped arriving for over {body:g} s")
        elif upload_until is not None and now > upload_until:
            error = ServiceUnavailable(
                "The service is shutting down; send the request again", headers={"Retry-After": "1"}
            )
            error.close_connection = True
        else:
            return
        self._linger = True
        self.close()  # no more requests on this connection; late bytes are dropped
        payload.set_exception(error)
        payload.feed_eof()

    def force_close(self) -> None:
        transport = self.transport
        if not self._linger or transport is None or transport.is_closing():
            super().force_close()
            return
        # The client may still be sending the body we refused: shut our write
        # side after the answer and drop what arrives, for a moment, instead
        # of a close that turns its unsent bytes into a reset.
        self._linger = False
        self._force_close = True
        if self._waiter:
            self._waiter.cancel()
        self.transport = None
        self._lingering = self._loop.create_future()
        with contextlib.suppress(Exception):
            transport.write_eof()
            transport.resume_reading()
        self._loop.call_later(LINGER_SECONDS, transport.close)
        if isinstance(self._manager, ProblemServer):
            self._manager.lingering.add(self._lingering)

    def connection_lost(self, exc: BaseException | None) -> None:
        lingering = self._lingering
        if lingering is not None and not lingering.done():
            lingering.set_result(None)
        super().connection_lost(exc)


class ProblemServer(web.Server):
    def __init__(self, *args, header_timeout: float, body_timeout: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.lingering: set[asyncio.Future[None]] = set()
        self._upload_until: float | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def __call__(self) -> RequestHandler:
        if self._sweeper is None:
            self._sweeper = self._loop.create_task(self._sweep())
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)

    async def _sweep(self) -> None:
        interval = min(1.0, self.header_timeout / 4, self.body_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            now = self._loop.time()
            for handler in list(self._connections):
                if isinstance(handler, ProblemRequestHandler):
                    handler.check_deadlines(
                        now, head=self.header_timeout, body=self.body_timeout, upload_until=self._upload_until
                    )

    def pre_shutdown(self) -> None:
        # Bodies still arriving get body_timeout more to finish, then a 503.
        self._upload_until = self._loop.time() + self.body_timeout
        super().pre_shutdown()

    async def shutdown(self, timeout: float | None = None) -> None:
        try:
            await super().shutdown(timeout)
            pending = {f for f in self.lingering if not f.done()}
            if pending:
                await asyncio.wait(pending, timeout=LINGER_SECONDS)
        finally:
            if self._sweeper is not None:
                self._sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sweeper


class AppRunner(web.AppRunner):
    """web.AppRunner whose connections answer unparseable requests in
    problem+json, time out slow clients and finish receiving bodies on shutdown."""

    def __init__(
        self, app: web.Application, *, header_timeout: float = 10.0, body_timeout: float = 10.0, **kwargs
    ) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return ProblemServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            header_timeout=self._header_timeout,
            body_timeout=self._body_timeout,
            **server._kwargs,
        )
