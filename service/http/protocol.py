"""Problem+json for the requests aiohttp refuses before any middleware runs.

aiohttp answers a request it cannot parse (a request line or header over
8 KiB, a malformed header) from its protocol handler, in text/plain and
without X-Request-Id, and offers no hook to change that (aio-libs/aiohttp#3287).
The contract says every error is problem+json with a request id, so `serve`
runs the app through AppRunner below, whose connections answer those
requests like every other error."""

from __future__ import annotations

import uuid

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from service.errors import BadRequest, ServiceError
from service.http.middleware import problem_response


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
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own handler logs the cause and refuses once a response has started.
        super().handle_error(request, status, exc, message)
        request_id = uuid.uuid4().hex
        response = problem_response(protocol_error(status), request_id)
        response.headers["X-Request-Id"] = request_id
        response.force_close()  # the stream may be out of step after a bad request
        return response


class ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """web.AppRunner whose connections answer unparseable requests in problem+json."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return ProblemServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
