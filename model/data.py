"""Datasets: procedural scenes, a folder of image / label pairs, and ADE20K, COCO-Stuff and Cityscapes.

Every dataset yields the same dict:

    {"image": (3, H, W) float32 in [-1, 1], "label": (H, W) int64 class ids (255 = don't care),
     "instance": (H, W) int64 instance ids}        # "instance" only where the dataset has them

The file datasets are one class, `PairedDataset`, over a list of (image, label, instance)
paths; each real dataset is a thin subclass that only knows its folder layout and id
conventions. All share `Augment`: resize (labels nearest-neighbour only), crop and
horizontal flip with the same random parameters for image, labels and instances.

    make_dataset("ade20k", "/data/ADEChallengeData2016", 256)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from model.labels import DONTCARE, Palette
from model.palettes import load_palette

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# ---- reading files ---------------------------------------------------------------------

def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, or ValueError naming the file."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except Exception as e:  # PIL raises several types for broken files
        raise ValueError(f"cannot read image {path}: {e}") from None


def read_ids(path: Path, palette: Palette | None = None, what: str = "label map") -> np.ndarray:
    """(H, W) int64 ids from a single-channel PNG (8 or 16 bit, or paletted) or an RGB palette-colour PNG."""
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except Exception as e:
        raise ValueError(f"cannot read {what} {path}: {e}") from None
    if mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
        return arr.astype(np.int64)
    if mode == "LA":
        return arr[..., 0].astype(np.int64)
    if mode in ("RGB", "RGBA"):
        if palette is None:
            raise ValueError(f"{what} {path} is an RGB image but no palette was given to map its colours to ids")
        try:
            return palette.ids_from_colors(arr[..., :3]).astype(np.int64)
        except ValueError as e:
            raise ValueError(f"{what} {path}: {e}") from None
    raise ValueError(f"{what} {path} has unsupported image mode {mode!r}; use a single-channel or RGB PNG")


def check_ids(ids: np.ndarray, num_classes: int | None, path: Path) -> None:
    """ValueError naming the file and the ids if any id is outside 0..num_classes-1 (255 allowed)."""
    if num_classes is None:
        return
    bad = (ids >= num_classes) & (ids != DONTCARE) | (ids < 0)
    if bad.any():
        found = np.unique(ids[bad])
        listed = ", ".join(str(int(v)) for v in found[:10]) + (" ..." if len(found) > 10 else "")
        raise ValueError(f"label map {path} has ids outside the palette's 0..{num_classes - 1} "
                         f"(255 = don't care is allowed): {listed}")


# ---- augmentation --------------------------------------------------------------------------

def resize_nearest(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) id map: never invents ids by blending."""
    h, w = a.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.intp), w - 1)
    return a[rows[:, None], cols[None, :]]


