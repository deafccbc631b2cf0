"""The procedural landscape renderer: layouts, renders, styles, the dataset and `spade scenes`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.labels import LANDSCAPES
from model.scenes import Scene, ScenesDataset, Style, render_image, render_layout, render_scene
from model.scenes.noise import bank_crop, fbm1d, fbm2d, texture_bank

ID = {c.name: c.id for c in LANDSCAPES.classes}
NOON = Style("noon", "summer", "clear")
REPO = Path(__file__).resolve().parents[2]


def luminance(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


# ---- noise -----------------------------------------------------------------------------------

def test_fbm_is_deterministic_by_generator_seed_and_bounded():
    ys, xs = np.arange(40) / 8, np.arange(50) / 8
    a = fbm2d(np.random.default_rng(3), ys, xs, octaves=4)
    b = fbm2d(np.random.default_rng(3), ys, xs, octaves=4)
    assert a.shape == (40, 50) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 1.0 and a.std() > 0.05
    line = fbm1d(np.random.default_rng(3), np.arange(100) / 10)
    assert line.shape == (100,) and np.abs(line).max() <= 1.0


def test_periodic_fbm_tiles():
    p = 16
    idx = np.arange(2 * p, dtype=np.float64) / 4
    a = fbm2d(np.random.default_rng(0), idx, idx, octaves=3, period=(p // 4, p // 4))
    assert np.allclose(a[:p, :p], a[p:, p:], atol=1e-5)


def test_texture_bank_crop_shapes_for_any_stride():
    bank = texture_bank()
    rng = np.random.default_rng(0)
    assert bank_crop(rng, 100, 70).shape == (bank.shape[0], 100, 70)
    assert bank_crop(rng, 300, 500, stride=0.5).shape == (bank.shape[0], 300, 500)  # bilinear magnify
    assert bank_crop(rng, 40, 30, stride=2.0).shape == (bank.shape[0], 40, 30)
    assert bank_crop(rng, 20, 300, rows=np.arange(20) * 3.0).shape == (bank.shape[0], 20, 300)


# ---- layouts and renders ----------------------------------------------------------------------

def test_render_scene_is_deterministic_by_seed():
    a, b = render_scene(7, 96, 128), render_scene(7, 96, 128)
    assert isinstance(a, Scene)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels) and a.style == b.style
    c = render_scene(8, 96, 128)
    assert not np.array_equal(a.labels, c.labels)


@pytest.mark.parametrize("height,width", [(64, 64), (128, 256), (256, 128), (100, 333), (1024, 768)])
def test_shapes_and_ids_for_sizes_and_aspects(height, width):
    s = render_scene(11, height, width)
    assert s.image.shape == (height, width, 3) and s.image.dtype == np.uint8
    assert s.labels.shape == (height, width) and s.labels.dtype == np.uint8
    assert s.labels.max() < len(LANDSCAPES)
    assert (s.labels[0] == ID["sky"]).any() or (s.labels[0] == ID["clouds"]).any() or s.labels[0].max() > 0


def test_sizes_out_of_range_are_refused():
    with pytest.raises(ValueError, match="scene size"):
        render_scene(0, 8, 64)


def test_render_scene_is_its_layout_rendered_in_its_style():
    style = Style("golden", "winter", "fog")
    s = render_scene(5, 80, 120, style)
    labels = render_layout(5, 80, 120, style)
    assert np.array_equal(s.labels, labels)
    assert np.array_equal(s.image, render_image(labels, 5, style))


def test_same_layout_renders_in_several_styles():
    labels = render_layout(21, 96, 96)
    images = [render_image(labels, 21, style) for style in Style.all_presets()]
    assert all(img.shape == (96, 96, 3) for img in images)
    means = np.array([img.reshape(-1, 3).mean(0) for img in images])
    assert len({tuple(np.round(m)) for m in means}) == len(images)  # every style looks different


def test_sky_is_on_top_and_ground_below():
    tops, bottoms = [], []
    for seed in range(30):
        lab = render_layout(seed, 96, 96)
        tops.append(np.isin(lab[:5], (ID["sky"], ID["clouds"])).mean())
        bottoms.append(np.isin(lab[-5:], (ID["sky"], ID["clouds"])).mean())
    assert np.mean(tops) > 0.8 and np.mean(bottoms) == 0.0


def test_every_class_appears_across_200_scenes():
    seen = np.zeros(len(LANDSCAPES), int)
    for seed in range(200):
        seen += np.bincount(render_scene(seed, 128, 128).labels.ravel(), minlength=len(LANDSCAPES)) > 0
    missing = [LANDSCAPES.names[i] for i in np.flatnonzero(seen == 0)]
    assert not missing, f"classes never drawn: {missing}"
    assert seen.min() >= 3  # and not just once by luck


def class_means(scenes: list[Scene]) -> np.ndarray:
    sums = np.zeros((len(LANDSCAPES), 3))
    counts = np.zeros(len(LANDSCAPES))
    for s in scenes:
        flat = s.labels.ravel()
        counts += np.bincount(flat, minlength=len(LANDSCAPES))
        for ch in range(3):
            sums[:, ch] += np.bincount(flat, weights=s.image[..., ch].ravel(), minlength=len(LANDSCAPES))
    return sums / np.maximum(counts, 1)[:, None]


def test_each_class_is_drawn_in_its_own_colour():
    """Labels are what is drawn: the mean colour under each class differs from every other class's."""
    means = class_means([render_scene(seed, 128, 128, NOON) for seed in range(120)])
    d = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1))
    d[np.eye(len(d), dtype=bool)] = np.inf
    i, j = np.unravel_index(np.argmin(d), d.shape)
    assert d.min() > 8.0, f"{LANDSCAPES.names[i]} and {LANDSCAPES.names[j]} look alike ({d.min():.1f})"


