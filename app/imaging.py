"""Edge checks for uploaded images, and encoding of results.

Every upload goes through the same steps, cheapest first:
  1. the format is sniffed from the first bytes (never from a filename or content type) -> 415
  2. the pixel count is read from the header, before any pixel is decoded              -> 413
  3. the image is decoded by model.imageio; a truncated or corrupt file               -> 422
  4. label maps only: grey ids (8/16 bit) or palette colours become class ids          -> 422
Errors are `UploadError(status, detail)`; the routes pass them on as HTTP errors.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import warnings

import numpy as np
from PIL import Image

from model.imageio import encode_image, encode_label_png, read_image, read_label_png
from model.labels import Palette

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class UploadError(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


# ---- 1. format -----------------------------------------------------------------------
def sniff_format(data: bytes) -> str | None:
    """'png' | 'jpeg' | 'webp' from the magic bytes, or None."""
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _describe(data: bytes) -> str:
    for magic, name in ((b"GIF8", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
                        (b"%PDF", "PDF"), (b"<", "text/markup"), (b"{", "JSON")):
        if data.startswith(magic):
            return name
    return "not a recognised image"


# ---- 2. size from the header -------------------------------------------------------------
def _png_size(data: bytes) -> tuple[int, int]:
    # The IHDR chunk must come first: length(4) 'IHDR'(4) width(4) height(4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise UploadError(422, "the PNG is truncated or corrupt (no IHDR header)")
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def _header_size(data: bytes, what: str) -> tuple[int, int]:
    """(w, h) from a JPEG / WebP header: Pillow's open() parses the header and decodes no pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError as e:
        raise UploadError(413, f"{what}: {e}") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad headers
        raise UploadError(422, f"{what}: the image is truncated or corrupt ({type(e).__name__})") from None


def check_header(data: bytes, what: str, allowed: tuple[str, ...], max_pixels: int) -> str:
    """Steps 1-2. Returns the sniffed format."""
    if not data:
        raise UploadError(422, f"{what}: the file is empty")
    fmt = sniff_format(data)
    if fmt is None or fmt not in allowed:
        got = fmt.upper() if fmt else _describe(data)
        want = " or ".join(a.upper() for a in allowed)
        raise UploadError(415, f"{what}: must be {want} (judged from its bytes: {got})")
    if fmt == "png":
        w, h = _png_size(data)
    else:
        w, h = _header_size(data, what)
    if w < 1 or h < 1:
        raise UploadError(422, f"{what}: the header says {w}x{h} pixels")
    if w * h > max_pixels:
        raise UploadError(413, f"{what}: {w}x{h} = {w * h} pixels is over the limit of {max_pixels}")
    return fmt


# ---- 3-4. decoding (model.imageio), after the edge checks above -----------------------------
def decode_labels(data: bytes, palette: Palette, max_pixels: int, allow_dontcare: bool = False) -> np.ndarray:
    """A label-map PNG -> (H, W) int64 class ids (not yet range-checked: Engine.check_labels does that).

    Grey PNGs (8 or 16 bit) hold ids; RGB PNGs hold palette colours (see model.imageio.read_label_png).
    """
    check_header(data, "labels", ("png",), max_pixels)
    try:
        return read_label_png(data, palette, allow_dontcare=allow_dontcare, max_pixels=max_pixels)
    except ValueError as e:
        raise UploadError(422, _plain(str(e), "labels")) from None


def decode_image(data: bytes, what: str, max_pixels: int) -> np.ndarray:
    """A PNG / JPEG / WebP upload -> (H, W, 3) uint8 RGB, EXIF orientation applied, alpha over white."""
    check_header(data, what, ("png", "jpeg", "webp"), max_pixels)
    try:
        rgb = read_image(data, max_pixels=max_pixels, what=what)
    except ValueError as e:
        raise UploadError(422, _plain(str(e), what)) from None
    return rgb if rgb.flags.writeable else rgb.copy()  # torch warns about read-only arrays


def _plain(message: str, what: str) -> str:
    # model.imageio names bytes sources "<bytes>"; an upload is better named by its field.
    message = message.replace("<bytes> ", "the file ").replace("<bytes>", "the file")
    return message if message.startswith(f"{what}:") else f"{what}: {message}"


def decode_base64(text: str, what: str) -> bytes:
    """Base64 (optionally a data: URL) -> bytes."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise UploadError(422, f"{what}: not valid base64 ({e})") from e


# ---- results ------------------------------------------------------------------------------
def resize_longest(rgb: np.ndarray, size: int | None) -> np.ndarray:
    """Resize so the longest side is `size` (aspect kept); None keeps the image as is."""
    h, w = rgb.shape[:2]
    if size is None or max(h, w) == size:
        return rgb
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    return np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.Resampling.LANCZOS))


def encode(rgb: np.ndarray, fmt: str = "png", quality: int = 92) -> bytes:
    """(H, W, 3) uint8 -> PNG / JPEG / WebP bytes."""
    return encode_image(rgb, fmt, quality)


def encode_ids_png(ids: np.ndarray) -> bytes:
    """(H, W) class ids -> 8-bit (or 16-bit when needed) grey PNG."""
    return encode_label_png(ids)


__all__ = ["UploadError", "MEDIA_TYPES", "sniff_format", "check_header", "decode_labels", "decode_image",
           "decode_base64", "resize_longest", "encode", "encode_ids_png"]
