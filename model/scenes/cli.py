"""`spade scenes`: render a procedural landscape dataset to a folder.

    spade scenes --out data/scenes --n 1000 --size 256

writes images/NNNNNN.jpg, labels/NNNNNN.png (single-channel class ids), labels.json (the
LANDSCAPES palette) and contact_sheet.png (the first 16 scenes beside their label maps).
The folder reads back with `model.data.FolderDataset`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from model.labels import LANDSCAPES
from model.scenes.render import Scene, Style, render_scene, scene_seed

SHEET_COUNT = 16   # scenes on the contact sheet
SHEET_TILE = 192   # height of one tile on the sheet, px


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--n", type=int, default=100, help="number of scenes")
    parser.add_argument("--size", type=int, default=256, help="image width in pixels")
    parser.add_argument("--aspect", type=float, default=1.0, help="width / height; height = size / aspect")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed; scene i uses a seed mixed from (seed, i)")
    parser.add_argument("--style", default="random",
                        help="'random' or a style name like noon-summer-clear "
                             f"(presets: {', '.join(s.name for s in Style.all_presets())})")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image file format")


def contact_sheet(scenes: list[Scene], tile: int = SHEET_TILE, columns: int = 4) -> Image.Image:
    """A grid of (render | colourised labels) pairs."""
    pairs = []
    for s in scenes:
        h, w = s.labels.shape
        tw = max(1, round(w * tile / h))
        img = Image.fromarray(s.image).resize((tw, tile), Image.BILINEAR)
        lab = Image.fromarray(LANDSCAPES.colorize(s.labels)).resize((tw, tile), Image.NEAREST)
        pair = Image.new("RGB", (2 * tw + 4, tile + 4), (255, 255, 255))
        pair.paste(img, (2, 2))
        pair.paste(lab, (tw + 2, 2))
        pairs.append(pair)
    if not pairs:
        return Image.new("RGB", (1, 1))
    pw, ph = pairs[0].size
    rows = (len(pairs) + columns - 1) // columns
    sheet = Image.new("RGB", (pw * min(columns, len(pairs)), ph * rows), (255, 255, 255))
    for i, p in enumerate(pairs):
        sheet.paste(p, ((i % columns) * pw, (i // columns) * ph))
    return sheet


def main(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if args.aspect <= 0:
        raise ValueError(f"--aspect must be positive, got {args.aspect}")
    width = int(args.size)
    height = int(round(width / args.aspect))
    if not (32 <= width <= 4096 and 32 <= height <= 4096):
        raise ValueError(f"image size {width}x{height} (width x height) must be 32..4096 px per side")
    style = None if args.style == "random" else Style.from_name(args.style)

    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    LANDSCAPES.save(out / "labels.json")

    digits = max(6, len(str(args.n - 1)))
    sheet: list[Scene] = []
    for i in tqdm(range(args.n), desc="scenes", unit="scene"):
        scene = render_scene(scene_seed(args.seed, i), height, width, style)
        name = f"{i:0{digits}d}"
        if args.format == "jpg":
            Image.fromarray(scene.image).save(out / "images" / f"{name}.jpg", quality=95)
        else:
            Image.fromarray(scene.image).save(out / "images" / f"{name}.png")
        Image.fromarray(scene.labels.astype(np.uint8)).save(out / "labels" / f"{name}.png")
        if len(sheet) < SHEET_COUNT:
            sheet.append(scene)
    contact_sheet(sheet).save(out / "contact_sheet.png")
    print(f"wrote {args.n} scenes of {width}x{height} to {out}")
    return 0
