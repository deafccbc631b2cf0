"""POST /synthesize: a label map (+ optional style) in, an image out.

Accepts multipart/form-data (files) or application/json (files as base64); both are
documented in OpenAPI. The handler reads top to bottom:
  1. parse the body into fields          (415 / 422)
  2. decode and check images on the CPU  (413 / 415 / 422; bad ids never reach the generator)
  3. queue for the batcher               (503 + Retry-After when full)
  4. encode the result                   (resize to `size`, png / jpeg / webp)
"""

from __future__ import annotations

import base64
import os
import io
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import numpy as np
import torch
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from app.batching import BatcherClosed, ClientGone, QueueFull
from app.deps import BatcherDep, EngineDep, SettingsDep, StateDep, http_error
from app.imaging import MEDIA_TYPES, UploadError, decode_base64, decode_image, decode_labels, encode, resize_longest
from app.routes import error_responses
from app.routes.meta import MAX_SEED

log = logging.getLogger(__name__)
router = APIRouter()

FILE_FIELDS = ("labels", "style", "mix_style")
MIN_SIZE, MAX_SIZE = 16, 4096  # schema bounds of `size`; settings.max_output_size may lower the top
EXPOSED = "X-Seed, X-Inference-Time-Ms"


# ---- fields ------------------------------------------------------------------------------
class SynthesizeOptions(BaseModel):
    """The non-file fields, shared by both body types."""
    model_config = ConfigDict(extra="forbid")

    style_preset: str | None = Field(None, max_length=100, description="a preset name from /api/styles")
    mix_preset: str | None = Field(None, max_length=100, description="second style as a preset name")
    mix: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False,
                       description="0: first style only; 1: the second style (or a random code from seed+1)")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="absent: the server picks one (see X-Seed)")
    format: Literal["png", "jpeg", "webp"] = Field("png", description="encoding of the returned image")
    size: int | None = Field(None, ge=MIN_SIZE, le=MAX_SIZE,
                             description="longest side of the returned image in pixels (resized after synthesis)")


def _example_labels() -> str:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, "PNG")  # every pixel class 0
    return base64.b64encode(buf.getvalue()).decode()


