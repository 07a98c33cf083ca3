"""The HTTP ceiling: the load generator against a server that only reads each
webhook and answers 200, with no parsing and no Kafka.

On traffic of one alert per webhook the HTTP requests themselves, not the
broker, bound what one machine takes: the load generator and the server
share the same cores. This measures that bound with the same load generator,
event loop and web framework as ingest, so that Corral's rate on a shape can
be read against both the broker's limit and what HTTP alone allows.

    python -m bench.perf.ceiling --port 9999   # serves until terminated
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from shared import service

ANSWER = b'{"status":"success"}'


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


async def serve(port: int) -> None:
    app = web.Application()
    app.add_routes([web.post("/api/v1/alerts/alertmanager", accept)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()  # until terminated
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    service.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
