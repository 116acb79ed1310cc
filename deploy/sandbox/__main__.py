"""`python -m deploy.sandbox [--host H] [--port P]`: serve the sandbox platform."""

from __future__ import annotations

import argparse

import uvicorn

from deploy.sandbox.app import create_sandbox_app


def main() -> None:
    parser = argparse.ArgumentParser(description="mediaops sandbox platform")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-scale", type=float, default=None)
    args = parser.parse_args()
    behaviour = {
        k: v for k, v in {"seed": args.seed, "time_scale": args.time_scale}.items() if v is not None
    }
    uvicorn.run(
        create_sandbox_app(behaviour=behaviour), host=args.host, port=args.port, access_log=False
    )


if __name__ == "__main__":
    main()