class SynthesizeJSON(SynthesizeOptions):
    """The application/json body: files as base64 strings (a data: URL prefix is allowed)."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"labels": _example_labels(), "seed": 1}]})

    labels: str = Field(description="label map PNG, base64: grey class ids (8/16 bit) or palette colours (RGB)")
    style: str | None = Field(None, description="style image PNG/JPEG/WebP, base64")
    mix_style: str | None = Field(None, description="second style image PNG/JPEG/WebP, base64")


def _multipart_schema() -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    props: dict[str, Any] = {
        "labels": {**binary, "description": SynthesizeJSON.model_fields["labels"].description.replace(", base64", "")},
        "style": {**binary, "description": "style image: PNG, JPEG or WebP"},
        "mix_style": {**binary, "description": "second style image: PNG, JPEG or WebP"},
    }
    # Options as plain types (no nulls: a form field is either sent or not).
    for name, prop in SynthesizeOptions.model_json_schema()["properties"].items():
        prop = dict(prop)
        if "anyOf" in prop:
            base = next(p for p in prop.pop("anyOf") if p.get("type") != "null")
            prop.update(base)
        if prop.get("default", 0) is None:  # "absent" is not a value a form can send
            del prop["default"]
        prop.pop("title", None)
        props[name] = prop
    return {"type": "object", "properties": props, "required": ["labels"], "additionalProperties": False}


OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _multipart_schema()},
            "application/json": {"schema": SynthesizeJSON.model_json_schema()},
        },
    }
}
_IMAGE_RESPONSE = {
    "description": "the synthesized image, in the requested format",
    "content": {mt: {"schema": {"type": "string", "format": "binary"}} for mt in MEDIA_TYPES.values()},
    "headers": {
        "X-Seed": {"description": "the seed used (send it back to repeat the image)", "schema": {"type": "string"}},
        "X-Inference-Time-Ms": {"description": "generator time of the batch that made this image",
                                "schema": {"type": "string"}},
    },
}


@dataclass
class _Fields:
    options: SynthesizeOptions
    files: dict[str, bytes]


def _plain(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _options(raw: dict[str, Any]) -> SynthesizeOptions:
    try:
        return SynthesizeOptions.model_validate(raw)
    except ValidationError as e:
        raise http_error(422, _plain(e)) from None


async def _read_multipart(request: Request) -> _Fields:
    files: dict[str, bytes] = {}
    raw: dict[str, Any] = {}
    try:
        form_cm = request.form(max_files=len(FILE_FIELDS), max_fields=20)
        async with form_cm as form:
            for key, value in form.multi_items():
                if key in files or key in raw:
                    raise http_error(422, f"{key}: sent more than once")
                if key in FILE_FIELDS:
                    if isinstance(value, UploadFile):
                        files[key] = await value.read()
                    elif value != "":
                        raise http_error(422, f"{key}: must be a file upload, not a text field")
                elif isinstance(value, UploadFile):
                    raise http_error(422, f"{key}: must be a text field, not a file")
                elif value != "":  # browsers send empty fields for untouched inputs
                    raw[key] = value
    except Exception as e:
        if getattr(e, "status_code", None) == 422:
            raise
        # Starlette answers malformed multipart with its own 400; ours says what is wrong.
        raise http_error(422, f"malformed multipart body: {getattr(e, 'detail', None) or e}") from None
    return _Fields(_options(raw), files)


async def _read_json(request: Request) -> _Fields:
    try:
        body = SynthesizeJSON.model_validate_json(await request.body())
    except ValidationError as e:
        raise http_error(422, _plain(e)) from None
    data = body.model_dump(exclude_none=True)
    files = {k: decode_base64(data.pop(k), k) for k in FILE_FIELDS if k in data}
    return _Fields(SynthesizeOptions.model_validate(data), files)


# ---- the route ------------------------------------------------------------------------------
@router.post("/synthesize", response_class=Response, openapi_extra=OPENAPI_BODY, tags=["synthesize"],
             responses={200: _IMAGE_RESPONSE, **error_responses(413, 415, 422, 500, 503)},
             summary="Paint a label map into a picture")
async def synthesize(request: Request, engine: EngineDep, batcher: BatcherDep, state: StateDep,
                     settings: SettingsDep) -> Response:
    # 1. parse the body
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "multipart/form-data":
            fields = await _read_multipart(request)
        elif ctype == "application/json":
            fields = await _read_json(request)
        else:
            raise http_error(415, f"send multipart/form-data or application/json, not {ctype or 'no content type'}")
        if "labels" not in fields.files:
            raise http_error(422, "labels: a label map PNG is required")
        opts = fields.options
        if opts.size is not None and opts.size > settings.max_output_size:
            raise http_error(422, f"size: at most {settings.max_output_size} pixels")

        # 2. decode and check on the CPU, off the event loop
        # decoding happens before the bounded queue: cap how many run at once, so a burst of
        # large label maps cannot hold dozens of decoded copies in memory together
        async with _DECODE_SLOTS:
            request_kwargs = await run_in_threadpool(_prepare, engine, state, settings, fields)
    except UploadError as e:
        raise http_error(e.status, e.detail) from None
    seed = opts.seed if opts.seed is not None else secrets.randbelow(MAX_SEED + 1)
    request_kwargs["seed"] = seed

    # 3. queue: one generator call may serve several requests
    try:
        result = await batcher.submit(request_kwargs, disconnected=request.is_disconnected)
    except QueueFull:
        raise http_error(503, "the server is busy (queue full); retry shortly", retry_after=settings.retry_after_s) from None
    except BatcherClosed:
        raise http_error(503, "the server is shutting down", retry_after=settings.retry_after_s) from None
    except ClientGone:
        return Response(status_code=499)  # nobody is listening; no inference was spent
    except ValueError as e:  # the engine's own checks; it numbers requests within a batch
        raise http_error(422, re.sub(r"^request \d+: ", "", str(e))) from None
    except (MemoryError, torch.OutOfMemoryError):  # host RAM / GPU memory
        raise http_error(503, "out of memory for this request; retry later or ask for less",
                         retry_after=settings.retry_after_s) from None
    except Exception as e:  # noqa: BLE001 - one request's failure; the server carries on
        log.exception("synthesis failed")
        raise http_error(500, f"synthesis failed: {type(e).__name__}: {e}") from None

    # 4. encode
    body = await run_in_threadpool(lambda: encode(resize_longest(result.image, opts.size), opts.format))
    return Response(body, media_type=MEDIA_TYPES[opts.format], headers={
        "X-Seed": str(seed),
        "X-Inference-Time-Ms": f"{result.inference_ms:.1f}",
        "Access-Control-Expose-Headers": EXPOSED,
        "Cache-Control": "no-store",
    })


_DECODE_SLOTS = anyio.Semaphore(max(2, os.cpu_count() or 2))


def _prepare(engine: Any, state: Any, settings: Any, fields: _Fields) -> dict[str, Any]:
    """Decode uploads, resolve presets, check ids: everything that can fail before the queue."""
    opts, files = fields.options, fields.files
    cfg = engine.cfg
    labels = decode_labels(files["labels"], engine.palette, settings.max_image_pixels,
                           allow_dontcare=bool(cfg.contain_dontcare_label))
    try:
        labels = engine.check_labels(labels)  # names bad ids; resizes to the model's size
    except ValueError as e:
        raise UploadError(422, f"labels: {e}") from None

    def style_from(file_key: str, preset_key: str) -> np.ndarray | None:
        data, name = files.get(file_key), getattr(opts, preset_key)
        if data is not None and name is not None:
            raise UploadError(422, f"send either {file_key} or {preset_key}, not both")
        if data is None and name is None:
            return None
        if not engine.supports_style:
            raise UploadError(422, f"{file_key}: this model has no style encoder, so it cannot take a style")
        if data is not None:
            return decode_image(data, file_key, settings.max_image_pixels)
        preset = state.styles.get(name)
        if preset is None:
            known = ", ".join(sorted(state.styles)) or "none"
            raise UploadError(422, f"{preset_key}: no style preset named {name!r} (known: {known})")
        return preset.image

    style = style_from("style", "style_preset")
    mix_style = style_from("mix_style", "mix_preset")
    return {"labels": labels, "style": style, "mix_style": mix_style, "mix": float(opts.mix)}
