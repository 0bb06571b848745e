"""Problems, request ids and probes, through real HTTP."""

PROBLEM = "application/problem+json"


async def test_liveness_answers_without_the_database(client):
    response = await client.get("/health/live")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_readiness_is_ok_when_migrations_are_current(client):
    response = await client.get("/health/ready")
    assert response.status == 200


async def test_readiness_is_503_when_migrations_are_behind(client, conn):
    await conn.execute(
        "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
    )
    response = await client.get("/health/ready")
    assert response.status == 503
    body = await response.json(content_type=PROBLEM)
    assert body["code"] == "service_unavailable"
    assert "Migrations are not current" in body["detail"]


async def test_unknown_route_is_a_problem_with_the_request_id(client):
    response = await client.get("/no/such/thing", headers={"X-Request-Id": "req-42"})
    assert response.status == 404
    assert response.content_type == PROBLEM
    assert response.headers["X-Request-Id"] == "req-42"
    body = await response.json(content_type=PROBLEM)
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["requestId"] == "req-42"
    assert set(body) == {"type", "title", "status", "detail", "code", "errors", "requestId"}


async def test_wrong_method_is_405_with_allow(client):
    response = await client.post("/health/live")
    assert response.status == 405
    assert response.content_type == PROBLEM
    assert "GET" in response.headers["Allow"]


async def test_a_request_id_is_generated_when_none_is_sent(client):
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert first.headers["X-Request-Id"]
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


async def test_a_hostile_request_id_is_replaced(client):
    response = await client.get("/health/live", headers={"X-Request-Id": "x" * 500})
    assert len(response.headers["X-Request-Id"]) < 100


async def test_unsupported_api_version_is_400(client):
    response = await client.get("/health/live", headers={"X-Api-Version": "2.0"})
    assert response.status == 400
    assert (await response.json(content_type=PROBLEM))["code"] == "unsupported_api_version"
    ok = await client.get("/health/live", headers={"X-Api-Version": "3.0"})
    assert ok.status == 200
