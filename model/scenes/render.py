"""Render a landscape label map into a picture: per-class textures, lighting, haze and style.

The renderer sees only the label map (plus a seed and a Style), so any layout — one from
layout.py or one a person painted — can be rendered in every style. What it needs to
know about shapes it reads off the labels:

- vertical runs (top / bottom row of each pixel's class run in its column) give the row
  an object stands on (its depth, for haze) and the far shore a lake mirrors about;
- vertical and horizontal runs together give a pillow-shaped normal for small rounded
  blobs (bushes, crowns, rocks);
- a blurred, low-resolution coverage map of a class acts as a soft height field: its
  slope towards the sun lights the faces of mountains, hills, crowns and cloud tops;
- the horizon is (about) the lowest row where sky or mountains still show.

Every pixel's colour comes from its own class's recipe, so the labels are exactly what
is drawn. All arithmetic is vectorised over each class's pixels at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.labels import LANDSCAPES
from model.scenes import noise as nz
from model.scenes.layout import (BUSH, CLOUDS, DIRT, FLOWER, FOG, GRASS, HILL, MOUNTAIN, RIVER, ROCK, SAND, SEA,
                                 SKY, SNOW, TREE, WATER, check_size, member, render_layout)

TIMES = ("noon", "golden", "sunset", "night")
SEASONS = ("summer", "autumn", "winter")
WEATHERS = ("clear", "overcast", "fog")


# ---- style ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Style:
    """The global look of a scene: light (time of day), vegetation (season) and air (weather)."""

    time_of_day: str = "noon"  # noon | golden | sunset | night
    season: str = "summer"     # summer | autumn | winter
    weather: str = "clear"     # clear | overcast | fog

    def __post_init__(self):
        for value, allowed, what in ((self.time_of_day, TIMES, "time_of_day"), (self.season, SEASONS, "season"),
                                     (self.weather, WEATHERS, "weather")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")

    @property
    def name(self) -> str:
        return f"{self.time_of_day}-{self.season}-{self.weather}"

    @classmethod
    def from_name(cls, name: str) -> "Style":
        """Parse "time-season-weather", e.g. "golden-autumn-clear"."""
        parts = str(name).split("-")
        if len(parts) != 3:
            raise ValueError(f"style name must look like 'noon-summer-clear', got {name!r}")
        return cls(*parts)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Style":
        """A style drawn with roughly the frequencies of landscape photos."""
        t = TIMES[rng.choice(4, p=[0.42, 0.24, 0.19, 0.15])]
        s = SEASONS[rng.choice(3, p=[0.45, 0.30, 0.25])]
        w = WEATHERS[rng.choice(3, p=[0.58, 0.27, 0.15])]
        return cls(t, s, w)

    @classmethod
    def all_presets(cls) -> list["Style"]:
        """Named looks that cover every time of day, season and weather."""
        return [cls("noon", "summer", "clear"), cls("golden", "summer", "clear"), cls("sunset", "summer", "clear"),
                cls("night", "summer", "clear"), cls("noon", "autumn", "clear"), cls("golden", "autumn", "overcast"),
                cls("noon", "winter", "clear"), cls("sunset", "winter", "clear"), cls("noon", "summer", "fog")]


def style_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x57E])


def scene_seed(seed: int, index: int) -> int:
    """The render seed of item `index` of a dataset with seed `seed` (well mixed, 63 bits)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(index)]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def render_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x9E4])


@dataclass
class Scene:
    image: np.ndarray   # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) uint8 class ids of LANDSCAPES
    style: Style


def render_scene(seed: int, height: int, width: int, style: Style | None = None) -> Scene:
    """A random landscape and its label map, deterministic by (seed, size, style).

    Without a style one is drawn from the seed. The layout sees the style too (winter
    brings snow fields, fog weather fog banks), see render_layout.
    """
    if style is None:
        style = Style.random(style_rng(seed))
    labels = render_layout(seed, height, width, style)
    return Scene(render_image(labels, seed, style), labels, style)


# ---- light and colour per style -------------------------------------------------------------

def _c(*rgb) -> np.ndarray:
    """A colour as a (3, 1) column: colour maths here is channel-first, (3, N) per class."""
    return np.array(rgb, np.float32).reshape(3, 1)


@dataclass
class _Look:
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    sun: np.ndarray          # colour x strength of direct light
    ambient: np.ndarray      # colour x strength of sky light
    elevation: float         # sun height, 0 (horizon) .. 1 (overhead)
    cloud_lit: np.ndarray
    cloud_dark: np.ndarray
    fog: np.ndarray
    haze: np.ndarray
    haze_max: float
    haze_depth: float        # depth Z at which haze is ~63% of haze_max
    saturation: float
    glow: np.ndarray         # sun glow in the sky (zeros: none)
    disc: bool               # draw the sun (or moon) in the sky
    far: np.ndarray          # the colour distant ranges fade to (purple at sunset, blue at noon)
    far_amount: float


