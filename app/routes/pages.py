"""GET /: the painting page (templates/index.html; the page itself lives in static/js and static/css)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

router = APIRouter()
ROOT = Path(__file__).resolve().parents[2]  # the repository root: templates/, static/
templates = Jinja2Templates(directory=str(ROOT / "templates"))


def model_name(request: Request) -> str:
    """The loaded model's name; while it loads, the name in its folder's config.json."""
    state = getattr(request.app.state, "server", None)
    engine = getattr(state, "engine", None)
    name = getattr(getattr(engine, "cfg", None), "name", None)
    if name:
        return str(name)
    settings = getattr(request.app.state, "settings", None)
    folder = Path(getattr(settings, "model_dir", "") or ".")
    try:
        return str(json.loads((folder / "config.json").read_text())["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return folder.name or "model"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {"model_name": model_name(request)})
