"""create_app(settings): assembles routers, middleware, error handlers, static files and the lifespan.

(templates/ is rendered by app/routes/pages.py, which holds its own Jinja2Templates.)

The model is loaded once per app, on a background thread started by the lifespan, so
/healthz answers at once and /readyz turns 200 only after the model has loaded and warmed up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.deps import EngineLoader, ServerState, load_engine
from app.limits import BodySizeLimitMiddleware
from app.metrics import Metrics, MetricsMiddleware
from app.routes import docs, meta, pages, synthesize
from app.settings import Settings

log = logging.getLogger("app")
ROOT = Path(__file__).resolve().parent.parent  # the repository (or image) root: static/


def create_app(settings: Settings | None = None, *, engine_loader: EngineLoader | None = None) -> FastAPI:
    """Build the app. `engine_loader(settings) -> Engine` replaces Engine.from_folder (tests use it)."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # A fresh state per lifespan: a restarted app (tests do that) loads its model anew.
        state = app.state.server = ServerState(settings, metrics)
        loader = threading.Thread(target=state.load, args=(engine_loader or load_engine, meta.render_style_presets),
                                  name="spade-model-loader", daemon=True)
        loader.start()
        try:
            yield
        finally:
            state.close()
            # Never leave a thread inside torch behind: wait for a load still under way to finish.
            await asyncio.to_thread(loader.join, 120)

    app = FastAPI(title="SPADE semantic painting", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # /docs is served offline by app.routes.docs
                  description="Paint a map of classes (sky, mountain, water, ...) and get a photo-like landscape.")
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.server = ServerState(settings, metrics)  # 'loading' until the lifespan starts

    # Middleware: the last added runs first, so metrics see the limit's 413s too.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)

    for router in (pages.router, synthesize.router, meta.router, docs.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=ROOT / "static", check_dir=False), name="static")
    return app


# ---- errors: always {"detail": "<plain words>"} ------------------------------------------------
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"unexpected server error ({type(exc).__name__}); it has been logged"},
                        status_code=500)
