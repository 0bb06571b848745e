"""GET /console: the approver's console, a static page that uses only the public API.

The files live in service/console/ (shipped in the wheel with the code) and
are served as they are: no build step. Every answer carries a strict
Content-Security-Policy: scripts, styles and connections only from this
origin, no inline script or style, no framing, and Trusted Types required,
so the browser itself refuses any assignment of a string as HTML."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from service.errors import NotFound

routes = web.RouteTableDef()

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
PATH = "/console"
_ASSET = re.compile(r"^[a-z][a-z0-9-]{0,63}\.(js|css|svg)$")
CONTENT_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
    "html": "text/html; charset=utf-8",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Always revalidated (a 304 when unchanged), so a new release shows at once.
    "Cache-Control": "no-cache",
}


def _file(name: str, kind: str) -> web.FileResponse:
    path = CONSOLE_DIR / name
    if not path.is_file():
        raise NotFound()
    return web.FileResponse(path, headers={**SECURITY_HEADERS, "Content-Type": CONTENT_TYPES[kind]})


@routes.get(PATH)
async def page(request: web.Request) -> web.StreamResponse:
    return _file("index.html", "html")


@routes.get(PATH + "/")
async def page_with_slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(PATH)


@routes.get(PATH + "/{name}")
async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    match = _ASSET.match(name)
    if match is None:
        raise NotFound()
    return _file(name, match[1])
