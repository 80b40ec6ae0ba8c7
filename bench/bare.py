"""The baseline: a bare aiohttp server that reads each body and answers 200, nothing else.

python -m bench.bare PORT
"""

from __future__ import annotations

import sys

from aiohttp import web


async def read_and_ack(request: web.Request) -> web.Response:
    await request.read()
    return web.Response()


def main(argv: list[str]) -> int:
    app = web.Application(client_max_size=1_048_576)
    app.router.add_post("/{tail:.*}", read_and_ack)
    app.router.add_get("/{tail:.*}", read_and_ack)
    web.run_app(app, host="127.0.0.1", port=int(argv[0]), access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
