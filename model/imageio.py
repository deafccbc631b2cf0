"""Reading label-map PNGs and images, and encoding results (shared by `spade synth` and the server).

Decoding is defensive: the declared pixel count is checked from the header before any
pixel data is decoded, and truncated or corrupt files raise ValueError with a clear message.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from model.labels import DONTCARE, Palette

MAX_PIXELS = 4096 * 4096  # default limit on decoded pixels per image
ID_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L")  # single-channel modes that hold class ids
FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}

Source = str | Path | bytes


def _open(src: Source, what: str, max_pixels: int, formats: tuple[str, ...] | None = None) -> Image.Image:
    """Open and fully decode an image, checking its header first."""
    name = "<bytes>" if isinstance(src, (bytes, bytearray)) else str(src)
    try:
        fp = io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else open(src, "rb")
    except OSError as e:
        raise ValueError(f"{what}: cannot read {name}: {e.strerror or e}") from e
    with fp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(fp)  # reads the header only
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as e:
            raise ValueError(f"{what}: {name} is not a readable image ({e})") from e
        if formats is not None and im.format not in formats:
            raise ValueError(f"{what}: {name} is {im.format}, expected {' or '.join(formats)}")
        w, h = im.size
        if w < 1 or h < 1 or w * h > max_pixels:
            raise ValueError(f"{what}: {name} is {w}x{h} pixels; the limit is {max_pixels} pixels")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
        except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, zlib errors...
            raise ValueError(f"{what}: {name} is truncated or corrupt ({type(e).__name__}: {e})") from e
    return im


def read_label_png(src: Source, palette: Palette, allow_dontcare: bool = False,
                   max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A label-map PNG -> (H, W) int64 class ids (range checks are Engine.check_labels' job).

    - grey 8- or 16-bit (or 1-bit) PNG: the values are the class ids (255 = don't care);
    - RGB / opaque RGBA PNG: the palette's exact colours; unknown colours raise ValueError
      naming them (with `allow_dontcare`, black that is not a palette colour means 255);
    - paletted PNG: colours when every colour used is in the palette, else the indices are ids.
    """
    im = _open(src, "labels", max_pixels, formats=("PNG",))
    if im.mode in ID_MODES:
        return np.asarray(im).astype(np.int64)
    if im.mode == "P":
        try:
            return _ids_from_rgb(np.asarray(im.convert("RGB")), palette, allow_dontcare)
        except ValueError:
            return np.asarray(im).astype(np.int64)
    if im.mode in ("RGB", "RGBA"):
        arr = np.asarray(im)
        if im.mode == "RGBA":
            if (arr[..., 3] != 255).any():
                raise ValueError("labels: the PNG has transparent pixels; paint every pixel with a palette colour")
            arr = arr[..., :3]
        return _ids_from_rgb(arr, palette, allow_dontcare)
    raise ValueError(f"labels: PNG mode {im.mode} is not a label map (use 8/16-bit grey ids or palette RGB)")


def read_instance_png(src: Source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An instance-id PNG (grey, 8/16 bit) -> (H, W) int64 instance ids."""
    im = _open(src, "instances", max_pixels, formats=("PNG",))
    if im.mode not in ID_MODES:
        raise ValueError(f"instances: expected a grey PNG of instance ids, got PNG mode {im.mode}")
    return np.asarray(im).astype(np.int64)


def _ids_from_rgb(rgb: np.ndarray, palette: Palette, allow_dontcare: bool) -> np.ndarray:
    try:
        ids = palette.ids_from_colors(np.ascontiguousarray(rgb), allow_dontcare=allow_dontcare)
    except ValueError as e:
        raise ValueError(f"labels: {e}") from e
    return ids.astype(np.int64)


def read_image(src: Source, max_pixels: int = MAX_PIXELS, what: str = "image") -> np.ndarray:
    """A PNG / JPEG / WebP (or any format Pillow reads) -> (H, W, 3) uint8 RGB.

    EXIF orientation is applied; transparent areas become white.
    """
    im = _open(src, what, max_pixels)
    try:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        rgb = np.array(im.convert("RGB"))  # a writable copy (torch warns about read-only arrays)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{what}: cannot convert to RGB ({type(e).__name__}: {e})") from e
    return rgb


def encode_image(arr: np.ndarray, fmt: str = "png", quality: int = 92) -> bytes:
    """(H, W, 3) uint8 RGB (or (H, W) uint8 / uint16 grey) -> PNG / JPEG / WebP bytes."""
    key = fmt.lower().lstrip(".")
    if key not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; choose from png, jpeg, webp")
    arr = np.ascontiguousarray(arr)
    if arr.dtype not in (np.uint8, np.uint16) or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"expected (H, W, 3) uint8 or (H, W) grey, got {arr.shape} {arr.dtype}")
    im = Image.fromarray(arr)
    buf = io.BytesIO()
    if FORMATS[key] == "PNG":
        im.save(buf, "PNG", compress_level=3)
    else:
        if arr.dtype != np.uint8:
            raise ValueError(f"{key} needs 8-bit pixels")
        im.save(buf, FORMATS[key], quality=quality)
    return buf.getvalue()


def write_image(path: str | Path, arr: np.ndarray, quality: int = 92) -> Path:
    """Write (H, W, 3) uint8 in the format its suffix names (.png, .jpg, .jpeg, .webp)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown image suffix; use .png, .jpg or .webp")
    data = encode_image(arr, fmt, quality)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def encode_label_png(ids: np.ndarray) -> bytes:
    """(H, W) class ids -> grey PNG, 8-bit when every id fits (255 = don't care), else 16-bit."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.min(initial=0) < 0 or ids.max(initial=0) > 65535:
        raise ValueError("label maps are (H, W) ids in 0..65535")
    return encode_image(ids.astype(np.uint8 if ids.max(initial=0) <= DONTCARE else np.uint16), "png")
