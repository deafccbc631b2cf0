"""Dataset loaders on tiny fixture datasets written into tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.data import (Augment, ADE20KDataset, CityscapesDataset, COCOStuffDataset, FolderDataset, make_dataset,
                        resize_nearest)
from model.labels import LANDSCAPES
from model.scenes import ScenesDataset


def blocks(h: int, w: int, ids: list[int], seed: int = 0) -> np.ndarray:
    """An (h, w) id map of vertical bands of the given ids, with a random band order."""
    order = np.random.default_rng(seed).permutation(ids)
    cols = np.minimum(np.arange(w) * len(order) // w, len(order) - 1)
    return np.repeat(np.asarray(order)[cols][None], h, axis=0)


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if arr.dtype == np.uint16:
        Image.fromarray(arr.astype(np.uint16)).save(path)
    else:
        Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


def write_image(path: Path, ids: np.ndarray) -> Path:
    """An RGB picture of the id map in palette colours (so alignment can be checked exactly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(LANDSCAPES.colorize(ids.astype(np.int64) % len(LANDSCAPES))).save(path)
    return path


def make_folder(root: Path, n: int = 3, h: int = 40, w: int = 60, rgb_labels: bool = False,
                instances: bool = False) -> Path:
    for i in range(n):
        ids = blocks(h, w, [0, 3, 9, 11, 13], seed=i)
        write_image(root / "images" / f"im{i}.png", ids)
        if rgb_labels:
            write_image(root / "labels" / f"im{i}.png", ids)  # palette colours instead of ids
        else:
            write_png(root / "labels" / f"im{i}.png", ids)
        if instances:
            write_png(root / "instances" / f"im{i}.png", ids * 10 + 1)
    return root


# ---- the folder dataset ---------------------------------------------------------------------

def test_folder_dataset_returns_image_and_labels_in_the_shared_format(tmp_path):
    ds = FolderDataset(make_folder(tmp_path), size=32, palette=LANDSCAPES, train=False)
    assert len(ds) == 3
    item = ds[0]
    assert set(item) == {"image", "label"}
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["label"].shape == (32, 32) and item["label"].dtype == torch.int64
    assert set(item["label"].unique().tolist()) <= {0, 3, 9, 11, 13}


def test_folder_dataset_reads_rgb_palette_labels(tmp_path):
    root = make_folder(tmp_path, rgb_labels=True)
    ds = FolderDataset(root, size=40, palette=LANDSCAPES, train=False, load_scale=1.0)
    image, ids, _ = ds.load(1)
    assert ids.shape == (40, 60) and set(np.unique(ids)) == {0, 3, 9, 11, 13}
    with pytest.raises(ValueError, match="RGB image but no palette"):
        FolderDataset(root, size=40)[0]


def test_folder_dataset_reads_16bit_labels_and_its_own_labels_json(tmp_path):
    ids = blocks(20, 20, [0, 200, 300])
    write_image(tmp_path / "images" / "a.jpg", ids)
    write_png(tmp_path / "labels" / "a.png", ids.astype(np.uint16))
    names = [f"c{i}" for i in range(301)]
    from model.labels import generated_palette
    generated_palette(names).save(tmp_path / "labels.json")
    ds = FolderDataset(tmp_path, size=20, train=False)
    assert ds.num_classes == 301
    assert set(ds[0]["label"].unique().tolist()) == {0, 200, 300}


def test_folder_dataset_returns_instances_when_present(tmp_path):
    ds = FolderDataset(make_folder(tmp_path, instances=True), size=24, train=True)
    item = ds[2]
    assert item["instance"].shape == (24, 24) and item["instance"].dtype == torch.int64
    # the same crop / flip / resize went to both maps
    assert torch.equal(item["instance"], item["label"] * 10 + 1)
    assert "instance" not in FolderDataset(tmp_path, size=24, instances=False)[0]


def test_mismatched_pairs_name_the_files(tmp_path):
    root = make_folder(tmp_path)
    (root / "labels" / "im1.png").rename(root / "labels" / "other.png")
    with pytest.raises(ValueError, match=r"im1\.png.*other\.png"):
        FolderDataset(root)


def test_missing_folders_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no images/ folder"):
        FolderDataset(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        FolderDataset(tmp_path)


def test_unreadable_files_are_named(tmp_path):
    root = make_folder(tmp_path)
    (root / "images" / "im0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*im0\.png"):
        FolderDataset(root, palette=LANDSCAPES)[0]


def test_ids_outside_the_palette_are_named_but_255_is_allowed(tmp_path):
    ids = blocks(16, 16, [1, 2, 255])
    write_image(tmp_path / "images" / "a.png", ids)
    write_png(tmp_path / "labels" / "a.png", ids)
    assert 255 in FolderDataset(tmp_path, size=16, palette=LANDSCAPES, train=False)[0]["label"].unique()
    write_png(tmp_path / "labels" / "a.png", blocks(16, 16, [1, 17, 40]))
    with pytest.raises(ValueError, match=r"a\.png.*0\.\.15.*17, 40"):
        FolderDataset(tmp_path, size=16, palette=LANDSCAPES)[0]


def test_mismatched_image_and_label_sizes_are_named(tmp_path):
    write_image(tmp_path / "images" / "a.png", blocks(16, 16, [1]))
    write_png(tmp_path / "labels" / "a.png", blocks(16, 20, [1]))
    with pytest.raises(ValueError, match=r"a\.png is 20x16 but its image"):
        FolderDataset(tmp_path, palette=LANDSCAPES)[0]


# ---- augmentation -----------------------------------------------------------------------------

def test_augmentation_moves_image_labels_and_instances_together():
    ids = blocks(30, 50, [0, 3, 9, 11, 13])
    image = LANDSCAPES.colorize(ids)
    aug = Augment(size=30, train=True, load_scale=1.0)  # no resize: only crop and flip
    flips = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        flips.add(aug.params(30, 50, rng)["flip"])
        img, lab, inst = aug(image, ids, ids * 7, np.random.default_rng(seed))
        assert img.shape == (30, 30, 3) and lab.shape == (30, 30)
        assert np.array_equal(img, LANDSCAPES.colorize(lab))  # pixel for pixel aligned
        assert np.array_equal(inst, lab * 7)
    assert flips == {True, False}


def test_resizing_labels_never_invents_ids():
    ids = blocks(37, 41, [2, 5, 7, 200])
    for size in (16, 64, 100):
        out = resize_nearest(ids, size, size)
        assert set(np.unique(out)) <= {2, 5, 7, 200}
    img, lab, _ = Augment(size=64, train=True)(LANDSCAPES.colorize(ids % 16), ids, None, np.random.default_rng(0))
    assert img.shape == (64, 64, 3) and set(np.unique(lab)) <= {2, 5, 7, 200}


def test_evaluation_crops_the_centre_without_flipping():
    aug = Augment(size=40, train=False, aspect_ratio=2.0)
    assert aug.out_hw == (20, 40)
    p = aug.params(100, 300, np.random.default_rng(0))
    assert p == aug.params(100, 300, np.random.default_rng(1))
    assert p["flip"] is False and p["resize"] == (20, 60) and p["crop"] == (0, 10)


def test_training_augmentation_follows_torch_seed(tmp_path):
    ds = FolderDataset(make_folder(tmp_path), size=24, palette=LANDSCAPES, train=True)
    torch.manual_seed(0)
    a = ds[0]["label"]
    torch.manual_seed(0)
    assert torch.equal(a, ds[0]["label"])


# ---- real dataset layouts ---------------------------------------------------------------------

def test_ade20k_layout_shifts_ids_and_maps_other_to_dontcare(tmp_path):
    for split in ("training", "validation"):
        for name in ("ADE_a", "ADE_b"):
            ids = blocks(24, 32, [0, 1, 75, 150])
            write_image(tmp_path / "images" / split / f"{name}.jpg", ids)
            write_png(tmp_path / "annotations" / split / f"{name}.png", ids)
    ds = ADE20KDataset(tmp_path, size=24, train=True)
    assert len(ds) == 2 and ds.num_classes == 150
    _, ids, _ = ds.load(0)
    assert set(np.unique(ids)) == {0, 74, 149, 255}
    assert len(ADE20KDataset(tmp_path, size=24, train=False)) == 2
    with pytest.raises(ValueError, match="ADE20K"):
        ADE20KDataset(tmp_path / "nowhere")


def test_coco_stuff_layout_with_instances(tmp_path):
    for i in range(2):
        ids = blocks(20, 30, [0, 100, 181, 255], seed=i)
        write_image(tmp_path / "train_img" / f"00000000000{i}.jpg", ids)
        write_png(tmp_path / "train_label" / f"00000000000{i}.png", ids)
        write_png(tmp_path / "train_inst" / f"00000000000{i}.png", (ids > 50).astype(np.uint8) * 3)
    ds = make_dataset("coco", tmp_path, 16)
    assert isinstance(ds, COCOStuffDataset) and len(ds) == 2 and ds.num_classes == 182
    item = ds[1]
    assert item["label"].shape == (16, 16) and "instance" in item
    assert set(item["label"].unique().tolist()) <= {0, 100, 181, 255}
    write_png(tmp_path / "train_label" / "000000000000.png", blocks(20, 30, [182]))
    with pytest.raises(ValueError, match="182"):
        ds[0]


def test_cityscapes_layout_pairs_across_city_folders(tmp_path):
    for city, frame in (("aachen", "aachen_000000_000019"), ("bonn", "bonn_000001_000019")):
        ids = blocks(16, 32, [0, 7, 26, 33])
        write_image(tmp_path / "leftImg8bit" / "train" / city / f"{frame}_leftImg8bit.png", ids)
        write_png(tmp_path / "gtFine" / "train" / city / f"{frame}_gtFine_labelIds.png", ids)
        write_png(tmp_path / "gtFine" / "train" / city / f"{frame}_gtFine_instanceIds.png",
                  (ids * 1000 + 1).astype(np.uint16))
        write_image(tmp_path / "gtFine" / "train" / city / f"{frame}_gtFine_color.png", ids)
    ds = CityscapesDataset(tmp_path, size=32)
    assert len(ds) == 2 and ds.num_classes == 35
    item = ds[0]
    assert item["image"].shape == (3, 16, 32)  # aspect ratio 2
    assert torch.equal(item["instance"], item["label"] * 1000 + 1)  # 16-bit instance ids survive
    (tmp_path / "gtFine" / "train" / "bonn" / "bonn_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(ValueError, match="bonn_000001_000019_leftImg8bit"):
        CityscapesDataset(tmp_path)


def test_make_dataset_knows_every_name_and_refuses_others(tmp_path):
    assert isinstance(make_dataset("scenes", None, 32, length=2), ScenesDataset)
    assert isinstance(make_dataset("folder", make_folder(tmp_path), 32), FolderDataset)
    with pytest.raises(ValueError, match="unknown dataset"):
        make_dataset("imagenet", tmp_path, 32)
    with pytest.raises(ValueError, match="needs a root"):
        make_dataset("ade20k", None, 32)
    with pytest.raises(ValueError, match="not a folder"):
        make_dataset("cityscapes", tmp_path / "missing", 32)


def test_training_batches_of_a_folder_dataset_are_the_same_after_a_resume(tmp_path):
    # what the trainer builds: a step-indexed sampler over (index, k), augmentation seeded by k
    from torch.utils.data import DataLoader

    from model.train import StepSampler, _Indexed
    ds = FolderDataset(make_folder(tmp_path, n=5), size=24, palette=LANDSCAPES, train=True)

    def batches(start_step: int, n: int, torch_seed: int) -> list[torch.Tensor]:
        torch.manual_seed(torch_seed)  # a resumed process starts with other RNG state
        loader = DataLoader(_Indexed(ds, seed=3), batch_size=2, num_workers=1,
                            sampler=StepSampler(len(ds), 2, 0, 1, seed=3, start_step=start_step))
        it = iter(loader)
        return [next(it)["image"] for _ in range(n)]

    full = batches(0, 6, torch_seed=0)
    resumed = batches(3, 3, torch_seed=123)
    for a, b in zip(full[3:], resumed):
        assert torch.equal(a, b)
    # and the augmentation really varies: the same picture comes back cropped or flipped otherwise
    assert len({tuple(x.flatten()[:200].tolist()) for b in full for x in b}) > 5
