"""Everything about the model and the server that is not synthesis:
model info, style presets, random scenes, health, readiness and metrics."""

from __future__ import annotations

import functools
import logging
import secrets
import zlib
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from app.deps import EngineDep, MetricsDep, StateDep, StylePreset, not_ready_error
from app.imaging import encode, encode_ids_png
from app.routes import error_responses
from model.labels import DONTCARE

log = logging.getLogger(__name__)
router = APIRouter()

MAX_SEED = 2**32 - 1  # seeds the page and clients may send; numpy and torch both accept these


# ---- response models -------------------------------------------------------------------
class LabelOut(BaseModel):
    id: int
    name: str
    color: list[int] = Field(min_length=3, max_length=3, description="[r, g, b] as painted in RGB label maps")
    group: str


class ModelOut(BaseModel):
    name: str
    size: list[int] = Field(min_length=2, max_length=2, description="[height, width] of generated images")
    supports_style: bool = Field(description="true when the model has a style encoder (style images work)")
    dontcare: int | None = Field(description="id meaning 'no class here' in label maps, or null")
    labels: list[LabelOut]


class StyleOut(BaseModel):
    name: str
    url: str = Field(description="the preset's image (JPEG)")
    time_of_day: str | None = None
    season: str | None = None
    weather: str | None = None


class StatusOut(BaseModel):
    status: str
    detail: str | None = None


# ---- style presets: rendered once per process and size ------------------------------------------------
def _attr(obj: object, name: str) -> str | None:
    v = getattr(obj, name, None)
    v = getattr(v, "value", v)  # enums -> their value
    return None if v is None else str(v)


@functools.lru_cache(maxsize=4)
def _render_presets(h: int, w: int) -> tuple[StylePreset, ...]:
    from model.scenes import Style, render_scene

    out = []
    for style in Style.all_presets():
        seed = zlib.crc32(style.name.encode())  # a fixed scene per preset, the same on every start
        image = render_scene(seed, h, w, style).image
        out.append(StylePreset(style.name, image, encode(image, "jpeg", quality=90), _attr(style, "time_of_day"),
                               _attr(style, "season"), _attr(style, "weather")))
    return tuple(out)


def render_style_presets(size: tuple[int, int]) -> dict[str, StylePreset]:
    """{name: preset} for every Style preset of model.scenes, rendered at the model's size."""
    return {p.name: p for p in _render_presets(int(size[0]), int(size[1]))}


# ---- routes ------------------------------------------------------------------------------------
@router.get("/api/model", response_model=ModelOut, responses=error_responses(503), tags=["model"],
            summary="What the loaded model paints: size, classes, colours")
def model_info(engine: EngineDep) -> ModelOut:
    cfg = engine.cfg
    return ModelOut(
        name=cfg.name, size=list(engine.output_size), supports_style=bool(engine.supports_style),
        dontcare=DONTCARE if cfg.contain_dontcare_label else None,
        labels=[LabelOut(**c) for c in engine.palette.to_json()],
    )


@router.get("/api/styles", response_model=list[StyleOut], responses=error_responses(503), tags=["styles"],
            summary="Preset style images to use as `style_preset`")
def list_styles(state: StateDep) -> list[StyleOut]:
    if not state.ready:
        raise not_ready_error(state)
    return [StyleOut(name=p.name, url=f"/api/styles/{p.name}", time_of_day=p.time_of_day, season=p.season,
                     weather=p.weather) for p in state.styles.values()]


@router.get("/api/styles/{name}", response_class=Response, tags=["styles"],
            responses={200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the preset's style image"}, **error_responses(404, 422, 503)},
            summary="A preset's style image (JPEG)")
def style_image(state: StateDep, name: Annotated[str, Path(max_length=100)]) -> Response:
    if not state.ready:
        raise not_ready_error(state)
    preset = state.styles.get(name)
    if preset is None:
        return JSONResponse({"detail": f"no style preset named {name!r}; see /api/styles"}, status_code=404)
    return Response(preset.jpeg, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/api/scene", response_class=Response, tags=["model"],
            responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "a class-id label map (8-bit grey PNG) at the model's size",
                             "headers": {"X-Seed": {"description": "the seed used", "schema": {"type": "string"}}}},
                       **error_responses(422, 503)},
            summary="A random landscape layout to start painting from")
def random_scene(engine: EngineDep,
                 seed: Annotated[int | None, Query(ge=0, le=MAX_SEED, description="same seed, same scene")] = None
                 ) -> Response:
    from model.scenes import render_layout

    seed = secrets.randbelow(MAX_SEED + 1) if seed is None else seed
    h, w = engine.output_size
    ids = render_layout(seed, h, w)  # (H, W) uint8 class ids
    return Response(encode_ids_png(ids), media_type="image/png",
                    headers={"X-Seed": str(seed), "Access-Control-Expose-Headers": "X-Seed"})


@router.get("/healthz", response_model=StatusOut, tags=["health"], summary="Liveness: the process answers")
def healthz() -> StatusOut:
    return StatusOut(status="ok")


@router.get("/readyz", response_model=StatusOut, tags=["health"],
            responses={503: {"model": StatusOut, "description": "loading, or the model failed to load (see detail)",
                             "headers": {"Retry-After": {"schema": {"type": "string"}}}}},
            summary="Readiness: the model is loaded and warmed up")
def readyz(state: StateDep) -> StatusOut | JSONResponse:
    if state.ready:
        return StatusOut(status="ready")
    return JSONResponse({"status": state.status, "detail": state.reason}, status_code=503,
                        headers={"Retry-After": str(state.settings.retry_after_s)})


@router.get("/metrics", response_class=Response, tags=["health"],
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}},
            summary="Prometheus metrics")
def metrics(m: MetricsDep) -> Response:
    return Response(m.render(), media_type=m.content_type)
