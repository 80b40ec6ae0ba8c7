"""What checking the routes against their OpenAPI document found, each answered as the document says now (the
Schemathesis run is tests/integration/test_openapi_schemathesis.py), on every backend."""

from __future__ import annotations

import uuid

import pytest


@pytest.mark.parametrize("path", ["messages/a%0Ab", "campaigns/c%0A1/recipients.csv"])
async def test_an_id_with_a_newline_gets_the_routes_json_answer(http, org, path):
    """`{bsp_msg_id:.+}` (and `{campaign:.+}`) did not match a newline: aiohttp's text/plain 404 answered instead."""
    answer = await http.get(f"/v1/orgs/{org}/{path}")
    assert answer.content_type in ("application/json", "text/csv")
    if answer.content_type == "application/json":
        assert answer.status == 404
        assert await answer.json() == {"error": "no message with this bsp_msg_id in this organisation"}
    else:
        assert answer.status == 200


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "right/UTC", "posix/Asia/Kolkata"])
async def test_a_zone_python_reads_but_the_database_does_not_know_is_400(http, org, tz):
    """zoneinfo reads these files, Postgres knows no such zone: the report was a 503 (an unhandled error) for an
    organisation with rows, and is a 400 naming tz."""
    logged = await http.post(
        f"/v1/orgs/{org}/messages", json={"bsp_msg_id": f"wamid.{uuid.uuid4()}", "to_phone": "+919876543210"}
    )
    assert logged.status == 200
    answer = await http.get(f"/v1/orgs/{org}/report", params={"tz": tz})
    assert answer.status == 400
    assert await answer.json() == {"error": f"tz must be a time zone name such as Asia/Kolkata, got {tz!r}"}
    assert (await http.get(f"/v1/orgs/{org}/report", params={"tz": "Asia/Kolkata"})).status == 200
