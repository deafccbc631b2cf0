"""`spade serve`: start the painting server with uvicorn.

Command-line options become SPADE_* environment variables, so the app factory reads one
source of truth (Settings) whether or not uvicorn's --reload re-imports it in a child process.
"""

from __future__ import annotations

import argparse
import copy
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", help="model folder (default: SPADE_MODEL_DIR or weights/landscapes)")
    p.add_argument("--host", help="address to listen on (default: SPADE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: SPADE_PORT or 8000)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"], help="default: auto")
    p.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def main(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from app.settings import Settings

    overrides = {"MODEL_DIR": args.model, "HOST": args.host, "PORT": args.port, "DEVICE": args.device,
                 "PRECISION": args.precision}
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"SPADE_{key}"] = str(value)
    try:
        settings = Settings()  # validates everything once, here
    except ValidationError as e:  # one line per problem, no pydantic banner
        raise ValueError("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())) from None
    # uvicorn's own logging setup, plus our packages' loggers on the same handler.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    for name in ("app", "model"):
        log_config["loggers"][name] = {"handlers": ["default"], "level": args.log_level.upper(), "propagate": False}
    uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port,
                reload=args.reload, reload_dirs=["app", "model"] if args.reload else None,
                log_level=args.log_level, log_config=log_config, timeout_graceful_shutdown=10)
    return 0
