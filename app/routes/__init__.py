"""Routers, one per concern: synthesize, meta (model / styles / scene / health / metrics), docs, pages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_REASONS = {
    400: "Malformed request",
    404: "Not found",
    413: "Body or image too large",
    415: "Unsupported image format (judged from the bytes)",
    422: "Invalid input: bad field values, corrupt image, ids or colours not in the palette",
    500: "Unexpected server error",
    503: "Model not ready, or queue full: retry after the Retry-After header's seconds",
}


class ErrorOut(BaseModel):
    """Every error response: one sentence in plain words."""
    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error codes a route can answer with."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorOut, "description": _REASONS[code]}
        if code == 503:
            entry["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                                "schema": {"type": "string"}}}
        out[code] = entry
    return out