def test_a_painted_label_map_renders_each_class_differently():
    """Any label map renders, not only the layout's: 16 vertical stripes, one per class."""
    lab = np.repeat(np.arange(len(LANDSCAPES), dtype=np.uint8), 8)[None].repeat(96, axis=0)  # (96, 128)
    img = render_image(lab, 3, NOON).astype(np.float64)
    means = np.array([img[:, lab[0] == c].reshape(-1, 3).mean(0) for c in range(len(LANDSCAPES))])
    d = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1)) + np.eye(len(means)) * 1e9
    assert d.min() > 4.0


def test_render_image_rejects_bad_label_maps():
    with pytest.raises(ValueError, match="label ids"):
        render_image(np.full((64, 64), 16, np.uint8), 0, NOON)
    with pytest.raises(ValueError, match="2-D"):
        render_image(np.zeros((64, 64, 3), np.uint8), 0, NOON)


# ---- style ------------------------------------------------------------------------------------

def test_style_presets_cover_every_time_and_season_and_have_names():
    presets = Style.all_presets()
    assert 6 <= len(presets) <= 12
    assert {s.time_of_day for s in presets} == {"noon", "golden", "sunset", "night"}
    assert {s.season for s in presets} == {"summer", "autumn", "winter"}
    names = [s.name for s in presets]
    assert len(set(names)) == len(names) and "noon-summer-clear" in names
    assert all(Style.from_name(n) == s for n, s in zip(names, presets))


def test_style_random_is_deterministic_and_validated():
    assert Style.random(np.random.default_rng(4)) == Style.random(np.random.default_rng(4))
    styles = {Style.random(np.random.default_rng(i)) for i in range(200)}
    assert {s.weather for s in styles} == {"clear", "overcast", "fog"}
    with pytest.raises(ValueError, match="time_of_day"):
        Style("dusk", "summer", "clear")
    with pytest.raises(ValueError):
        Style.from_name("noon-summer")


def test_night_is_darker_than_noon_in_every_scene():
    for seed in range(12):
        labels = render_layout(seed, 96, 96)
        noon = luminance(render_image(labels, seed, NOON)).mean()
        night = luminance(render_image(labels, seed, Style("night", "summer", "clear"))).mean()
        assert night < 0.5 * noon


def test_style_shows_in_every_class():
    """Night darkens every class, not just the sky."""
    noon = class_means([render_scene(s, 96, 96, NOON) for s in range(60)])
    night = class_means([render_scene(s, 96, 96, Style("night", "summer", "clear")) for s in range(60)])
    present = (noon.sum(1) > 0) & (night.sum(1) > 0)
    assert (night[present].sum(1) < 0.6 * noon[present].sum(1)).all()


def test_winter_has_more_snow_and_white_than_summer():
    summer = [render_scene(s, 96, 96, NOON) for s in range(40)]
    winter = [render_scene(s, 96, 96, Style("noon", "winter", "clear")) for s in range(40)]
    snow = ID["snow"]
    assert np.mean([(w.labels == snow).mean() for w in winter]) > 2 * np.mean([(s.labels == snow).mean() for s in summer])

    def white(scenes):  # bright, unsaturated pixels below the sky
        fr = []
        for s in scenes:
            img = s.image.astype(np.int16)
            ground = ~np.isin(s.labels, (ID["sky"], ID["clouds"]))
            w = (img.min(-1) > 190) & (img.max(-1) - img.min(-1) < 40) & ground
            fr.append(w.mean())
        return np.mean(fr)

    assert white(winter) > 1.5 * white(summer)