_TIME = {
    "noon": dict(sky_top=_c(0.22, 0.42, 0.80), sky_horizon=_c(0.66, 0.80, 0.94), sun=_c(1.0, 0.97, 0.90) * 0.78,
                 ambient=_c(0.55, 0.62, 0.78) * 0.52, elevation=0.85, cloud_lit=_c(1.0, 1.0, 0.98),
                 cloud_dark=_c(0.55, 0.60, 0.70), glow=_c(0, 0, 0), disc=False, far=_c(0.50, 0.58, 0.72),
                 far_amount=0.15),
    "golden": dict(sky_top=_c(0.30, 0.46, 0.78), sky_horizon=_c(0.98, 0.80, 0.56), sun=_c(1.0, 0.76, 0.46) * 0.92,
                   ambient=_c(0.50, 0.50, 0.62) * 0.48, elevation=0.3, cloud_lit=_c(1.0, 0.86, 0.64),
                   cloud_dark=_c(0.50, 0.47, 0.58), glow=_c(0.45, 0.30, 0.10), disc=True, far=_c(0.46, 0.46, 0.62),
                   far_amount=0.25),
    "sunset": dict(sky_top=_c(0.16, 0.18, 0.42), sky_horizon=_c(1.0, 0.52, 0.24), sun=_c(1.0, 0.50, 0.24) * 0.75,
                   ambient=_c(0.42, 0.32, 0.50) * 0.45, elevation=0.1, cloud_lit=_c(1.0, 0.56, 0.38),
                   cloud_dark=_c(0.30, 0.22, 0.36), glow=_c(0.60, 0.25, 0.05), disc=True, far=_c(0.30, 0.24, 0.42),
                   far_amount=0.4),
    "night": dict(sky_top=_c(0.015, 0.025, 0.08), sky_horizon=_c(0.08, 0.12, 0.24), sun=_c(0.55, 0.66, 0.95) * 0.36,
                  ambient=_c(0.22, 0.30, 0.52) * 0.34, elevation=0.6, cloud_lit=_c(0.30, 0.33, 0.44),
                  cloud_dark=_c(0.09, 0.10, 0.16), glow=_c(0.0, 0.0, 0.0), disc=True, far=_c(0.10, 0.12, 0.20),
                  far_amount=0.2),
}


def _look(style: Style) -> _Look:
    t = dict(_TIME[style.time_of_day])
    night = style.time_of_day == "night"
    haze_max, haze_depth, sat = 0.55, 9.0, 1.0
    fog = t["sky_horizon"] * 0.4 + _c(0.70, 0.73, 0.80) * 0.6 * (0.22 if night else 1.0)
    if style.weather == "overcast":
        grey = float(t["sky_horizon"].mean()) * 0.85
        t["sky_top"] = t["sky_top"] * 0.25 + grey * 0.75 * _c(0.92, 0.95, 1.0)
        t["sky_horizon"] = t["sky_horizon"] * 0.35 + grey * 0.65 * _c(0.97, 0.98, 1.0)
        t["sun"] = t["sun"] * 0.25
        t["ambient"] = t["ambient"] * 1.55
        t["cloud_lit"] = t["cloud_lit"] * 0.78
        t["cloud_dark"] = t["cloud_dark"] * 0.72
        t["glow"] = t["glow"] * 0.2
        t["disc"] = False
        haze_max, haze_depth, sat = 0.62, 7.0, 0.78
    elif style.weather == "fog":
        pale = float(t["sky_horizon"].mean())
        t["sky_top"] = t["sky_top"] * 0.3 + pale * 0.7
        t["sky_horizon"] = t["sky_horizon"] * 0.3 + pale * 0.75
        t["sun"] = t["sun"] * 0.35
        t["ambient"] = t["ambient"] * 1.4
        t["glow"] = t["glow"] * 0.4
        t["disc"] = t["disc"] and not night
        haze_max, haze_depth, sat = 0.75, 3.5, 0.75
        fog = fog * 0.9 + t["sky_horizon"] * 0.1
    if style.season == "winter":
        sat *= 0.85
    return _Look(haze=t["sky_horizon"].copy(), haze_max=haze_max, haze_depth=haze_depth, saturation=sat, fog=fog,
                 **{k: t[k] for k in ("sky_top", "sky_horizon", "sun", "ambient", "elevation", "cloud_lit",
                                      "cloud_dark", "glow", "disc", "far", "far_amount")})