@dataclass(frozen=True)
class Augment:
    """Resize so the image covers the output (times load_scale when training), then crop and flip.

    size is the output width, height = size / aspect_ratio. Training crops at a random place
    and flips half the time; evaluation crops the centre and never flips.
    """

    size: int = 256
    train: bool = True
    aspect_ratio: float = 1.0
    load_scale: float = 1.125  # NVlabs: load 286, crop 256
    flip: bool = True

    @property
    def out_hw(self) -> tuple[int, int]:
        return int(round(self.size / self.aspect_ratio)), int(self.size)

    def params(self, height: int, width: int, rng: np.random.Generator) -> dict:
        oh, ow = self.out_hw
        scale = max(oh / height, ow / width) * (self.load_scale if self.train else 1.0)
        rh, rw = max(oh, int(round(height * scale))), max(ow, int(round(width * scale)))
        if self.train:
            y0, x0 = int(rng.integers(0, rh - oh + 1)), int(rng.integers(0, rw - ow + 1))
        else:
            y0, x0 = (rh - oh) // 2, (rw - ow) // 2
        return {"resize": (rh, rw), "crop": (y0, x0), "flip": bool(self.train and self.flip and rng.random() < 0.5)}

    def __call__(self, image: np.ndarray, ids: np.ndarray, instance: np.ndarray | None,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Apply one draw of the random parameters to all three maps."""
        p = self.params(image.shape[0], image.shape[1], rng)
        (rh, rw), (y0, x0) = p["resize"], p["crop"]
        oh, ow = self.out_hw
        if (rh, rw) != image.shape[:2]:
            image = np.asarray(Image.fromarray(image).resize((rw, rh), Image.BICUBIC))
            ids = resize_nearest(ids, rh, rw)
            instance = None if instance is None else resize_nearest(instance, rh, rw)
        crop = (slice(y0, y0 + oh), slice(x0, x0 + ow))
        image, ids = image[crop], ids[crop]
        instance = None if instance is None else instance[crop]
        if p["flip"]:
            image, ids = image[:, ::-1], ids[:, ::-1]
            instance = None if instance is None else instance[:, ::-1]
        return image, ids, instance


# ---- the shared dataset ----------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    image: Path
    label: Path
    instance: Path | None = None


def pair_files(images: dict[str, Path], labels: dict[str, Path], where: str,
               instances: dict[str, Path] | None = None) -> list[Sample]:
    """Samples for matching keys, or ValueError naming the files that have no partner."""
    if not images:
        raise ValueError(f"no images found in {where}")
    only_img = sorted(set(images) - set(labels))
    only_lab = sorted(set(labels) - set(images))
    if only_img or only_lab:
        parts = []
        if only_img:
            parts.append(f"images without a label map: {', '.join(str(images[k]) for k in only_img[:5])}"
                         + (f" and {len(only_img) - 5} more" if len(only_img) > 5 else ""))
        if only_lab:
            parts.append(f"label maps without an image: {', '.join(str(labels[k]) for k in only_lab[:5])}"
                         + (f" and {len(only_lab) - 5} more" if len(only_lab) > 5 else ""))
        raise ValueError(f"mismatched image / label pairs in {where}: " + "; ".join(parts))
    if instances is not None:
        missing = sorted(set(images) - set(instances))
        if missing:
            raise ValueError(f"instance maps missing in {where} for: "
                             + ", ".join(str(images[k]) for k in missing[:5])
                             + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return [Sample(images[k], labels[k], None if instances is None else instances[k]) for k in sorted(images)]


def _by_stem(folder: Path, suffixes: tuple[str, ...], strip: str = "") -> dict[str, Path]:
    """{key: path} for files in folder (recursively) with a suffix; key = relative stem minus `strip`."""
    out: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in suffixes or not p.is_file():
            continue
        rel = p.relative_to(folder).with_suffix("")
        key = str(rel)
        if strip and key.endswith(strip):
            key = key[: -len(strip)]
        if key in out:
            raise ValueError(f"two files for the same name in {folder}: {out[key]} and {p}")
        out[key] = p
    return out


def _ending(folder: Path, tail: str) -> dict[str, Path]:
    """{key: path} of the PNGs in folder (recursively) named <key><tail>.png."""
    return {k: p for k, p in _by_stem(folder, (".png",), tail).items() if p.name.endswith(tail + ".png")}


class PairedDataset(Dataset):
    """Image / label (/ instance) files -> augmented tensors. Subclasses only find the files.

    palette: the classes (for RGB label maps and for checking ids); num_classes defaults to its size.
    remap: called on the raw ids of every label map before checking (e.g. ADE20K's 0 -> 255).
    """

    def __init__(self, samples: list[Sample], size: int = 256, palette: Palette | None = None, train: bool = True,
                 aspect_ratio: float = 1.0, load_scale: float = 1.125, flip: bool = True,
                 num_classes: int | None = None, remap: Callable[[np.ndarray], np.ndarray] | None = None):
        if not samples:
            raise ValueError("a dataset needs at least one sample")
        self.samples = list(samples)
        self.palette = palette
        self.num_classes = num_classes if num_classes is not None else (len(palette) if palette else None)
        self.remap = remap
        self.augment = Augment(size, train, aspect_ratio, load_scale, flip)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Item i as read from disk (no augmentation): image, ids, instances or None."""
        s = self.samples[i]
        image = read_image(s.image)
        ids = read_ids(s.label, self.palette)
        if self.remap is not None:
            ids = self.remap(ids)
        check_ids(ids, self.num_classes, s.label)
        inst = None if s.instance is None else read_ids(s.instance, None, "instance map")
        for other, path in ((ids, s.label), (inst, s.instance)):
            if other is not None and other.shape != image.shape[:2]:
                raise ValueError(f"{path} is {other.shape[1]}x{other.shape[0]} but its image {s.image} is "
                                 f"{image.shape[1]}x{image.shape[0]}")
        return image, ids, inst

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        # torch's RNG drives the crop / flip, so torch.manual_seed and DataLoader workers seed it
        return self.item(i, np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item())))

    def item(self, i: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Item i with the crop / flip drawn from rng (training seeds it per sample: exact resume)."""
        image, ids, inst = self.load(i)
        image, ids, inst = self.augment(image, ids, inst, rng)
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0),
            "label": torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)),
        }
        if inst is not None:
            item["instance"] = torch.from_numpy(np.ascontiguousarray(inst, dtype=np.int64))
        return item


# ---- the layouts -------------------------------------------------------------------------

class FolderDataset(PairedDataset):
    """root/images/*.jpg|png with root/labels/*.png of the same stem, and optionally root/instances/*.png.

    palette: a Palette, a path to a labels.json, or None for root/labels.json when present
    (without any palette, RGB label maps are refused and ids are not range-checked).
    """

    def __init__(self, root: str | Path, size: int = 256, palette: Palette | str | Path | None = None,
                 train: bool = True, instances: bool = True, **kw):
        root = Path(root)
        for sub in ("images", "labels"):
            if not (root / sub).is_dir():
                raise ValueError(f"{root} has no {sub}/ folder (expected {root}/images and {root}/labels)")
        if palette is None and (root / "labels.json").is_file():
            palette = root / "labels.json"
        if isinstance(palette, (str, Path)):
            try:
                palette = Palette.load(palette)
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
                raise ValueError(f"cannot read palette {palette}: {e}") from None
        inst = None
        if instances and (root / "instances").is_dir():
            inst = _by_stem(root / "instances", (".png",))
        samples = pair_files(_by_stem(root / "images", IMAGE_SUFFIXES), _by_stem(root / "labels", (".png",)),
                             str(root), inst)
        super().__init__(samples, size, palette, train, **kw)


def _ade20k_remap(ids: np.ndarray) -> np.ndarray:
    """ADE20K scene parsing: 0 = other -> 255 (don't care), 1..150 -> 0..149."""
    out = ids - 1
    out[ids == 0] = DONTCARE
    return out


class ADE20KDataset(PairedDataset):
    """ADEChallengeData2016: images/{training,validation}/*.jpg, annotations/{...}/*.png; 150 classes."""

    def __init__(self, root: str | Path, size: int = 256, train: bool = True, palette: Palette | None = None, **kw):
        root = Path(root)
        split = "training" if train else "validation"
        img_dir, lab_dir = root / "images" / split, root / "annotations" / split
        for d in (img_dir, lab_dir):
            if not d.is_dir():
                raise ValueError(f"not an ADE20K folder: {d} is missing (expected ADEChallengeData2016 layout)")
        samples = pair_files(_by_stem(img_dir, IMAGE_SUFFIXES), _by_stem(lab_dir, (".png",)), str(root))
        super().__init__(samples, size, palette or load_palette("ade20k"), train,
                         remap=_ade20k_remap, **kw)


class COCOStuffDataset(PairedDataset):
    """COCO-Stuff as the NVlabs/SPADE release expects: {train,val}_img/, _label/, _inst/; 182 classes, 255 unlabeled."""

    def __init__(self, root: str | Path, size: int = 256, train: bool = True, instances: bool = True,
                 palette: Palette | None = None, **kw):
        root = Path(root)
        split = "train" if train else "val"
        img_dir, lab_dir, inst_dir = root / f"{split}_img", root / f"{split}_label", root / f"{split}_inst"
        for d in (img_dir, lab_dir):
            if not d.is_dir():
                raise ValueError(f"not a COCO-Stuff folder: {d} is missing (expected {split}_img/ and {split}_label/)")
        inst = _by_stem(inst_dir, (".png",)) if instances and inst_dir.is_dir() else None
        samples = pair_files(_by_stem(img_dir, IMAGE_SUFFIXES), _by_stem(lab_dir, (".png",)), str(root), inst)
        super().__init__(samples, size, palette or load_palette("coco"), train, **kw)


class CityscapesDataset(PairedDataset):
    """leftImg8bit/{train,val}/<city>/*_leftImg8bit.png with gtFine/.../*_gtFine_labelIds.png (+ _instanceIds)."""

    def __init__(self, root: str | Path, size: int = 512, train: bool = True, instances: bool = True,
                 palette: Palette | None = None, aspect_ratio: float = 2.0, **kw):
        root = Path(root)
        split = "train" if train else "val"
        img_dir, gt_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        for d in (img_dir, gt_dir):
            if not d.is_dir():
                raise ValueError(f"not a Cityscapes folder: {d} is missing")
        images = _ending(img_dir, "_leftImg8bit")
        labels = _ending(gt_dir, "_gtFine_labelIds")
        inst = _ending(gt_dir, "_gtFine_instanceIds") if instances else {}
        samples = pair_files(images, labels, str(root), inst or None)
        super().__init__(samples, size, palette or load_palette("cityscapes"), train,
                         aspect_ratio=aspect_ratio, **kw)


DATASETS = ("scenes", "folder", "ade20k", "coco", "cityscapes")


def make_dataset(name: str, root: str | Path | None, size: int, **kw):
    """The dataset called `name` at `root` (ignored for "scenes", which are rendered on the fly)."""
    if name == "scenes":
        from model.scenes.dataset import ScenesDataset
        return ScenesDataset(size=size, **kw)
    classes = {"folder": FolderDataset, "ade20k": ADE20KDataset, "coco": COCOStuffDataset,
               "cityscapes": CityscapesDataset}
    if name not in classes:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if root is None:
        raise ValueError(f"dataset {name!r} needs a root folder")
    if not Path(root).is_dir():
        raise ValueError(f"dataset root {root} is not a folder")
    return classes[name](root, size, **kw)
