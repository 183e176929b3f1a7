"""The ceiling for bench/oauth_token.py: a bare FastAPI app on uvicorn, started the way
`idproof serve` starts idproof (same uvicorn options, same worker model: with several
workers, idproof's supervisor, a listening socket per worker; `--uvicorn-workers` for
uvicorn's own, one socket shared by all).

Run: .venv/bin/python bench/_bare_app.py --port P --workers N
"""

from __future__ import annotations

import os
import sys

# This folder holds token.py, which would shadow the standard library's `token` module: keep
# the folder on the path (for `_bare_app:app` in the workers) but after the standard library.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE] + [_HERE]

from fastapi import FastAPI  # noqa: E402

# About the size of a real access token response, so both servers send as many bytes.
_TOKEN = {"access_token": "x" * 420, "token_type": "Bearer", "expires_in": 600,
          "scope": "identity.verify"}
_ME = {"client_id": "cli_0123456789abcdefghijklmn", "tenant": "demo",
       "tenant_id": "ten_0123456789abcdefghijklmn", "scopes": ["identity.verify"]}

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/token")
async def token() -> dict[str, object]:
    return _TOKEN


@app.get("/me")
async def me() -> dict[str, object]:
    return _ME


def main() -> None:
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--uvicorn-workers", action="store_true",
                        help="several workers under uvicorn's supervisor instead of idproof's")
    args = parser.parse_args()
    opts = {"host": "127.0.0.1", "port": args.port, "log_config": None, "access_log": False,
            "proxy_headers": False, "server_header": False}
    if args.workers > 1 and args.uvicorn_workers:
        uvicorn.run("_bare_app:app", workers=args.workers, **opts)  # type: ignore[arg-type]
    elif args.workers > 1:
        from idproof.cli.supervisor import Supervisor

        Supervisor("127.0.0.1", args.port, args.workers, {"access_log": False},
                   app="_bare_app:app", factory=False).run()
    else:
        uvicorn.run(app, **opts)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
