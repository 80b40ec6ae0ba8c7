"""No phone and no secret reaches the log or an answer (issue 22, item 7): the real server, as a subprocess with
its log at debug, answers a hostile set of requests (a token in a header with a control character, request lines
over 8 kB carrying `?token=`, customer paths with a phone while the database is away) and its log is searched."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp

from tests.dbproxy import DbProxy
from tests.integration.test_process import Server, free_port

API_TOKEN = "api-token-7f3a9c"
URL_TOKEN = "url-token-5d1e8b"
PHONE = "+919800011111"
SECRETS = (API_TOKEN, URL_TOKEN, "9800011111", "919800011111")


async def raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(30):  # a bound on a hang, not a timing assertion
            return await reader.read()
    finally:
        writer.close()


async def test_a_hostile_run_leaves_no_phone_nor_secret_in_the_log_or_the_answers(dsn: str, tmp_path: Path):
    proxy = DbProxy(dsn)
    await proxy.start()
    port = free_port()
    log = tmp_path / "server.log"
    server = Server(
        proxy.dsn, port, log, LOG_LEVEL="debug", API_TOKEN=API_TOKEN, WEBHOOK_URL_TOKEN=URL_TOKEN, EVENT_LOOP="asyncio"
    )
    server.start()
    org = uuid.uuid4()
    answers: list[bytes] = []
    try:
        await server.wait_ready()
        host = b"Host: 127.0.0.1\r\n"
        for header in (
            b"Authorization: Bearer " + API_TOKEN.encode() + b"\x01",
            b"X-Token: " + URL_TOKEN.encode() + b"\x7f",
        ):
            answers.append(await raw(port, b"GET /readyz HTTP/1.1\r\n" + host + header + b"\r\n\r\n"))
        for method in (b"GET", b"POST"):
            line = method + f" /webhooks/{org}?token={URL_TOKEN}&pad=".encode() + b"x" * 9000 + b" HTTP/1.1\r\n"
            answers.append(await raw(port, line + host + b"Content-Length: 0\r\n\r\n"))
        long_header = b"X-Pad: " + API_TOKEN.encode() + b"y" * 9000
        answers.append(await raw(port, b"GET /healthz HTTP/1.1\r\n" + host + long_header + b"\r\n\r\n"))
        assert all(answer.split(b"\r\n")[0].endswith(b" 400 Bad Request") for answer in answers), answers
        assert all(answer.endswith(b'{"error": "malformed HTTP request"}') for answer in answers), answers
        await proxy.cut()  # the database goes away
        bearer = {"Authorization": f"Bearer {API_TOKEN}"}
        async with aiohttp.ClientSession() as session:
            for customer in (PHONE, "%2B919800011111", "919800011111"):
                for method in ("GET", "DELETE"):
                    url = f"{server.url}/v1/orgs/{org}/customers/{customer}"
                    async with session.request(method, url, headers=bearer) as resp:
                        assert resp.status == 503, await resp.text()
                        answers.append(await resp.read())
            async with session.post(f"{server.url}/webhooks/{org}?token={URL_TOKEN}", json={"statuses": []}) as resp:
                answers.append(await resp.read())
    finally:
        server.stop()
        await proxy.cut()
    text = log.read_text(errors="replace")
    assert "route=export_customer" in text and "route=forget_customer" in text  # the outage was logged ...
    for secret in SECRETS:  # ... without the phone, and nothing echoed a secret
        assert secret not in text, secret
        assert not any(secret.encode() in answer for answer in answers), secret
