"""How /console is served: the files, their types and the headers that lock the page down."""

from __future__ import annotations

import re

import pytest

from service.routes.console import CONSOLE_DIR

SOURCES = sorted(CONSOLE_DIR.glob("*.js"))


async def test_the_page_is_served_with_a_strict_policy(client):
    response = await client.get("/console")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["require-trusted-types-for"] == "'script'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Request-Id"]
    html = await response.text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert "style=" not in html and "<style" not in html


async def test_every_file_the_page_loads_is_served_with_its_type(client):
    html = await (await client.get("/console")).text()
    wanted = set(re.findall(r'(?:src|href)="(/console/[^"]+)"', html))
    for source in SOURCES:  # ES module imports
        wanted |= {f"/console/{name}" for name in re.findall(r'from "\./([a-z-]+\.js)"', source.read_text())}
    assert {"/console/app.js", "/console/styles.css", "/console/api.js", "/console/stream.js"} <= wanted
    for path in sorted(wanted):
        response = await client.get(path)
        assert response.status == 200, path
        kind = path.rsplit(".", 1)[1]
        expected = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[kind]
        assert response.headers["Content-Type"].startswith(expected), path
        assert "Content-Security-Policy" in response.headers
        again = await client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status == 304, path


@pytest.mark.parametrize(
    "path", ["/console/nothing.js", "/console/App.js", "/console/..%2Fapp.py", "/console/index.html.bak",
             "/console/%2e%2e/routes/console.py"]
)
async def test_nothing_but_the_console_files_is_served(client, path):
    response = await client.get(path)
    assert response.status == 404
    assert response.headers["Content-Type"] == "application/problem+json"


async def test_a_trailing_slash_redirects_to_the_page(client):
    response = await client.get("/console/", allow_redirects=False)
    assert response.status == 308 and response.headers["Location"] == "/console"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_script_parses_strings_as_html(source):
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source.read_text(), flags=re.DOTALL)  # comments may name them
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "localStorage", "sessionStorage", "document.cookie"):
        assert sink not in code, f"{source.name} uses {sink}"
