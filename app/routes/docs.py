"""/docs: Swagger UI served from the swagger-ui-bundle package, so it works offline.

FastAPI's built-in /docs loads Swagger UI from a CDN; create_app turns that off and includes
this router instead. The packaged Swagger UI (4.x) reads OpenAPI 3.0 only, while FastAPI
writes 3.1, so the page is given /docs/openapi.json: the same schema rewritten in 3.0 terms
(nullable instead of a null type, example instead of examples). /openapi.json stays 3.1.
"""

from __future__ import annotations

import copy
import mimetypes
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from swagger_ui_bundle import swagger_ui_path

router = APIRouter(include_in_schema=False)

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/docs/openapi.json",
        title=f"{request.app.title} - API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
def oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/docs/assets/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:  # an allow-list: no path from the URL ever reaches the file system
        raise HTTPException(404, f"no docs asset named {name!r}")
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(swagger_ui_path / name, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/docs/openapi.json")
def openapi_for_docs(request: Request) -> JSONResponse:
    state = request.app.state
    if getattr(state, "openapi_30", None) is None:
        state.openapi_30 = openapi_30(request.app.openapi())
    return JSONResponse(state.openapi_30)


def openapi_30(spec: dict) -> dict:
    """A 3.1 schema rewritten for OpenAPI 3.0 readers (the common cases FastAPI emits)."""
    out = _convert(copy.deepcopy(spec))
    out["openapi"] = "3.0.3"
    out.pop("webhooks", None)
    out.pop("jsonSchemaDialect", None)
    return out


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _convert(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del node[key]
            if len(rest) == 1 and "$ref" not in rest[0]:
                node = {**rest[0], **node}
            elif len(rest) == 1:
                node["allOf"] = rest
            else:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else types
    if isinstance(node.get("examples"), list) and node["examples"]:
        node["example"] = node.pop("examples")[0]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    node.pop("contentMediaType", None)
    node.pop("contentEncoding", None)
    return node