def test_autumn_foliage_is_warmer_than_summer():
    tree, bush = ID["tree"], ID["bush"]
    summer = class_means([render_scene(s, 96, 96, NOON) for s in range(40)])
    autumn = class_means([render_scene(s, 96, 96, Style("noon", "autumn", "clear")) for s in range(40)])
    for c in (tree, bush):  # red over green grows
        assert autumn[c, 0] / autumn[c, 1] > summer[c, 0] / summer[c, 1] + 0.3


# ---- dataset ----------------------------------------------------------------------------------

def test_dataset_items_are_tensors_in_range_and_deterministic_by_index():
    ds = ScenesDataset(size=64, seed=3, length=4)
    item = ds.get(2)
    assert set(item) == {"image", "label"}
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["label"].shape == (64, 64) and item["label"].dtype == torch.int64
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert torch.equal(item["image"], ScenesDataset(size=64, seed=3).get(2)["image"])
    assert not torch.equal(item["label"], ds.get(3)["label"])
    assert not torch.equal(item["label"], ScenesDataset(size=64, seed=4).get(2)["label"])
    assert len(ds) == 4 and len(list(ds)) == 4


def test_dataset_size_and_aspect():
    assert ScenesDataset(size=128, aspect_ratio=2.0).get(0)["image"].shape == (3, 64, 128)
    assert ScenesDataset(size=(48, 80)).get(0)["label"].shape == (48, 80)


def test_endless_dataset_has_no_len_and_keeps_going():
    ds = ScenesDataset(size=32, seed=1)
    with pytest.raises(TypeError):
        len(ds)
    it = iter(ds)
    assert len([next(it) for _ in range(3)]) == 3


def test_ranks_and_workers_get_distinct_streams_that_cover_everything():
    streams = []
    for rank in range(2):
        ds = ScenesDataset(size=32, length=13, rank=rank, world_size=2)
        for worker in range(3):
            streams.append(list(ds.stream_indices(worker, 3)))
    flat = [i for s in streams for i in s]
    assert sorted(flat) == list(range(13))  # each index exactly once
    with pytest.raises(ValueError):
        ScenesDataset(rank=2, world_size=2)


def test_dataloader_workers_render_distinct_scenes():
    ds = ScenesDataset(size=32, seed=0, length=6)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    labels = [item["label"] for item in loader]
    assert len(labels) == 6
    assert len({tuple(lab.flatten().tolist()) for lab in labels}) == 6
    expected = {tuple(ds.get(i)["label"].flatten().tolist()) for i in range(6)}
    assert {tuple(lab.flatten().tolist()) for lab in labels} == expected


# ---- spade scenes ------------------------------------------------------------------------------

def test_cli_writes_a_dataset_that_folder_dataset_reads_back(tmp_path):
    from model.cli import main
    from model.data import FolderDataset

    out = tmp_path / "scenes"
    assert main(["scenes", "--out", str(out), "--n", "5", "--size", "64", "--seed", "2"]) == 0
    images = sorted((out / "images").glob("*.jpg"))
    labels = sorted((out / "labels").glob("*.png"))
    assert [p.stem for p in images] == [f"{i:06d}" for i in range(5)] == [p.stem for p in labels]
    lab = Image.open(labels[0])
    assert lab.mode == "L" and lab.size == (64, 64)
    assert [d["name"] for d in json.loads((out / "labels.json").read_text())] == LANDSCAPES.names
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size[0] > 2 * 64 and sheet.size[1] > 64

    ds = FolderDataset(out, size=64, train=False)
    assert len(ds) == 5 and ds.num_classes == len(LANDSCAPES)
    item = ds[0]
    assert item["image"].shape == (3, 64, 64)
    assert np.array_equal(item["label"].numpy(), np.asarray(lab))


def test_cli_png_format_and_aspect(tmp_path):
    from model.cli import main

    assert main(["scenes", "--out", str(tmp_path), "--n", "2", "--size", "96", "--aspect", "1.5",
                 "--format", "png", "--style", "night-summer-clear"]) == 0
    img = Image.open(tmp_path / "images" / "000000.png")
    assert img.size == (96, 64)


def test_cli_reports_bad_arguments(tmp_path, capsys):
    from model.cli import main

    assert main(["scenes", "--out", str(tmp_path), "--n", "0"]) == 2
    assert main(["scenes", "--out", str(tmp_path), "--style", "noon-spring-clear"]) == 2
    assert "season" in capsys.readouterr().err


def test_python_dash_m_model_cli_scenes_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "model.cli", "scenes", "--out", str(tmp_path), "--n", "3",
                        "--size", "64"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "images").glob("*.jpg"))) == 3