# Albedo of the plant and ground classes per season: one or more colours mixed by
# large-scale noise (so a forest in autumn has orange, red and yellow trees).
_PLANTS = {
    "summer": dict(grass=[_c(0.30, 0.52, 0.15), _c(0.42, 0.56, 0.17)], hill=[_c(0.38, 0.46, 0.20), _c(0.30, 0.40, 0.18)],
                   tree=[_c(0.09, 0.24, 0.08), _c(0.14, 0.30, 0.10), _c(0.07, 0.20, 0.12)],
                   bush=[_c(0.26, 0.42, 0.12), _c(0.34, 0.46, 0.14)]),
    "autumn": dict(grass=[_c(0.52, 0.50, 0.22), _c(0.45, 0.48, 0.20)], hill=[_c(0.52, 0.40, 0.20), _c(0.46, 0.38, 0.22)],
                   tree=[_c(0.66, 0.30, 0.06), _c(0.72, 0.52, 0.10), _c(0.52, 0.14, 0.06), _c(0.16, 0.24, 0.09)],
                   bush=[_c(0.58, 0.18, 0.10), _c(0.60, 0.36, 0.10)]),
    "winter": dict(grass=[_c(0.52, 0.47, 0.32), _c(0.45, 0.42, 0.29)], hill=[_c(0.40, 0.40, 0.26), _c(0.35, 0.37, 0.25)],
                   tree=[_c(0.07, 0.15, 0.10), _c(0.22, 0.19, 0.17), _c(0.09, 0.17, 0.12)],
                   bush=[_c(0.22, 0.28, 0.16), _c(0.34, 0.22, 0.20)]),
}
_FLOWERS = [_c(0.95, 0.35, 0.62), _c(0.98, 0.85, 0.18), _c(0.62, 0.36, 0.90), _c(0.96, 0.96, 0.92),
            _c(0.92, 0.20, 0.18), _c(0.98, 0.55, 0.12)]

# Things that stand up from the ground take their depth from the row they stand on (the
# bottom of their vertical run); everything else from its own row, which keeps the haze
# continuous across columns.
_FLAT = np.ones(len(LANDSCAPES), bool)
_FLAT[[TREE, BUSH, ROCK]] = False
_NO_HAZE = (SKY, CLOUDS, FOG, WATER)


# ---- the renderer -------------------------------------------------------------------------

def render_image(labels: np.ndarray, seed: int, style: Style | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of a LANDSCAPES label map, deterministic by (labels, seed, style)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D class-id map, got shape {labels.shape}")
    check_size(*labels.shape)
    if labels.size and int(labels.max()) >= len(LANDSCAPES):
        raise ValueError(f"label ids must be 0..{len(LANDSCAPES) - 1}, got {int(labels.max())}")
    if style is None:
        style = Style.random(style_rng(seed))
    return _Renderer(labels.astype(np.uint8), render_rng(seed), style).run()


def _run_starts(a: np.ndarray) -> np.ndarray:
    """(H, W) int16: for each pixel the first row of its run of equal labels down its column."""
    pos = np.arange(a.shape[0], dtype=np.int16)[:, None]
    start = np.empty(a.shape, bool)
    start[0] = True
    np.not_equal(a[1:], a[:-1], out=start[1:])
    return np.maximum.accumulate(np.where(start, pos, np.int16(0)), axis=0)


def _runs(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row of each pixel's vertical run of equal labels, (H, W) int16 each."""
    first = _run_starts(lab)
    last = (lab.shape[0] - 1) - _run_starts(np.ascontiguousarray(lab[::-1]))[::-1]
    return first, last


def _blur(a: np.ndarray, r: int) -> np.ndarray:
    """Two passes of a (2r+1)-box blur along both axes (about a Gaussian); windows shrink at edges."""
    for axis in (0, 1, 0, 1):
        n = a.shape[axis]
        i = np.arange(n)
        hi, lo = np.minimum(i + r + 1, n), np.maximum(i - r, 0)
        c = np.cumsum(a, axis=axis, dtype=np.float32)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis)), c], axis=axis)  # c[k] = sum of a[:k]
        a = (c.take(hi, axis=axis) - c.take(lo, axis=axis)) / np.expand_dims((hi - lo).astype(np.float32),
                                                                                1 - axis)
    return a


class _Texels:
    """Bank channels at one class's pixels, gathered on first use: t[nz.FINE] -> (N,)."""

    def __init__(self, tex: nz.TexMap, idx: np.ndarray, width: int):
        self.tex, self.rows, self.cols, self.cache = tex, idx // width, idx % width, {}

    def __getitem__(self, ch: int) -> np.ndarray:
        if ch not in self.cache:
            self.cache[ch] = self.tex.gather(ch, self.rows, self.cols)
        return self.cache[ch]


