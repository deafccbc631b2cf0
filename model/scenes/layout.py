"""Label-map composition: a random but plausible landscape as class ids (LANDSCAPES palette).

A scene is painted back to front so nearer things cover farther ones:

    sky + clouds → mountain ranges (+ snow caps) → ground, sea and beach → far fog →
    river → hills (+ forested crests) → lake and shore → ground patches (flowers,
    dirt, snow) → dirt path → rocks, bushes and trees sorted by where they stand.

The camera looks at a flat ground plane with the horizon at row `yh`; a thing standing
on row y > yh is at depth Z = (H - yh) / (y - yh) (1 at the bottom edge), so its size
on screen scales with y - yh. Horizontal noise runs in units of the image height, so a
wide image shows more landscape rather than a stretched one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from model.labels import LANDSCAPES
from model.scenes.noise import bank_patch, fbm1d, fbm2d

if TYPE_CHECKING:  # only for annotations; render.py imports this module
    from model.scenes.render import Style

_ID = {c.name: c.id for c in LANDSCAPES.classes}
SKY, CLOUDS, FOG = _ID["sky"], _ID["clouds"], _ID["fog"]
MOUNTAIN, HILL, ROCK, SNOW = _ID["mountain"], _ID["hill"], _ID["rock"], _ID["snow"]
DIRT, SAND, TREE, BUSH = _ID["dirt"], _ID["sand"], _ID["tree"], _ID["bush"]
GRASS, FLOWER, SEA, RIVER, WATER = _ID["grass"], _ID["flower"], _ID["sea"], _ID["river"], _ID["water"]

# Things can stand on these (trees, bushes, rocks); patches and paths may replace them.
GROUND = (GRASS, FLOWER, DIRT, SAND, SNOW, HILL)
WATERS = (SEA, RIVER, WATER)

# Scene kinds and how often they come up. Each sets which features are likely.
KINDS = ("coast", "valley", "lake", "forest", "meadow", "alpine")
KIND_P = (0.18, 0.18, 0.15, 0.16, 0.18, 0.15)
HORIZON = {  # horizon row as a fraction of the height
    "coast": (0.40, 0.58), "valley": (0.48, 0.62), "lake": (0.45, 0.60),
    "forest": (0.45, 0.62), "meadow": (0.38, 0.58), "alpine": (0.52, 0.66),
}
# Probability of each feature per kind.
P = {
    "coast":  dict(mountains=0.30, hills=0.55, river=0.05, lake=0.00, fog=0.15, path=0.20, flowers=0.10, trees=0.45, rocks=0.8),
    "valley": dict(mountains=1.00, hills=0.80, river=0.65, lake=0.10, fog=0.35, path=0.25, flowers=0.35, trees=0.90, rocks=0.6),
    "lake":   dict(mountains=0.85, hills=0.55, river=0.10, lake=1.00, fog=0.30, path=0.15, flowers=0.25, trees=0.90, rocks=0.6),
    "forest": dict(mountains=0.40, hills=0.55, river=0.25, lake=0.10, fog=0.30, path=0.50, flowers=0.20, trees=1.00, rocks=0.5),
    "meadow": dict(mountains=0.45, hills=0.90, river=0.30, lake=0.08, fog=0.15, path=0.55, flowers=0.85, trees=0.75, rocks=0.4),
    "alpine": dict(mountains=1.00, hills=0.30, river=0.30, lake=0.25, fog=0.35, path=0.25, flowers=0.30, trees=0.60, rocks=1.0),
}


@lru_cache(maxsize=64)
def _lut(classes: tuple[int, ...]) -> np.ndarray:
    lut = np.zeros(256, bool)
    lut[list(classes)] = True
    return lut


def member(labels: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """labels in classes, for uint8 label maps: one table look-up (much faster than np.isin)."""
    return _lut(tuple(classes)).take(labels)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def check_size(height: int, width: int) -> None:
    if not (32 <= int(height) <= 4096 and 32 <= int(width) <= 4096):
        raise ValueError(f"scene size must be 32..4096 pixels on each side, got {height}x{width}")


def layout_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x1A7])


def render_layout(seed: int, height: int, width: int, style: "Style | None" = None) -> np.ndarray:
    """(height, width) uint8 class ids of a random landscape, deterministic by its arguments.

    Without a style the layout is season- and weather-neutral; with one, winter brings
    more snow, fog weather more fog banks and overcast more cloud (render_scene passes
    its style here so those scenes show it in their labels too).
    """
    check_size(height, width)
    return _Composer(layout_rng(seed), int(height), int(width), style).compose()


class _Composer:
    def __init__(self, rng: np.random.Generator, h: int, w: int, style: "Style | None"):
        self.rng, self.h, self.w = rng, h, w
        self.kind = str(rng.choice(KINDS, p=KIND_P))
        self.p = P[self.kind]
        self.winter = style is not None and style.season == "winter"
        self.summerish = style is None or style.season != "winter"
        self.foggy = style is not None and style.weather == "fog"
        self.overcast = style is not None and style.weather == "overcast"
        lo, hi = HORIZON[self.kind]
        self.yh = int(round(h * rng.uniform(lo, hi)))
        self.lab = np.zeros((h, w), np.uint8)  # everything starts as sky
        self.u = np.arange(w, dtype=np.float64) / h  # column position in image heights
        self.rows = np.arange(h, dtype=np.float32)[:, None]  # (H, 1)
        self.cols = np.arange(w, dtype=np.float32)[None, :]  # (1, W)

    # ---- helpers -----------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def fill_between(self, top: np.ndarray, bottom: np.ndarray | float, cls: int,
                     only: tuple[int, ...] | None = None, keep: tuple[int, ...] | None = None) -> None:
        """Paint rows top(x) <= y < bottom(x) with cls; `only` / `keep` restrict what it covers."""
        bottom = np.broadcast_to(np.asarray(bottom, np.float32), top.shape)
        if not np.isfinite(top.min()):
            return  # nothing to paint (a top of +inf marks an empty column)
        y0 = int(max(0, np.floor(top.min())))
        y1 = int(min(self.h, np.ceil(bottom.max())))
        if y1 <= y0:
            return
        band = self.lab[y0:y1]
        mask = (self.rows[y0:y1] >= top[None, :]) & (self.rows[y0:y1] < bottom[None, :])
        if only is not None:
            mask &= member(band, only)
        if keep is not None:
            mask &= ~member(band, keep)
        band[mask] = cls

    def ground_rows(self) -> tuple[int, np.ndarray]:
        """First ground row and the perspective depth Z of every row from there down."""
        y0 = self.yh
        y = np.arange(y0, self.h, dtype=np.float64)
        z = (self.h - self.yh) / np.maximum(y - self.yh, 0.5)
        return y0, z

    # ---- the steps, back to front ---------------------------------------------------
    def compose(self) -> np.ndarray:
        self.clouds()
        if self.chance(self.p["mountains"]):
            self.mountains()
        self.ground()
        if self.kind == "coast":
            self.sea()
        if self.chance(0.85 if self.foggy else self.p["fog"]):
            self.fog_bank(np.full(self.w, self.yh + 1.0), far=True)
        if self.chance(self.p["river"]):
            self.river()
        if self.chance(self.p["hills"]):
            self.hills()
        if self.chance(self.p["lake"]):
            self.lake()
        self.patches()
        if self.chance(self.p["path"]):
            self.path()
        self.objects()
        return self.lab

    def clouds(self) -> None:
        yh, rng = self.yh, self.rng
        if yh < 4:
            return
        cover = 0.0 if self.chance(0.12) else rng.uniform(0.05, 0.65)
        if self.overcast:
            cover = min(0.95, cover + 0.35)
        y = np.arange(yh, dtype=np.float64)
        d = (yh - y) / yh  # 1 at the top, 0 at the horizon
        ys = 1.6 / (d + 0.18)  # the sky plane: clouds flatten and shrink toward the horizon
        xs = self.u * rng.uniform(1.6, 3.0) + rng.uniform(0, 100)
        n = fbm2d(rng, ys, xs, octaves=5 if self.h > 300 else 4, gain=0.5)
        thr = 0.28 - 0.62 * cover
        self.lab[:yh][n > thr] = CLOUDS

    def mountains(self) -> None:
        rng, yh, h = self.rng, self.yh, self.h
        n = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
        tallest = (yh - h * (rng.uniform(0.06, 0.25) if self.kind == "alpine" else rng.uniform(0.14, 0.38)))
        tallest = max(tallest, 0.08 * h)
        snowy = self.winter or self.chance(0.9 if self.kind == "alpine" else 0.45)
        for i in range(n):  # far to near
            peak = tallest * (1.0 - 0.28 * i) * rng.uniform(0.8, 1.0)
            f = rng.uniform(1.4, 3.2)
            off = rng.uniform(0, 100)
            base = fbm1d(rng, self.u * f * 0.5 + off, octaves=2)
            ridged = 1.0 - np.abs(fbm1d(rng, self.u * f + off, octaves=6, gain=0.55) * 1.8)
            p = 0.55 * base + 0.45 * ridged
            p = (p - p.min()) / (np.ptp(p) + 1e-6)
            if self.chance(0.3):  # the range ends on one side of the view
                u0 = rng.uniform(0.2, 0.8) * self.w / h
                side = rng.choice([-1.0, 1.0])
                p = p * _smoothstep(0.5 + side * (self.u - u0) * 2.0)
            ridge = yh - peak * (0.12 + 0.88 * p)
            self.fill_between(ridge.astype(np.float32), yh + 2.0, MOUNTAIN)
            if snowy and peak > 0.08 * h:
                frac = rng.uniform(0.25, 0.5) if self.winter else rng.uniform(0.5, 0.8)
                self.snow_caps(ridge, yh - peak * frac, peak)

    def snow_caps(self, ridge: np.ndarray, snow_row: float, peak: float) -> None:
        """Snow above `snow_row`, reaching down in gullies, within one range."""
        rng, h = self.rng, self.h
        y0 = int(max(0, np.floor(ridge.min())))
        y1 = int(min(self.yh, snow_row + 0.35 * peak))
        if y1 <= y0:
            return
        y = np.arange(y0, y1, dtype=np.float64)
        gully = fbm2d(rng, y / (0.06 * h), self.u * rng.uniform(18, 30), octaves=3, gain=0.6)
        depth = snow_row + 0.35 * peak * gully  # (rows, W) lowest snow row per pixel
        rows = self.rows[y0:y1]
        mask = (rows >= ridge[None, :]) & (rows < depth)
        band = self.lab[y0:y1]
        band[mask & (band == MOUNTAIN)] = SNOW

    def ground(self) -> None:
        base = GRASS
        if self.winter and self.chance(0.35):
            base = SNOW
        elif self.kind == "coast" and self.chance(0.25):
            base = SAND  # dunes
        self.lab[self.yh:] = base
        self.base = base

    def sea(self) -> None:
        rng, yh, h = self.rng, self.yh, self.h
        a = rng.uniform(0.12, 0.75)
        b = rng.uniform(-0.9, 0.9) * h / self.w
        u0 = self.u.mean()
        s = a + b * (self.u - u0) + 0.06 * fbm1d(rng, self.u * 6 + rng.uniform(0, 50), octaves=4)
        shore = yh + (h - yh) * s
        self.fill_between(np.full(self.w, float(yh), np.float32), shore.astype(np.float32), SEA)
        beach = SAND if self.chance(0.8) else (ROCK if self.chance(0.5) else GRASS)
        width = (shore - yh) * rng.uniform(0.15, 0.6) * (1 + 0.4 * fbm1d(rng, self.u * 9, octaves=3)) + 1.5
        self.fill_between(shore.astype(np.float32), (shore + width).astype(np.float32), beach, keep=(SEA,))
        if self.chance(0.55):  # a headland hill on the land side
            land = np.clip((shore - yh) / (h - yh), 0, 1)
            env = _smoothstep(1.0 - land * 3.0)
            if env.max() > 0:
                self.hill_layer(yh + 1.0, rng.uniform(0.04, 0.14) * h, env, cls=HILL)

    def fog_bank(self, center: np.ndarray, far: bool) -> None:
        rng, h = self.rng, self.h
        up = rng.uniform(0.02, 0.10) * h * (1.6 if self.foggy else 1.0)
        down = rng.uniform(0.01, 0.06) * h
        wob = fbm1d(rng, self.u * rng.uniform(3, 7) + rng.uniform(0, 50), octaves=4)
        top = center - up * (0.55 + 0.45 * wob)
        bottom = center + down * (0.7 + 0.3 * fbm1d(rng, self.u * 5 + 7.0, octaves=3))
        self.fill_between(top.astype(np.float32), bottom.astype(np.float32), FOG, keep=(SKY, CLOUDS))

    def hill_layer(self, base: float, amp: float, env: np.ndarray | None = None, cls: int = HILL) -> np.ndarray:
        rng = self.rng
        p = fbm1d(rng, self.u * rng.uniform(0.8, 2.2) + rng.uniform(0, 100), octaves=3, gain=0.4)
        p = (p - p.min()) / (np.ptp(p) + 1e-6)
        height = amp * (0.2 + 0.8 * p)
        if env is not None:
            height = height * env
        top = (base - height).astype(np.float32)
        self.fill_between(top, base + 1.0, cls)
        return top

    def hills(self) -> None:
        rng, yh, h = self.rng, self.yh, self.h
        n = 1 if self.chance(0.55) else 2
        for i in range(n):
            base = yh + (h - yh) * rng.uniform(0.02, 0.1) * (i + 1)
            amp = rng.uniform(0.05, 0.16) * h
            env = None
            if self.chance(0.35):
                u0 = rng.uniform(0.1, 0.9) * self.w / h
                env = _smoothstep(0.5 + rng.choice([-1.0, 1.0]) * (self.u - u0) * 1.5)
            top = self.hill_layer(base, amp, env)
            if self.chance(0.7 if self.kind == "forest" else 0.35):
                self.crest_forest(top, base)
            if i == 0 and n == 2 and self.chance(0.35 if not self.foggy else 0.8):
                self.fog_bank(np.full(self.w, base), far=False)

    def treeline(self, base: np.ndarray, tree_h: float, conifer: float, env: np.ndarray | None = None) -> np.ndarray:
        """Top row of a band of tree crowns standing on `base` (W,), crowns about tree_h tall.

        env (W,) in 0..1 scales the trees so a wood thins out at its ends instead of
        stopping in a vertical cut; columns without trees get a top of +inf.
        """
        rng, w = self.rng, self.w
        tree_h = max(tree_h, 2.0)
        width = tree_h * rng.uniform(0.35, 0.6)
        n = int(np.clip(w / (width * 0.55), 4, 400))
        xs = rng.uniform(-width, w + width, n)
        hs = tree_h * rng.uniform(0.6, 1.15, n)
        ws = hs * rng.uniform(0.3, 0.5, n)
        con = rng.random(n) < conifer
        d = (self.cols[0][None, :] - xs[:, None]) / (ws[:, None] * 0.5)  # (n, W)
        shape = np.where(con[:, None], 1.0 - np.abs(d), np.sqrt(np.clip(1.0 - d * d, 0, 1)) * 0.85)
        prof = (np.clip(shape, 0, None) * hs[:, None]).max(axis=0)
        if env is not None:
            prof = prof * env
        return np.where(prof > 0.75, base - prof, np.inf).astype(np.float32)

    def crest_forest(self, top: np.ndarray, base: float) -> None:
        rng, h = self.rng, self.h
        tree_h = rng.uniform(0.02, 0.05) * h
        depth = rng.uniform(0.01, 0.05) * h
        n = fbm1d(rng, self.u * rng.uniform(2, 5) + rng.uniform(0, 50), octaves=3)
        env = _smoothstep((n - rng.uniform(-0.6, 0.1)) * 4.0) * (top < base - 1)
        crown = self.treeline(top, tree_h, conifer=0.6 if self.winter else 0.4, env=env)
        bottom = np.minimum(top + depth * env, base + 1.0)
        self.fill_between(crown, bottom.astype(np.float32), TREE)

    def river(self) -> None:
        rng, yh, h, w = self.rng, self.yh, self.h, self.w
        y0, z = self.ground_rows()
        if len(z) < 4:
            return
        x0 = rng.uniform(0.2, 0.8) * w
        amp = rng.uniform(0.3, 1.0)
        meander = fbm1d(rng, np.log(z) * rng.uniform(1.2, 2.4) + rng.uniform(0, 50), octaves=3)
        centre = x0 + (meander * amp * w) / z + rng.uniform(-0.25, 0.25) * w / z  # wanders more up close
        half = rng.uniform(0.06, 0.2) * w / z * 0.5 + 0.6
        band = self.lab[y0:h]
        dist = np.abs(self.cols - centre[:, None])
        river = (dist < half[:, None]) & member(band, GROUND)
        if self.chance(0.5):  # banks of sand, dirt or stones
            bank_cls = SAND if self.chance(0.5) else (DIRT if self.chance(0.6) else ROCK)
            bank = (dist < half[:, None] * 1.25 + 0.6 + 0.02 * h / z[:, None]) & member(band, (GRASS, FLOWER, SNOW))
            band[bank] = bank_cls
        band[river] = RIVER

    def lake(self) -> None:
        rng, yh, h, w = self.rng, self.yh, self.h, self.w
        # a round lake seen from a little above: a wide, flat ellipse, often reaching back to
        # the horizon (a mountain lake) and sometimes wider than the view
        rx = w * rng.uniform(0.25, 0.8)
        ry = min(rx * rng.uniform(0.12, 0.3), (h - yh) * 0.45)
        cy = yh + ry * rng.uniform(0.6, 1.6)
        cx = rng.uniform(0.25, 0.75) * w
        y0 = int(max(yh, np.floor(cy - ry * 1.3)))
        y1 = int(min(h, np.ceil(cy + ry * 1.3)))
        if y1 - y0 < 2:
            return
        dy = (self.rows[y0:y1] - cy) / ry
        dx = (self.cols - cx) / rx
        d = np.sqrt(dx * dx + dy * dy)  # (rows, W)
        wob = fbm2d(rng, np.arange(y0, y1) / max(2.0, ry * 0.6), np.arange(w) / max(4.0, rx * 0.3), octaves=3)
        r = 1.0 + 0.3 * wob
        band = self.lab[y0:y1]
        lake = (d < r) & ~member(band, (SKY, CLOUDS))
        shore_cls = SAND if self.chance(0.45) else (DIRT if self.chance(0.5) else None)
        if shore_cls is not None:
            ring = (d < r + rng.uniform(0.08, 0.25)) & (dy > -0.6) & member(band, (GRASS, FLOWER, SNOW, HILL))
            band[ring] = shore_cls
        band[lake] = WATER

    def patches(self) -> None:
        rng, yh, h = self.rng, self.yh, self.h
        y0, z = self.ground_rows()
        if len(z) < 2:
            return
        ys = np.minimum(z, 14.0) * rng.uniform(1.0, 2.0)
        band = self.lab[y0:]
        near = (1.0 / z)[:, None].astype(np.float32)  # 1 at the bottom, 0 at the horizon
        n1 = fbm2d(rng, ys, self.u * rng.uniform(2.5, 5) + rng.uniform(0, 100), octaves=3)
        grass = band == GRASS
        if self.summerish and self.chance(self.p["flowers"]):
            t = rng.uniform(0.15, 0.45)
            band[grass & (n1 + 0.25 * near > t)] = FLOWER
        if self.chance(0.45):
            t = rng.uniform(0.25, 0.5)
            band[grass & (n1 < -t)] = DIRT
        if self.winter and self.base != SNOW and self.chance(0.8):
            n2 = fbm2d(rng, ys, self.u * 4 + rng.uniform(0, 100), octaves=3)
            t = rng.uniform(-0.35, 0.15)
            band[member(band, (GRASS, DIRT, HILL, FLOWER)) & (n2 > t)] = SNOW
        elif self.kind == "alpine" and self.chance(0.35):
            n2 = fbm2d(rng, ys, self.u * 4 + rng.uniform(0, 100), octaves=3)
            band[(band == GRASS) & (n2 > 0.3)] = SNOW
        # hills above the horizon get snow fields in winter too
        if self.winter and yh > 0:
            top = self.lab[:yh]
            if (top == HILL).any():
                n3 = fbm2d(rng, np.arange(yh) / (0.05 * h), self.u * 5, octaves=3)
                top[(top == HILL) & (n3 > rng.uniform(-0.3, 0.1))] = SNOW

    def path(self) -> None:
        rng, yh, h, w = self.rng, self.yh, self.h, self.w
        y0, z = self.ground_rows()
        start = rng.uniform(0.0, 0.5)
        keep = (1.0 / z) > start * 0.6
        if keep.sum() < 3:
            return
        x0 = rng.uniform(0.25, 0.75) * w
        meander = fbm1d(rng, np.log(z) * 2.0 + rng.uniform(0, 50), octaves=3)
        centre = x0 + meander * rng.uniform(0.3, 0.9) * w / z
        half = rng.uniform(0.03, 0.08) * w / z + 0.5
        band = self.lab[y0:]
        dist = np.abs(self.cols - centre[:, None])
        mask = (dist < half[:, None]) & keep[:, None] & member(band, (GRASS, FLOWER, SNOW, SAND, HILL))
        band[mask] = DIRT

    # ---- standing objects -------------------------------------------------------------
    def objects(self) -> None:
        rng, yh, h, w = self.rng, self.yh, self.h, self.w
        items: list[tuple[float, str, float]] = []  # (base row, kind, x)
        span = h - yh

        def sample(n: int, power: float) -> tuple[np.ndarray, np.ndarray]:
            t = rng.random(n) ** power
            return yh + 2 + t * (span * 1.04), rng.uniform(-0.05, 1.05, n) * w

        n_trees = 0
        if self.chance(self.p["trees"]):
            n_trees = {"forest": rng.integers(10, 28), "valley": rng.integers(3, 14), "lake": rng.integers(4, 16),
                       "meadow": rng.integers(2, 9), "coast": rng.integers(1, 5), "alpine": rng.integers(2, 10)}[self.kind]
            if self.kind in ("forest", "lake", "valley") and self.chance(0.75):
                for _ in range(int(rng.integers(1, 3 if self.kind != "forest" else 4))):
                    b = yh + span * rng.uniform(0.01, 0.3)
                    self.forest_band(b)
        for y, x in zip(*sample(int(n_trees), 1.6)):
            items.append((y, "tree", x))
        n_bush = int(rng.integers(0, 12 if self.kind != "alpine" else 5))
        for y, x in zip(*sample(n_bush, 1.2)):
            items.append((y, "bush", x))
        n_rock = int(rng.integers(1, 14 if self.kind == "alpine" else 7)) if self.chance(self.p["rocks"]) else 0
        for y, x in zip(*sample(n_rock, 1.3)):
            items.append((y, "rock", x))
        if self.kind == "alpine" and self.chance(0.5):
            items.append((h * rng.uniform(1.0, 1.08), "outcrop", rng.choice([0.05, 0.95]) * w))
        if self.kind == "coast" and self.chance(0.4):
            items.append((yh + span * rng.uniform(0.05, 0.4), "stack", rng.uniform(0.1, 0.9) * w))
        items.sort(key=lambda it: it[0])
        for y, kind, x in items:
            under = self.lab[min(int(y), h - 1), int(np.clip(x, 0, w - 1))]
            s = max(y - yh, 0.5)  # on-screen px per world unit at this depth
            if kind == "tree" and under in GROUND and under != SAND:
                self.tree(x, y, s * rng.uniform(0.5, 1.3))
            elif kind == "tree" and under == SAND and self.kind == "coast":
                self.tree(x, y, s * rng.uniform(0.5, 1.0), conifer=1.0)
            elif kind == "bush" and under in GROUND:
                self.bush(x, y, s * rng.uniform(0.06, 0.16))
            elif kind == "rock" and (under in GROUND or under in WATERS):
                self.rock(x, y, s * rng.uniform(0.05, 0.18))
            elif kind in ("outcrop", "stack"):
                self.rock(x, y, s * (rng.uniform(0.25, 0.45) if kind == "outcrop" else rng.uniform(0.06, 0.14)),
                          tall=1.3 if kind == "stack" else 0.8)

    def forest_band(self, base_row: float) -> None:
        rng = self.rng
        tree_h = (base_row - self.yh) * rng.uniform(0.5, 1.0) + 2.0
        n = fbm1d(rng, self.u * rng.uniform(1.5, 4) + rng.uniform(0, 50), octaves=3)
        env = _smoothstep((n - (rng.uniform(-0.8, -0.2) if self.kind == "forest" else rng.uniform(-0.3, 0.2))) * 4.0)
        wave = fbm1d(rng, self.u * 6 + rng.uniform(0, 50), octaves=3) * tree_h * 0.1
        base = (base_row + wave).astype(np.float32)
        crown = self.treeline(base, tree_h, conifer=0.5 if not self.winter else 0.7, env=env)
        self.fill_between(crown, base + 1.0, TREE, keep=(SEA,))

    def _box(self, x0: float, x1: float, y0: float, y1: float):
        """Integer clipped box and its row / column coordinates, or None if off-screen."""
        c0, c1 = int(max(0, np.floor(x0))), int(min(self.w, np.ceil(x1)))
        r0, r1 = int(max(0, np.floor(y0))), int(min(self.h, np.ceil(y1)))
        if c1 <= c0 or r1 <= r0:
            return None
        return r0, r1, c0, c1, self.rows[r0:r1], self.cols[:, c0:c1]

    def _edge_noise(self, r0: int, r1: int, c0: int, c1: int, cell: float) -> np.ndarray:
        return bank_patch(self.rng, r1 - r0, c1 - c0, max(cell, 1.0) * 2.0)

    def tree(self, cx: float, base: float, height: float, conifer: float | None = None) -> None:
        rng = self.rng
        height = max(height, 3.0)
        if conifer is None:
            conifer = 0.75 if (self.kind == "alpine" or self.winter) else (0.5 if self.kind == "forest" else 0.3)
        trunk_h = height * rng.uniform(0.08, 0.16)
        if rng.random() < conifer:
            width = height * rng.uniform(0.3, 0.45)
            box = self._box(cx - width, cx + width, base - height, base + 1)
            if box is None:
                return
            r0, r1, c0, c1, ys, xs = box
            t = np.clip((ys - (base - height)) / max(height - trunk_h, 1.0), 0, 1)  # 0 at tip, 1 at crown base
            tiers = rng.uniform(4, 7)
            saw = 0.65 + 0.35 * ((t * tiers) % 1.0)
            hw = width * 0.5 * t * saw * (1 + 0.25 * self._edge_noise(r0, r1, c0, c1, height * 0.08))
            crown = (np.abs(xs - cx) < hw) & (ys < base - trunk_h)
        else:
            radius = height * rng.uniform(0.3, 0.42)
            cyc = base - height + radius
            box = self._box(cx - radius * 1.5, cx + radius * 1.5, base - height - radius * 0.2, base + 1)
            if box is None:
                return
            r0, r1, c0, c1, ys, xs = box
            crown = np.zeros((r1 - r0, c1 - c0), bool)
            wob = 1 + 0.22 * self._edge_noise(r0, r1, c0, c1, radius * 0.3)
            for _ in range(int(rng.integers(3, 7))):
                ox, oy = rng.uniform(-0.75, 0.75) * radius, rng.uniform(-0.5, 0.45) * radius
                rr = radius * rng.uniform(0.45, 0.75)
                crown |= ((xs - cx - ox) ** 2 + (ys - cyc - oy) ** 2) < (rr * wob) ** 2
        tw = max(0.6, height * 0.035)
        trunk = (np.abs(xs - cx) < tw) & (ys >= base - trunk_h * 2.5) & (ys <= base)
        self.lab[r0:r1, c0:c1][crown | trunk] = TREE

    def bush(self, cx: float, base: float, size: float) -> None:
        rng = self.rng
        size = max(size, 2.0)
        box = self._box(cx - size * 1.3, cx + size * 1.3, base - size * 1.2, base + 1)
        if box is None:
            return
        r0, r1, c0, c1, ys, xs = box
        wob = 1 + 0.25 * self._edge_noise(r0, r1, c0, c1, size * 0.25)
        mask = np.zeros((r1 - r0, c1 - c0), bool)
        for _ in range(int(rng.integers(3, 6))):
            ox, oy = rng.uniform(-0.8, 0.8) * size, rng.uniform(-0.6, 0.0) * size
            rr = size * rng.uniform(0.4, 0.65)
            mask |= ((xs - cx - ox) ** 2 + ((ys - base - oy + rr * 0.3) * 1.15) ** 2) < (rr * wob) ** 2
        mask &= ys <= base
        self.lab[r0:r1, c0:c1][mask] = BUSH

    def rock(self, cx: float, base: float, size: float, tall: float = 0.8) -> None:
        """An angular boulder: the intersection of half-planes around a squashed circle."""
        rng = self.rng
        size = max(size, 1.5)
        ry = size * tall * rng.uniform(0.6, 1.0)
        cy = base - ry * 0.55
        box = self._box(cx - size * 1.1, cx + size * 1.1, cy - ry * 1.1, base + 1)
        if box is None:
            return
        r0, r1, c0, c1, ys, xs = box
        k = int(rng.integers(6, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        px, py = (xs - cx) / size, (ys - cy) / ry  # the rock's own frame: a unit circle
        mask = np.ones((r1 - r0, c1 - c0), bool)
        for a in ang:  # each cut keeps the side of a tangent line that holds the centre
            mask &= px * np.cos(a) + py * np.sin(a) < rng.uniform(0.7, 1.0)
        mask &= ys <= base
        self.lab[r0:r1, c0:c1][mask] = ROCK
