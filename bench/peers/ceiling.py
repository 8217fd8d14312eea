"""The ceiling: a bare ASGI app on uvicorn that returns a fixed retrieve body.

Same server as ``reelgate serve`` (uvicorn, httptools, uvloop, access log off), no
framework, no database, no auth: what this machine can answer at most with this body.
reelgate's retrieve rate is reported as a fraction of it.

Run: ``python -m bench.peers.ceiling --port 18090 --body body.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn


def make_app(body: bytes) -> Any:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: nothing to start
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.body.read_bytes()), host="127.0.0.1", port=args.port,
                http="httptools", loop="uvloop", log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
