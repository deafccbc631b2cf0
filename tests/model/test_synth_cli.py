"""`spade synth` end to end on tiny model folders written by model.io.save_model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model.bench import random_model, scene_labels
from model.cli import main
from model.config import preset
from model.imageio import encode_label_png, read_image, read_label_png
from model.io import save_model


def _folder(tmp_path_factory, name: str, **over):
    cfg = preset(name, ngf=8, spade_hidden=16, crop_size=64, **over)
    m = random_model(cfg, seed=1)
    return save_model(tmp_path_factory.mktemp(name), cfg, m.generator, m.encoder, m.palette), m


@pytest.fixture(scope="module")
def vae_model(tmp_path_factory):  # landscapes: encoder, 16 classes, no don't care
    return _folder(tmp_path_factory, "landscapes")


@pytest.fixture(scope="module")
def coco_model(tmp_path_factory):  # 182 classes + don't care + instances, no encoder
    return _folder(tmp_path_factory, "coco")


def _synth(folder, labels, out, *extra):
    return main(["synth", "--model", str(folder), "--labels", str(labels), "--out", str(out),
                 "--precision", "fp32", "--device", "cpu", *extra])


def _ids(m, seed=0):
    return scene_labels(m.cfg, 1, seed=seed)[0][0]


def test_8_bit_ids_png(vae_model, tmp_path):
    folder, m = vae_model
    Image.fromarray(_ids(m).astype(np.uint8)).save(tmp_path / "l.png")
    assert _synth(folder, tmp_path / "l.png", tmp_path / "o.png", "--seed", "1") == 0
    out = read_image(tmp_path / "o.png")
    assert out.shape == (64, 64, 3)


def test_16_bit_ids_png_with_dont_care_and_instances(coco_model, tmp_path):
    folder, m = coco_model
    ids, inst = scene_labels(m.cfg, 1, seed=2)
    ids = ids[0].astype(np.uint16)
    ids[:4] = 255
    Image.fromarray(ids).save(tmp_path / "l.png")
    assert Image.open(tmp_path / "l.png").mode.startswith("I")
    (tmp_path / "i.png").write_bytes(encode_label_png(inst[0]))
    assert _synth(folder, tmp_path / "l.png", tmp_path / "o.png", "--instances", str(tmp_path / "i.png")) == 0
    assert read_image(tmp_path / "o.png").shape == (64, 64, 3)


def test_palette_rgb_png_gives_the_same_image_as_ids(vae_model, tmp_path):
    folder, m = vae_model
    ids = _ids(m, seed=3)
    Image.fromarray(ids.astype(np.uint8)).save(tmp_path / "ids.png")
    Image.fromarray(m.palette.colorize(ids)).save(tmp_path / "rgb.png")
    assert np.array_equal(read_label_png(tmp_path / "rgb.png", m.palette), ids)
    assert _synth(folder, tmp_path / "ids.png", tmp_path / "a.png", "--seed", "4") == 0
    assert _synth(folder, tmp_path / "rgb.png", tmp_path / "b.png", "--seed", "4") == 0
    assert np.array_equal(read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png"))


def test_seed_reproduces_and_size_follows_the_model(vae_model, tmp_path):
    folder, m = vae_model
    Image.fromarray(_ids(m)[::4, ::4].astype(np.uint8)).save(tmp_path / "small.png")  # 16x16 -> 64x64
    for out in ("a.png", "b.png"):
        assert _synth(folder, tmp_path / "small.png", tmp_path / out, "--seed", "9") == 0
    a, b = read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png")
    assert a.shape == (64, 64, 3) and np.array_equal(a, b)


def test_style_image(vae_model, tmp_path):
    folder, m = vae_model
    Image.fromarray(_ids(m).astype(np.uint8)).save(tmp_path / "l.png")
    style = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    Image.fromarray(style).save(tmp_path / "s.jpg")
    assert _synth(folder, tmp_path / "l.png", tmp_path / "o.jpg", "--style", str(tmp_path / "s.jpg")) == 0
    assert read_image(tmp_path / "o.jpg").shape == (64, 64, 3)


def test_unknown_colour_is_named(vae_model, tmp_path, capsys):
    folder, m = vae_model
    rgb = m.palette.colorize(_ids(m))
    rgb[5, 5] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert _synth(folder, tmp_path / "rgb.png", tmp_path / "o.png") == 2
    err = capsys.readouterr().err
    assert "(1, 2, 3)" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_unknown_ids_are_named(vae_model, tmp_path, capsys):
    folder, m = vae_model
    ids = _ids(m).astype(np.uint8)
    ids[0, 0] = 40
    Image.fromarray(ids).save(tmp_path / "l.png")
    assert _synth(folder, tmp_path / "l.png", tmp_path / "o.png") == 2
    assert "40" in capsys.readouterr().err


def test_style_on_a_model_without_encoder_is_an_error(coco_model, tmp_path, capsys):
    folder, m = coco_model
    Image.fromarray(_ids(m).astype(np.uint8)).save(tmp_path / "l.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "s.png")
    assert _synth(folder, tmp_path / "l.png", tmp_path / "o.png", "--style", str(tmp_path / "s.png")) == 2
    assert "no style encoder" in capsys.readouterr().err


def test_truncated_png_is_a_clear_error(vae_model, tmp_path, capsys):
    folder, m = vae_model
    Image.fromarray(_ids(m).astype(np.uint8)).save(tmp_path / "l.png")
    data = (tmp_path / "l.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert _synth(folder, tmp_path / "cut.png", tmp_path / "o.png") == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_oversized_png_is_refused_before_decoding(vae_model):
    _, m = vae_model
    big = encode_label_png(np.zeros((300, 300), np.uint8))
    with pytest.raises(ValueError, match="limit"):
        read_label_png(big, m.palette, max_pixels=10_000)


def test_jpeg_labels_are_refused(vae_model, tmp_path, capsys):
    folder, _ = vae_model
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "l.jpg")
    assert _synth(folder, tmp_path / "l.jpg", tmp_path / "o.png") == 2
    assert "expected PNG" in capsys.readouterr().err
