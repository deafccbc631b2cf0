"""Palettes: class id, name, colour and group, and conversions between colours and ids.

A palette is what `labels.json` in a model folder holds: a list of
{"id", "name", "color": [r, g, b], "group"} with ids 0..N-1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DONTCARE = 255  # id in label PNGs meaning "no class here" for models that have it


@dataclass(frozen=True)
class LabelClass:
    id: int
    name: str
    color: tuple[int, int, int]
    group: str = "other"


class Palette:
    """An ordered list of classes with colour <-> id lookups."""

    def __init__(self, classes: list[LabelClass]):
        for i, c in enumerate(classes):
            if c.id != i:
                raise ValueError(f"palette ids must be 0..N-1 in order; entry {i} has id {c.id}")
        colors = [tuple(c.color) for c in classes]
        if len(set(colors)) != len(colors):
            raise ValueError("palette colours must be distinct")
        self.classes = list(classes)
        self.colors = np.array(colors, dtype=np.uint8).reshape(-1, 3)  # (N, 3)
        # Pack r,g,b into one int so colour lookup is a single searchsorted.
        keys = self._pack(self.colors)
        self._order = np.argsort(keys)
        self._sorted_keys = keys[self._order]

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @staticmethod
    def _pack(rgb: np.ndarray) -> np.ndarray:
        rgb = rgb.astype(np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]

    def colorize(self, ids: np.ndarray, dontcare_color=(0, 0, 0)) -> np.ndarray:
        """(H, W) class ids -> (H, W, 3) uint8 colours; ids outside the palette get dontcare_color."""
        lut = np.zeros((256 if ids.max(initial=0) < 256 else int(ids.max()) + 1, 3), np.uint8)
        lut[:] = dontcare_color
        lut[: len(self)] = self.colors
        return lut[ids]

    def ids_from_colors(self, rgb: np.ndarray, allow_dontcare: bool = False) -> np.ndarray:
        """(H, W, 3) uint8 palette colours -> (H, W) class ids (uint16).

        Raises ValueError naming the first few colours that are not in the palette.
        With allow_dontcare, pure black pixels that are not a palette colour map to 255.
        """
        keys = self._pack(rgb)
        pos = np.searchsorted(self._sorted_keys, keys).clip(0, len(self) - 1)
        found = self._sorted_keys[pos] == keys
        ids = self._order[pos].astype(np.uint16)
        if not found.all():
            bad = ~found
            if allow_dontcare:
                black = keys == 0
                ids[bad & black] = DONTCARE
                bad &= ~black
            if bad.any():
                unknown = np.unique(rgb[bad].reshape(-1, 3), axis=0)[:5]
                listed = ", ".join(f"({r}, {g}, {b})" for r, g, b in unknown.tolist())
                raise ValueError(f"{int(bad.sum())} pixels have colours that are not in the palette, e.g. {listed}")
        return ids

    def to_json(self) -> list[dict]:
        return [{**asdict(c), "color": list(c.color)} for c in self.classes]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, items: list[dict]) -> "Palette":
        return cls([LabelClass(int(d["id"]), str(d["name"]), tuple(int(v) for v in d["color"]),
                               str(d.get("group", "other"))) for d in items])

    @classmethod
    def load(cls, path: str | Path) -> "Palette":
        return cls.from_json(json.loads(Path(path).read_text()))


def generated_palette(names: list[str], group: str = "other", seed: int = 0) -> Palette:
    """Distinct, deterministic colours for a list of class names (for palettes without official colours)."""
    rng = np.random.default_rng(seed)
    used: set[tuple[int, int, int]] = {(0, 0, 0)}
    classes = []
    for i, n in enumerate(names):
        while True:
            c = tuple(int(v) for v in rng.integers(16, 240, size=3))
            if c not in used:
                used.add(c)
                break
        classes.append(LabelClass(i, n, c, group))
    return Palette(classes)


# The landscape palette of the shipped model. Names follow COCO-Stuff; `coco` is the
# class's 0-based id in COCO-Stuff's 182-class label maps, so scenes painted here can be
# re-mapped to a COCO model.
_LANDSCAPES = [
    # name       colour            group      coco id
    ("sky",      (117, 170, 235), "sky",     156),
    ("clouds",   (225, 232, 240), "sky",     105),
    ("fog",      (170, 170, 190), "sky",     119),
    ("mountain", (120, 90, 70),   "terrain", 134),
    ("hill",     (150, 160, 80),  "terrain", 126),
    ("rock",     (110, 110, 110), "terrain", 149),
    ("snow",     (250, 250, 255), "terrain", 158),
    ("dirt",     (140, 100, 40),  "terrain", 110),
    ("sand",     (235, 210, 140), "terrain", 153),
    ("tree",     (30, 110, 40),   "plants",  168),
    ("bush",     (80, 150, 60),   "plants",  96),
    ("grass",    (120, 200, 80),  "plants",  123),
    ("flower",   (230, 90, 160),  "plants",  118),
    ("sea",      (30, 70, 160),   "water",   154),
    ("river",    (60, 130, 200),  "water",   147),
    ("water",    (40, 100, 130),  "water",   177),
]
LANDSCAPE_COCO_IDS = [c[3] for c in _LANDSCAPES]
LANDSCAPES = Palette([LabelClass(i, n, col, g) for i, (n, col, g, _) in enumerate(_LANDSCAPES)])