class _Renderer:
    def __init__(self, lab: np.ndarray, rng: np.random.Generator, style: Style):
        self.lab, self.rng, self.style = lab, rng, style
        self.h, self.w = h, w = lab.shape
        self.look = _look(style)
        self.plants = _PLANTS[style.season]
        self.night = style.time_of_day == "night"
        self.side = float(rng.choice([-1.0, 1.0]))  # the sun is to the left (-1) or right (+1)
        self.flat = lab.ravel()
        self.out = np.zeros((3, h * w), np.float32)  # channel-first: (3, N) maths vectorises well
        self.haze = np.zeros(h * w, np.float32)
        self._density: dict = {}

        # 1. geometry read off the labels (flat (H*W,) arrays, like every per-pixel array here)
        top, bottom = _runs(lab)
        left, right = _runs(np.ascontiguousarray(lab.T))
        self.top, self.bottom = top.ravel(), bottom.ravel()
        self.left, self.right = np.ascontiguousarray(left.T).ravel(), np.ascontiguousarray(right.T).ravel()
        far = member(lab, (SKY, CLOUDS, MOUNTAIN))
        any_far = far.any(axis=0)
        lowest = h - 1 - np.argmax(far[::-1], axis=0)  # last far row per column
        yh = np.percentile(lowest[any_far], 85) + 1 if any_far.any() else 0.45 * h
        self.yh = float(np.clip(yh, 0.12 * h, 0.8 * h))
        rows = np.arange(h, dtype=np.float32)
        z = np.where(rows > self.yh + 0.5, (h - self.yh) / np.maximum(rows - self.yh, 0.5), 60.0)
        self.zrow = np.minimum(z, 60.0).astype(np.float32)  # (H,) depth of the ground at each row
        self.down = max(1, int(round(min(h, w) / 96)))  # resolution step of the soft-shading maps

        # 2. texture: a screen-space crop and a ground-plane (perspective rows) crop of the bank
        self.stride = float(np.clip((256.0 / np.sqrt(h * w)) ** 0.6, 0.35, 2.5))
        self.tex = nz.bank_map(rng, h, w, self.stride)
        kv = 0.7 * max(h - self.yh, 1.0) * self.stride
        grows = np.minimum(self.zrow, 30.0) * kv
        self.gtex = nz.bank_map(rng, h, w, self.stride, rows=grows)

        # 3. light direction in screen terms: x towards the sun, y up
        e = self.look.elevation
        self.lx = self.side * (0.35 + 0.65 * (1 - e))
        self.ly = 0.3 + 0.7 * e

    # ---- the steps ----------------------------------------------------------------------
    def run(self) -> np.ndarray:
        order = np.argsort(self.flat, kind="stable")
        counts = np.bincount(self.flat, minlength=len(LANDSCAPES))
        ends = np.cumsum(counts)
        index = {c: order[ends[c] - counts[c]:ends[c]] for c in range(len(LANDSCAPES)) if counts[c]}
        recipes = {SKY: self.sky, CLOUDS: self.clouds, MOUNTAIN: self.mountain, HILL: self.hill, ROCK: self.rock,
                   SNOW: self.snow, DIRT: self.dirt, SAND: self.sand, TREE: self.tree, BUSH: self.bush,
                   GRASS: self.grass, FLOWER: self.flower, SEA: self.sea, RIVER: self.river}
        # 4. each class's own recipe, then aerial perspective over all of them
        for c, idx in index.items():
            if c in recipes:
                self.put(idx, recipes[c](idx))
                if c not in _NO_HAZE:
                    self.haze[idx] = self.depth_haze(idx, bool(_FLAT[c]))
        lk = self.look
        self.out += (lk.haze - self.out) * self.haze
        # 5. what shows what lies behind it: fog banks thin out upwards, lakes mirror
        if FOG in index:
            self.put(index[FOG], self.fog(index[FOG]))
        if WATER in index:
            self.put(index[WATER], self.water(index[WATER]))
        # 6. grade and quantise
        img = self.out
        if lk.saturation != 1.0:
            grey = (img[0] + img[1] + img[2]) / 3.0
            img = grey + (img - grey) * lk.saturation
        img = img * 255.0
        img += 0.5
        np.clip(img, 0.0, 255.0, out=img)
        rgb = np.empty((self.h * self.w, 3), np.uint8)
        for ch in range(3):  # channel by channel: far faster than a transpose of the whole array
            rgb[:, ch] = img[ch]
        return rgb.reshape(self.h, self.w, 3)

    def put(self, idx: np.ndarray, col: np.ndarray) -> None:
        for ch in range(3):  # per row: much faster than out[:, idx] = col
            self.out[ch][idx] = col[ch]

    # ---- per-pixel helpers (all on flat index arrays of one class) -------------------------
    def rows_of(self, idx: np.ndarray) -> np.ndarray:
        return (idx // self.w).astype(np.float32)

    def cols_of(self, idx: np.ndarray) -> np.ndarray:
        return (idx % self.w).astype(np.float32)

    def vpos(self, idx: np.ndarray) -> np.ndarray:
        """Position within the vertical run: 0 at its top, 1 at its bottom."""
        t = self.top[idx]
        return ((idx // self.w - t + 0.5) / (self.bottom[idx] - t + 1.0)).astype(np.float32)

    def hpos(self, idx: np.ndarray) -> np.ndarray:
        """Position within the horizontal run: -1 at its left end, +1 at its right end."""
        l = self.left[idx]
        return (2.0 * (idx % self.w - l + 0.5) / (self.right[idx] - l + 1.0) - 1.0).astype(np.float32)

    def pillow(self, idx: np.ndarray, up: float = 0.6) -> np.ndarray:
        """Lambert shading of a rounded blob, from the pixel's place in its runs."""
        nx = self.hpos(idx)
        nu = 1.0 - 2.0 * self.vpos(idx)
        nzz = np.sqrt(np.clip(1.0 - 0.5 * nx * nx - 0.3 * nu * nu, 0.05, 1.0))
        return np.clip((nx * self.lx + nu * self.ly * up + nzz * 0.55) / 1.1, 0.0, 1.0)

    def relief(self, t: "_Texels") -> np.ndarray:
        """Shading from the bank's height gradient: positive where the texture faces the light."""
        return -t[nz.DX] * self.lx + t[nz.DY] * self.ly

    def density(self, classes: tuple[int, ...], radius: float) -> np.ndarray:
        """Low-resolution blurred coverage of `classes`: a soft stand-in for their thickness."""
        key = (classes, radius)
        if key not in self._density:
            f = self.down
            m = member(self.lab[::f, ::f], classes).astype(np.float32)
            self._density[key] = _blur(m, max(1, int(round(radius * self.h / f))))
        return self._density[key]

    def sample(self, d: np.ndarray, idx: np.ndarray, dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
        """Bilinear look-up of a low-resolution map at each pixel, offset by (dy, dx) image heights."""
        f = self.down
        y = np.clip(((idx // self.w) + dy * self.h) / f, 0, d.shape[0] - 1.001)
        x = np.clip(((idx % self.w) + dx * self.h) / f, 0, d.shape[1] - 1.001)
        y0 = y.astype(np.intp)
        x0 = x.astype(np.intp)
        fy = (y - y0).astype(np.float32)
        fx = (x - x0).astype(np.float32)
        flat, n = d.ravel(), d.shape[1]
        i = y0 * n + x0
        a = flat[i] + (flat[i + 1] - flat[i]) * fx
        b = flat[i + n] + (flat[i + n + 1] - flat[i + n]) * fx
        return a + (b - a) * fy

    def soft_light(self, idx: np.ndarray, classes: tuple[int, ...], radius: float) -> np.ndarray:
        """-1..1 shading of a soft relief built from how thick `classes` are around each pixel.

        The blurred coverage acts as a height field: its slope towards the sun lights the
        faces of ridges and crowns, and coverage between a pixel and the light shades it.
        Worked out on the low-resolution grid, then looked up once per pixel.
        """
        key = ("light", classes, radius)
        if key not in self._density:
            d = self.density(classes, radius)
            o = max(1, int(round(radius * 0.8 * self.h / self.down)))
            p = np.pad(d, o, mode="edge")
            n, m = d.shape
            toward = p[o:o + n, o + int(self.side) * o:o + int(self.side) * o + m]  # towards the sun
            away = p[o:o + n, o - int(self.side) * o:o - int(self.side) * o + m]
            up, down = p[:n, o:o + m], p[2 * o:, o:o + m]
            # lit where the "height" rises away from the sun (a face turned to it) and where
            # little of the stuff lies above (tops); shaded under overhangs and on the far side
            self._density[key] = np.clip(2.5 * (away - toward) - 1.2 * (up - down), -1.0, 1.0)
        return self.sample(self._density[key], idx)

    def mix(self, colors: list[np.ndarray], t: np.ndarray) -> np.ndarray:
        """(3, N) blend through a list of colours by t in [0, 1]."""
        if len(colors) == 1:
            return np.repeat(colors[0], len(t), axis=1)
        pos = np.clip(t, 0, 0.999) * (len(colors) - 1)
        i = pos.astype(np.intp)
        f = pos - i
        f = f * f * (3 - 2 * f)
        pal = np.concatenate(colors, axis=1)  # (3, K)
        a = pal.take(i, axis=1)
        return a + (pal.take(np.minimum(i + 1, len(colors) - 1), axis=1) - a) * f

    def lit(self, albedo: np.ndarray, shade: np.ndarray) -> np.ndarray:
        lk = self.look
        return albedo * (lk.ambient + lk.sun * np.clip(shade, 0, 1.3))

    def depth_haze(self, idx: np.ndarray, flat: bool) -> np.ndarray:
        """Aerial perspective weight: flat classes by their own row, upright ones by where they stand."""
        lk = self.look
        rows = idx // self.w if flat else np.minimum(self.bottom[idx], self.h - 1)
        z = np.minimum(self.zrow[rows], 14.0)
        return (lk.haze_max * (1.0 - np.exp(-z / lk.haze_depth))).astype(np.float32)

    # ---- recipes: each returns the (3, N) colour of one class's pixels ---------------------
    def sun_xy(self) -> tuple[float, float]:
        x = self.w * (0.5 + 0.33 * self.side)
        up = {"noon": 0.9, "golden": 0.35, "sunset": 0.12, "night": 0.6}[self.style.time_of_day]
        return x, self.yh - up * self.yh * 0.8

    def sky(self, idx: np.ndarray) -> np.ndarray:
        lk = self.look
        y, x = self.rows_of(idx), self.cols_of(idx)
        v = np.clip((self.yh - y) / max(self.yh, 1.0), 0, 1) ** 0.55
        col = lk.sky_horizon + (lk.sky_top - lk.sky_horizon) * v
        sx, sy = self.sun_xy()
        d = np.sqrt((x - sx) ** 2 + ((y - sy) * 1.6) ** 2) / self.h
        if lk.glow.any():
            col += lk.glow * np.exp(-d * 3.5)
        if lk.disc:
            disc = np.clip(((0.022 if self.night else 0.035) - d) * self.h * 0.7, 0, 1)
            tone = _c(0.92, 0.93, 0.88) if self.night else _c(1.0, 0.93, 0.75)
            col += (tone - col) * disc
        t = _Texels(self.tex, idx, self.w)
        if self.night:
            col += np.clip((t[nz.WHITE] - 0.992) * 110, 0, 1) * (0.5 + 0.5 * (t[nz.FINE] + 1)) * _c(0.9, 0.9, 1.0)
        return col * (1.0 + 0.03 * t[nz.LARGE])  # not quite a perfect gradient

    def clouds(self, idx: np.ndarray) -> np.ndarray:
        lk = self.look
        t = _Texels(self.tex, idx, self.w)
        y = self.rows_of(idx)
        # thick cloud between a pixel and the sun shades it: bright tops, darker flat bases
        soft = self.soft_light(idx, (CLOUDS,), 0.04)
        shade = np.clip(0.6 + 0.4 * soft + 0.25 * t[nz.FINE] + 0.1 * t[nz.LARGE] + 0.06 * self.relief(t), 0, 1)
        col = lk.cloud_dark + (lk.cloud_lit - lk.cloud_dark) * shade
        low = np.clip(1.0 - (self.yh - y) / max(self.yh, 1.0), 0, 1) ** 2 * 0.45  # horizon colour low down
        return col + (lk.sky_horizon - col) * low

    def fog(self, idx: np.ndarray) -> np.ndarray:
        """A bank of fog: a soft bright wash whose top thins into the hazy air."""
        lk = self.look
        t = _Texels(self.tex, idx, self.w)
        col = lk.fog * (0.96 + 0.05 * t[nz.STREAK] + 0.03 * t[nz.FINE])
        thin = np.exp(-(idx // self.w - self.top[idx]) / (0.02 * self.h)) * 0.5
        return col + (lk.haze - col) * thin

    def mountain(self, idx: np.ndarray) -> np.ndarray:
        t = _Texels(self.tex, idx, self.w)
        y = self.rows_of(idx)
        tone = self.rng.uniform(0.0, 1.0)
        base = _c(0.42, 0.38, 0.35) * (1 - tone) + _c(0.36, 0.37, 0.42) * tone
        strata = 0.06 * np.sin((y / (4.0 / self.stride) + 2.5 * t[nz.FINE]) * 1.3)
        albedo = base * (1.0 + strata + 0.10 * t[nz.LARGE] - 0.3 * t[nz.RIDGED])
        face = self.soft_light(idx, (MOUNTAIN, SNOW), 0.035)
        col = self.lit(albedo, 0.55 + 0.45 * face + 0.4 * self.relief(t) + 0.1 * t[nz.LARGE])
        return col + (self.look.far - col) * self.look.far_amount

    def snow(self, idx: np.ndarray) -> np.ndarray:
        t = _Texels(self.tex, idx, self.w)
        high = self.rows_of(idx) < self.yh  # caps and slopes above the horizon vs snow fields
        face = self.soft_light(idx, (MOUNTAIN, SNOW), 0.035)
        shade = np.where(high, 0.7 + 0.5 * face + 0.22 * self.relief(t), 0.8 + 0.1 * t[nz.LARGE] + 0.08 * self.relief(t))
        col = self.lit(_c(0.93, 0.95, 0.98) * (1.0 + 0.03 * t[nz.FINE]), shade)
        # snow reads white in any light: keep only part of the light's tint, and blue shadows
        grey = (col[0] + col[1] + col[2]) / 3.0
        col = grey + (col - grey) * 0.5 + _c(-0.03, 0.0, 0.05) * np.clip(1.0 - shade, 0, 1)
        return col + (t[nz.WHITE] > 0.997) * 0.15  # glints

    def hill(self, idx: np.ndarray) -> np.ndarray:
        t = _Texels(self.tex, idx, self.w)
        albedo = self.mix(self.plants["hill"], 0.5 + 0.5 * t[nz.LARGE])
        albedo *= 1.0 + 0.12 * t[nz.FINE] - 0.22 * (t[nz.CLUMP] > 0.75)  # fields and copses
        face = self.soft_light(idx, (HILL, TREE, SNOW), 0.05)
        return self.lit(albedo, 0.62 + 0.35 * face + 0.12 * self.relief(t) - 0.1 * self.vpos(idx))

    def ground_shade(self, t: "_Texels", k: float = 0.12) -> np.ndarray:
        return 0.45 + 0.45 * self.look.elevation + k * self.relief(t)

    def grass(self, idx: np.ndarray) -> np.ndarray:
        g = _Texels(self.gtex, idx, self.w)
        albedo = self.mix(self.plants["grass"], 0.5 + 0.5 * g[nz.LARGE])
        near = 1.0 / self.zrow[idx // self.w]
        albedo *= 1.0 + g[nz.BLADE] * (0.10 + 0.12 * near) + 0.10 * g[nz.FINE]
        return self.lit(albedo, self.ground_shade(g))

    def flower(self, idx: np.ndarray) -> np.ndarray:
        g = _Texels(self.gtex, idx, self.w)
        leaves = self.mix(self.plants["grass"], 0.5 + 0.5 * g[nz.LARGE]) * 0.75
        pick = self.rng.choice(len(_FLOWERS), size=2, replace=False)
        petals = self.mix([_FLOWERS[pick[0]], _FLOWERS[pick[1]]], (g[nz.LARGE] > 0).astype(np.float32))
        albedo = np.where(g[nz.WHITE] > 0.45, petals * (0.9 + 0.1 * g[nz.FINE]), leaves)
        return self.lit(albedo, self.ground_shade(g, 0.05))

    def dirt(self, idx: np.ndarray) -> np.ndarray:
        g = _Texels(self.gtex, idx, self.w)
        base = _c(0.45, 0.33, 0.21) if self.style.season != "winter" else _c(0.33, 0.25, 0.19)
        pebbles = (g[nz.WHITE] > 0.9) * 0.18 - (g[nz.WHITE] < 0.08) * 0.15
        albedo = base * (1.0 + 0.14 * g[nz.FINE] + pebbles + 0.08 * g[nz.STREAK])
        return self.lit(albedo, self.ground_shade(g, 0.25))

    def sand(self, idx: np.ndarray) -> np.ndarray:
        g = _Texels(self.gtex, idx, self.w)
        z = self.zrow[idx // self.w]
        ripple = 0.05 * np.sin(z * 9.0 + self.cols_of(idx) * 0.05 + 3.0 * g[nz.FINE]) / (1 + 0.1 * z)
        albedo = _c(0.86, 0.76, 0.56) * (1.0 + ripple + 0.05 * g[nz.FINE] + 0.04 * (g[nz.WHITE] - 0.5))
        return self.lit(albedo, self.ground_shade(g, 0.1))

    def rock(self, idx: np.ndarray) -> np.ndarray:
        t = _Texels(self.tex, idx, self.w)
        tone = self.rng.uniform(0, 1)
        base = _c(0.50, 0.49, 0.47) * (1 - tone) + _c(0.47, 0.45, 0.42) * tone
        cracks = np.clip(t[nz.RIDGED] - 0.45, 0, 1) * 0.9
        albedo = base * (1.0 + 0.15 * t[nz.FINE] - cracks)
        return self.lit(albedo, 0.25 + 0.7 * self.pillow(idx, up=0.8) + 0.45 * self.relief(t))

    def foliage(self, idx: np.ndarray, colors: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, "_Texels"]:
        t = _Texels(self.tex, idx, self.w)
        # a colour per plant from coarse noise, leaf clumps from the CLUMP channel
        albedo = self.mix(colors, 0.5 + 0.7 * t[nz.LARGE])
        soft = self.soft_light(idx, (TREE, BUSH), 0.02)
        shade = (0.45 + 0.4 * soft + 0.25 * self.pillow(idx)) * (0.6 + 0.5 * t[nz.CLUMP]) + 0.12 * self.relief(t)
        return albedo, shade, t

    def tree(self, idx: np.ndarray) -> np.ndarray:
        albedo, shade, t = self.foliage(idx, self.plants["tree"])
        v = self.vpos(idx)
        # trunks: thin vertical parts low in a crown's run
        thin = (self.right[idx] - self.left[idx] < max(2, self.w // 90)) & (v > 0.5)
        albedo[:, thin] = _c(0.24, 0.17, 0.11)
        if self.style.season == "winter":  # snow on the upper side of branches
            frost = ((t[nz.CLUMP] > 0.8) & (v < 0.7)) * 0.45
            albedo += (_c(0.9, 0.92, 0.95) - albedo) * frost
        return self.lit(albedo, shade)

    def bush(self, idx: np.ndarray) -> np.ndarray:
        albedo, shade, _ = self.foliage(idx, self.plants["bush"])
        return self.lit(albedo, shade + 0.1)

    def water_base(self, idx: np.ndarray, deep: np.ndarray, reflect: float) -> np.ndarray:
        z = self.zrow[idx // self.w]
        fres = reflect * (1.0 - np.exp(-z / 6.0)) + 0.15  # more sky mirrored at grazing angles
        sky = self.look.sky_horizon * 0.85 + self.look.sky_top * 0.15
        return deep + (sky - deep) * fres

    def glitter(self, idx: np.ndarray, g: "_Texels") -> np.ndarray | float:
        """Sparkles on water in a band below the sun (or moon)."""
        if not self.look.disc:
            return 0.0
        sx, _ = self.sun_xy()
        band = np.exp(-((self.cols_of(idx) - sx) / (self.w * 0.07)) ** 2)
        spark = np.clip((g[nz.WHITE] - 0.75) * 5, 0, 1) * band
        tone = self.look.sun / max(float(self.look.sun.max()), 1e-3)
        return spark * tone * (0.35 if self.night else 0.9)

    def sea(self, idx: np.ndarray) -> np.ndarray:
        g = _Texels(self.gtex, idx, self.w)
        lk = self.look
        col = self.water_base(idx, _c(0.04, 0.17, 0.33) * (lk.ambient + lk.sun) * 1.3, 0.7)
        col *= 1.0 + 0.16 * g[nz.STREAK]  # swell
        # white foam where the sea meets the shore (the bottom of its vertical run)
        y = idx // self.w
        bottom = self.bottom[idx]
        foam_w = (self.h - self.yh) * 0.035 / self.zrow[y] * (0.6 + 0.4 * (g[nz.FINE] + 1))
        foam = ((bottom < self.h - 1) & (bottom - y < foam_w)) * (0.55 + 0.35 * (g[nz.BLADE] > 0))
        col += ((lk.ambient + lk.sun) * 0.95 - col) * foam
        return col + self.glitter(idx, g)

    def river(self, idx: np.ndarray) -> np.ndarray:
        g = _Texels(self.gtex, idx, self.w)
        lk = self.look
        col = self.water_base(idx, _c(0.16, 0.40, 0.52) * (lk.ambient + lk.sun) * 1.25, 0.35)
        col *= 1.0 + 0.1 * g[nz.BLADE] + 0.08 * g[nz.STREAK]  # flow
        col *= 1.0 - 0.15 * (np.abs(self.hpos(idx)) > 0.8)  # darker along the banks
        return col + self.glitter(idx, g) * 0.5

    def water(self, idx: np.ndarray) -> np.ndarray:
        """A calm lake: a dark teal mirror of what stands above its far shore, with ripples."""
        lk = self.look
        g = _Texels(self.gtex, idx, self.w)
        y = idx // self.w
        x = idx % self.w
        # mirror about the far shore: the first lake row of the column, so something standing
        # in front of the lake (a tree crown) does not become the mirror line below it
        water = (self.lab == WATER)
        shore = np.argmax(water, axis=0)  # (W,)
        axis = shore[x]
        ripple = np.round(g[nz.STREAK] * 2.0 * (1 + 1.0 / self.zrow[y])).astype(np.intp)
        ry = 2 * axis - y - 1
        src = np.clip(ry, 0, self.h - 1) * self.w + np.clip(x + ripple, 0, self.w - 1)
        mirrored = self.out.take(src, axis=1)
        # beyond the top of the picture, or landing on lake again: the sky instead
        sky = (ry < 0) | (self.flat[src] == WATER)
        mirrored[:, sky] = lk.sky_horizon
        tint = _c(0.05, 0.15, 0.17) * (lk.ambient + lk.sun) * 1.6
        col = (mirrored * 0.42 + tint * 0.58) * (1.0 + 0.08 * g[nz.STREAK])
        haze = self.depth_haze(idx, True) * 0.6
        return col + (lk.haze - col) * haze
