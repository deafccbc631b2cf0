"""Vectorised value noise and fractal Brownian motion (fbm) in numpy.

Value noise is separable here: a random lattice G (gh, gw) is interpolated to the
sample rows, then to the sample columns, with whole-row gathers (`take`) rather than a
per-pixel bilinear lookup, so an octave of a 256x256 field costs a few full-frame
passes whatever its lattice size. Sample positions are
free 1-D coordinate arrays (in lattice cells), which lets callers squash rows with
perspective or stretch columns without touching the noise code.

`texture_bank()` holds a few tileable channels, made once per process, that the
renderer crops at random offsets for fine texture (grain, streaks, blades, clumps).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def _lerp_index(coords: np.ndarray, period: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Lattice indices i0, i1 and smoothstep weights for `coords` (in cells), and the lattice size.

    Without a period the lattice spans floor(min)..ceil(max)+1 of the coordinates; with
    one it wraps, so the result tiles with that period.
    """
    c = np.asarray(coords, dtype=np.float64)
    if period is None:
        c = c - np.floor(c.min(initial=0.0))
        m = int(np.floor(c.max(initial=0.0))) + 2
    else:
        c = np.mod(c, period)
        m = int(period)
    i0 = np.floor(c).astype(np.intp)
    f = c - i0
    s = (f * f * (3.0 - 2.0 * f)).astype(np.float32)
    i0 %= m
    return i0, (i0 + 1) % m, s, m


def noise2d(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray,
            period: tuple[int, int] | None = None) -> np.ndarray:
    """One octave of value noise in [-1, 1] sampled at rows `ys` x columns `xs` (cells).

    Separable: interpolate the lattice along one axis with two row gathers, then along
    the other, starting with whichever axis gives the smaller intermediate array.
    """
    i0, i1, s, m = _lerp_index(ys, None if period is None else period[0])
    j0, j1, t, n = _lerp_index(xs, None if period is None else period[1])
    grid = rng.random((m, n), dtype=np.float32) * 2.0 - 1.0
    if len(ys) * n <= m * len(xs):
        a = grid.take(i0, axis=0)  # (H, n)
        a += (grid.take(i1, axis=0) - a) * s[:, None]
        out = a.take(j0, axis=1)  # (H, W)
        out += (a.take(j1, axis=1) - out) * t[None, :]
    else:
        a = grid.take(j0, axis=1)  # (m, W)
        a += (grid.take(j1, axis=1) - a) * t[None, :]
        out = a.take(i0, axis=0)  # (H, W)
        out += (a.take(i1, axis=0) - out) * s[:, None]
    return out


def fbm2d(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, octaves: int = 4,
          gain: float = 0.5, lacunarity: float = 2.0, period: tuple[int, int] | None = None) -> np.ndarray:
    """Sum of `octaves` noise2d octaves, each `lacunarity` times finer; about [-1, 1].

    With a period the lattice of octave k has period * lacunarity**k cells, so use an
    integer lacunarity to keep the result tileable.
    """
    ys = np.asarray(ys, np.float64)
    xs = np.asarray(xs, np.float64)
    out = None
    amp, total, freq = 1.0, 0.0, 1.0
    for _ in range(octaves):
        per = None if period is None else (int(round(period[0] * freq)), int(round(period[1] * freq)))
        layer = noise2d(rng, ys * freq, xs * freq, per)
        out = layer * amp if out is None else out + layer * amp
        total += amp
        amp *= gain
        freq *= lacunarity
    return (out / total).astype(np.float32)


def fbm1d(rng: np.random.Generator, xs: np.ndarray, octaves: int = 5, gain: float = 0.5,
          lacunarity: float = 2.0) -> np.ndarray:
    """1-D fbm in about [-1, 1] at coordinates `xs` (cells of the first octave)."""
    xs = np.asarray(xs, np.float64)
    out = np.zeros(len(xs), np.float64)
    amp, total, freq = 1.0, 0.0, 1.0
    for _ in range(octaves):
        c = xs * freq
        c = c - np.floor(c.min(initial=0.0))
        i0 = np.floor(c).astype(np.int64)
        f = c - i0
        s = f * f * (3.0 - 2.0 * f)
        lattice = rng.uniform(-1.0, 1.0, size=int(i0.max(initial=0)) + 2)
        out += amp * (lattice[i0] * (1.0 - s) + lattice[i0 + 1] * s)
        total += amp
        amp *= gain
        freq *= lacunarity
    return (out / total).astype(np.float32)


