"""spade eval: metric arithmetic on hand-made inputs, and an end-to-end run on a tiny model."""

import json

import numpy as np
import pytest
import torch

from model.cli import main as cli_main
from model.config import preset
from model.evaluate import colour_stats, confusion, frechet_distance, miou_and_accuracy, stripe_energy, texture_energy
from model.io import build_networks, save_model
from model.labels import LANDSCAPES


def test_miou_and_pixel_accuracy_on_a_hand_made_confusion():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    conf = confusion(pred, target, 3)
    miou, acc = miou_and_accuracy(conf)
    # class 0: tp 1, union 2 -> 0.5; class 1: tp 2, union 3 -> 2/3; class 2 absent from the truth
    assert miou == pytest.approx((0.5 + 2 / 3) / 2)
    assert acc == pytest.approx(0.75)


def test_colour_statistics_tell_a_dark_image_from_a_bright_one():
    dark = np.full((8, 8, 3), 20, np.uint8)
    bright = np.full((8, 8, 3), 230, np.uint8)
    near_dark = np.full((8, 8, 3), 40, np.uint8)
    d = lambda a, b: np.abs(colour_stats(a) - colour_stats(b)).sum()  # noqa: E731
    assert d(near_dark, dark) < d(near_dark, bright)


def test_frechet_distance_is_zero_for_identical_sets_and_positive_otherwise(tmp_path):
    class Feats(torch.nn.Module):
        def forward(self, x):
            return x.float().mean(dim=(2, 3))  # (B, 3): a stand-in feature extractor
    path = tmp_path / "feats.pt"
    torch.jit.script(Feats()).save(str(path))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (32, 8, 8, 3), dtype=np.uint8)
    b = (a // 2).astype(np.uint8)
    assert frechet_distance(path, a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(path, a, b) > 100
    with pytest.raises(ValueError, match="not found"):
        frechet_distance(tmp_path / "nope.pt", a, b)


def test_stripe_energy_tells_a_plaid_from_random_texture_of_the_same_strength():
    rng = np.random.default_rng(0)
    labels = np.zeros((1, 128, 128), np.int64)
    labels[:, 80:] = 1                                        # two regions: the boundary is not texture
    speckle = rng.normal(0, 20, (128, 128))
    plaid = rng.normal(0, 20 / np.sqrt(2), (128, 1)) + rng.normal(0, 20 / np.sqrt(2), (1, 128))  # rows + columns
    as_image = lambda t: np.repeat(np.clip(128 + t, 0, 255).astype(np.uint8)[None, :, :, None], 3, 3)  # noqa: E731
    s_speckle, s_plaid = stripe_energy(as_image(speckle), labels)[0], stripe_energy(as_image(plaid), labels)[0]
    assert s_plaid > 8 * s_speckle
    flat = np.full((1, 128, 128, 3), 90, np.uint8)
    flat[:, 80:] = 200                                         # a hard edge along the label boundary
    assert stripe_energy(flat, labels)[0] == 0
    assert texture_energy(flat, labels)[0] == 0
    assert texture_energy(as_image(speckle), labels)[0] > 100  # ~ 20^2 less what the 5x5 mean keeps


def test_eval_command_runs_end_to_end_on_a_tiny_model(tmp_path, monkeypatch):
    import model.evaluate as ev
    monkeypatch.setattr(ev, "train_segnet", lambda n, steps, progress: ev.SegNet(n).eval())
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16, crop_size=64, z_dim=16)
    g, e = build_networks(cfg)
    save_model(tmp_path / "m", cfg, g.eval(), e.eval(), LANDSCAPES)
    out = tmp_path / "r.json"
    rc = cli_main(["eval", "--model", str(tmp_path / "m"), "--n", "4", "--pairs", "3", "--diversity-maps", "1",
                   "--segnet", str(tmp_path / "seg.safetensors"), "--json", str(out), "--no-progress",
                   "--sheet", str(tmp_path / "sheet.png")])
    assert rc == 0
    r = json.loads(out.read_text())
    assert 0 <= r["miou_real"] <= 1 and 0 <= r["miou_generated"] <= 1
    assert 0 <= r["style_fraction"] <= 1
    assert r["diversity_l1"] > 0  # random z gives different images
    assert r["stripes_real"] >= 0 and r["stripes_generated"] >= 0
    assert 0 <= r["plaid_fraction_real"] <= 1 and 0 <= r["plaid_fraction_generated"] <= 1
    assert r["texture_real"] > 0 and r["texture_generated"] >= 0 and r["texture_band_distance"] > 0
    assert r["fid"] is None and "skipped" in r["fid_note"]
    assert (tmp_path / "seg.safetensors").is_file()  # trained once, reused next time
    from PIL import Image
    assert Image.open(tmp_path / "sheet.png").size == (64 * 6, 64 * 6)  # 6 rows of 6 cells


def test_report_says_so_when_the_real_miou_is_zero():
    from model.evaluate import format_report
    r = {"scenes": 4, "miou_real": 0.0, "miou_generated": 0.0, "miou_ratio": None, "pixel_acc_real": 0.0,
         "pixel_acc_generated": 0.0, "style_fraction": None, "diversity_l1": None, "fid": None, "style_pairs": 0}
    assert "n/a" in format_report(r)