# ---- the texture bank ------------------------------------------------------------------

BANK_SIZE = 256  # period of every bank channel, in bank pixels

# Channel indices of texture_bank(); all tile with period BANK_SIZE.
FINE, DX, DY, RIDGED, STREAK, BLADE, CLUMP, WHITE, LARGE = range(9)


def _normalise(a: np.ndarray) -> np.ndarray:
    a = a - a.mean()
    return (a / (np.abs(a).max() + 1e-6)).astype(np.float32)


@lru_cache(maxsize=1)
def texture_bank() -> np.ndarray:
    """(9, BANK_SIZE, BANK_SIZE) float32 tileable texture channels, made once per process.

    FINE   isotropic fbm, cells of 32 px down to 2 px, in [-1, 1]
    DX, DY its gradient (for relief shading), scaled to about [-1, 1]
    RIDGED 1 - |fbm| sharpened: thin bright ridges / dark cracks, in [0, 1]
    STREAK horizontal streaks (cells 64 px wide, 4 px tall), in [-1, 1]
    BLADE  vertical streaks (cells 1 px wide, 8 px tall) for grass blades, in [-1, 1]
    CLUMP  rounded clumps for foliage, in [0, 1]
    WHITE  white noise, uniform in [0, 1)
    LARGE  coarse fbm (cells of 128 px), in [-1, 1]
    """
    p = BANK_SIZE
    rng = np.random.default_rng(20240229)
    idx = np.arange(p, dtype=np.float64)
    out = np.empty((9, p, p), np.float32)

    out[FINE] = _normalise(fbm2d(rng, idx / 32, idx / 32, octaves=5, gain=0.55, period=(p // 32, p // 32)))
    gy, gx = np.gradient(np.pad(out[FINE], 1, mode="wrap"))
    gx, gy = gx[1:-1, 1:-1], gy[1:-1, 1:-1]
    scale = np.percentile(np.abs(np.stack([gx, gy])), 99) + 1e-6
    out[DX] = np.clip(gx / scale, -1, 1)
    out[DY] = np.clip(gy / scale, -1, 1)

    ridged = 1.0 - np.abs(fbm2d(rng, idx / 16, idx / 16, octaves=4, gain=0.5, period=(p // 16, p // 16)) * 1.6)
    out[RIDGED] = np.clip(ridged, 0, 1) ** 3

    out[STREAK] = _normalise(fbm2d(rng, idx / 4, idx / 64, octaves=3, gain=0.5, period=(p // 4, p // 64)))
    out[BLADE] = _normalise(fbm2d(rng, idx / 8, idx / 1.0, octaves=2, gain=0.5, period=(p // 8, p)))

    c = fbm2d(rng, idx / 8, idx / 8, octaves=3, gain=0.45, period=(p // 8, p // 8))
    out[CLUMP] = np.clip(0.5 + 1.4 * _normalise(c), 0, 1)

    out[WHITE] = rng.random((p, p), dtype=np.float32)
    out[LARGE] = _normalise(fbm2d(rng, idx / 128, idx / 128, octaves=3, gain=0.5, period=(2, 2)))
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def _bank_tiled() -> np.ndarray:
    """The bank tiled 2x2, so any crop of up to BANK_SIZE px at stride 1 is a plain slice."""
    t = np.tile(texture_bank(), (1, 2, 2))
    t.setflags(write=False)
    return t


def bank_crop(rng: np.random.Generator, height: int, width: int, stride: float = 1.0,
              rows: np.ndarray | None = None) -> np.ndarray:
    """(C, height, width) crop of the bank at a random offset, `stride` bank px per output px.

    At stride 1 and up to BANK_SIZE px this is a slice of the tiled bank (no copy). Other
    strides resample: nearest-neighbour when minifying, bilinear when magnifying (so large
    renders do not look blocky). `rows` overrides the row coordinates (bank px, e.g. a
    perspective mapping); columns then use `stride`.
    """
    p = BANK_SIZE
    oy, ox = (int(v) for v in rng.integers(0, p, size=2))
    if rows is not None:
        r = (oy + np.floor(rows).astype(np.int64)) % p
        a = texture_bank().take(r, axis=1)  # (C, H, P): whole bank rows, the fast take
        if abs(stride - 1.0) < 1e-6 and width <= p - ox:
            return a[:, :, ox:ox + width]
        if abs(stride - 1.0) < 1e-6 and width <= p:
            return np.concatenate([a[:, :, ox:], a[:, :, :width - (p - ox)]], axis=2)
        c = (ox + np.floor(np.arange(width) * stride).astype(np.int64)) % p
        return a.take(c, axis=2)
    if abs(stride - 1.0) < 1e-6 and height <= p and width <= p:
        return _bank_tiled()[:, oy:oy + height, ox:ox + width]
    bank = texture_bank()
    if stride > 1.0:
        r = (oy + np.floor(np.arange(height) * stride).astype(np.int64)) % p
        c = (ox + np.floor(np.arange(width) * stride).astype(np.int64)) % p
        return bank.take(r, axis=1).take(c, axis=2)
    ry = oy + np.arange(height) * stride
    rx = ox + np.arange(width) * stride
    r0 = np.floor(ry).astype(np.int64)
    c0 = np.floor(rx).astype(np.int64)
    fy = (ry - r0).astype(np.float32)[None, :, None]
    fx = (rx - c0).astype(np.float32)[None, None, :]
    a = bank.take(r0 % p, axis=1)
    a += (bank.take((r0 + 1) % p, axis=1) - a) * fy  # (C, H, P)
    out = a.take(c0 % p, axis=2)
    out += (a.take((c0 + 1) % p, axis=2) - out) * fx
    return out


@dataclass(frozen=True)
class TexMap:
    """Where each output pixel reads the bank: texel (row_index[y], col_index[x]) of `base`.

    Gathering through the map costs only the pixels a caller asks for; no crop is copied.
    """

    base: np.ndarray       # (C, R, S) contiguous
    row_index: np.ndarray  # (H,) rows of base
    col_index: np.ndarray  # (W,) columns of base

    def gather(self, channel: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Channel values at output pixels (rows[i], cols[i])."""
        s = self.base.shape[2]
        flat = self.row_index.take(rows) * s + self.col_index.take(cols)
        return self.base[channel].reshape(-1).take(flat)


def bank_map(rng: np.random.Generator, height: int, width: int, stride: float = 1.0,
             rows: np.ndarray | None = None) -> TexMap:
    """Like bank_crop (same offsets drawn from rng, same texels) but as an index map.

    Minifying or unit strides read the bank directly (nearest texel); magnifying strides
    (large renders) fall back to a bilinear crop so they do not look blocky.
    """
    p = BANK_SIZE
    if stride < 1.0 - 1e-6 and rows is None:
        crop = np.ascontiguousarray(bank_crop(rng, height, width, stride))
        return TexMap(crop, np.arange(height), np.arange(width))
    oy, ox = (int(v) for v in rng.integers(0, p, size=2))
    if rows is not None:
        r = (oy + np.floor(rows).astype(np.int64)) % p
    else:
        r = (oy + np.floor(np.arange(height) * stride).astype(np.int64)) % p
    c = (ox + np.floor(np.arange(width) * max(stride, 1e-6)).astype(np.int64)) % p
    return TexMap(texture_bank(), r, c)


def bank_patch(rng: np.random.Generator, height: int, width: int, cell: float, channel: int = FINE) -> np.ndarray:
    """(height, width) window of one bank channel whose features are about `cell` px wide.

    A cheap stand-in for a fresh fbm field on small boxes (edges of trees, bushes).
    """
    stride = 32.0 / max(cell, 0.5) if channel == FINE else 1.0 / max(cell, 0.5)
    oy, ox = rng.integers(0, BANK_SIZE, size=2)
    rows = (oy + np.floor(np.arange(height) * stride).astype(np.int64)) % BANK_SIZE
    cols = (ox + np.floor(np.arange(width) * stride).astype(np.int64)) % BANK_SIZE
    return texture_bank()[channel].take(rows, axis=0).take(cols, axis=1)
