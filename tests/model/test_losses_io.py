"""Loss values on hand-made inputs; model folders round-trip exactly and refuse bad files."""

import json

import pytest
import torch

from model.config import preset
from model.inputs import semantic_input
from model.io import build_networks, load_model, save_model
from model.labels import LANDSCAPES, Palette
from model.losses import VGGLoss, feature_matching_loss, gan_loss, kl_loss


def preds(v: float) -> list[list[torch.Tensor]]:
    return [[torch.zeros(1, 2, 2, 2), torch.full((1, 1, 2, 2), v)] for _ in range(2)]


def test_hinge_loss_values():
    assert gan_loss(preds(0.5), True, True).item() == pytest.approx(0.5)    # relu(1 - 0.5)
    assert gan_loss(preds(2.0), True, True).item() == pytest.approx(0.0)
    assert gan_loss(preds(0.5), False, True).item() == pytest.approx(1.5)   # relu(1 + 0.5)
    assert gan_loss(preds(-3.0), False, True).item() == pytest.approx(0.0)
    assert gan_loss(preds(0.5), True, False).item() == pytest.approx(-0.5)  # generator: -D(fake)


def test_least_squares_and_original_gan_losses():
    assert gan_loss(preds(0.5), True, True, mode="ls").item() == pytest.approx(0.25)
    assert gan_loss(preds(0.0), True, True, mode="original").item() == pytest.approx(0.6931, abs=1e-4)
    with pytest.raises(ValueError):
        gan_loss(preds(0.0), True, True, mode="wgan")


def test_feature_matching_is_l1_of_all_but_last_stage_times_weight_over_num_d():
    fake = [[torch.ones(1, 1, 2, 2), torch.zeros(1)], [torch.full((1, 1, 2, 2), 3.0), torch.zeros(1)]]
    real = [[torch.zeros(1, 1, 2, 2), torch.ones(1)], [torch.ones(1, 1, 2, 2), torch.ones(1)]]
    # scale 0: |1-0| = 1, scale 1: |3-1| = 2 -> (1 + 2) * 10 / 2
    assert feature_matching_loss(fake, real, 10.0).item() == pytest.approx(15.0)


def test_kl_is_zero_for_standard_normal_and_matches_closed_form():
    assert kl_loss(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[0.0]])
    assert kl_loss(mu, logvar, 1.0).item() == pytest.approx(0.5)


def test_pooled_l1_asks_for_colour_but_not_for_the_targets_fine_texture():
    from model.losses import pooled_l1_loss
    flat = torch.zeros(1, 3, 16, 16)
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 1.0 - 0.5  # +-0.5, mean 0
    textured = checker.expand(1, 3, 16, 16)
    assert float(pooled_l1_loss(flat, textured)) == pytest.approx(0.5)       # pixels: blur is paid for
    assert float(pooled_l1_loss(flat, textured, pool=4)) == pytest.approx(0.0)  # pooled: texture is free
    assert float(pooled_l1_loss(flat + 0.3, textured, pool=4)) == pytest.approx(0.3)  # colour still counts


def test_stripe_loss_charges_a_plaid_beyond_the_real_images_and_its_gradient_removes_it():
    from model.losses import stripe_loss
    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    labels[:, 40:] = 3
    real = (torch.rand(2, 3, 64, 64, generator=g) - 0.5) * 0.4                  # random texture
    assert float(stripe_loss(real, real, labels)) == 0
    plaid = (torch.randn(2, 1, 64, 1, generator=g) + torch.randn(2, 1, 1, 64, generator=g)) * 0.1
    fake = (real + plaid).requires_grad_()
    loss = stripe_loss(fake, real, labels)
    assert float(loss) > 10
    loss.backward()
    assert torch.isfinite(fake.grad).all()
    step = fake.detach() - 0.5 * fake.grad / fake.grad.abs().max()
    assert float(stripe_loss(step, real, labels)) < float(loss)


def test_band_loss_is_small_for_a_new_draw_of_the_same_texture_and_large_for_hatching_or_blur():
    import math
    from model.losses import band_loss, texture_bands
    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(1, 128, 128, dtype=torch.long)
    speckle = lambda: (torch.rand(1, 3, 128, 128, generator=g) - 0.5) * 0.5  # noqa: E731
    y, x = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    hatch = (torch.sin((x + y) * 2 * math.pi / 5) * 0.25).expand(1, 3, 128, 128)  # diagonal lines
    real = speckle()
    assert float(band_loss(speckle(), real, labels)) < 0.1
    assert float(band_loss(hatch, real, labels)) > 1.0
    assert float(band_loss(torch.zeros_like(real), real, labels)) > 1.0
    bands = texture_bands(hatch * 127.5, labels)[0]
    assert float(bands.max()) > 0.9 * float(bands.sum())  # one orientation and scale holds the hatch
    fake = torch.zeros_like(real).requires_grad_()
    band_loss(fake + 0.01 * speckle(), real, labels).backward()
    assert torch.isfinite(fake.grad).all()


def test_vgg_loss_needs_a_local_file_and_loads_torchvision_layout(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        VGGLoss(tmp_path / "missing.pth")
    # a random state dict in torchvision's vgg19 "features.N" layout
    shapes, cin = {}, 3
    idx = 0
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]:
        if v == "M":
            idx += 1
            continue
        shapes[f"features.{idx}.weight"] = (v, cin, 3, 3)
        shapes[f"features.{idx}.bias"] = (v,)
        cin, idx = v, idx + 2
    sd = {k: torch.randn(s) * 0.01 for k, s in shapes.items()}
    torch.save(sd, tmp_path / "vgg19.pth")
    loss = VGGLoss(tmp_path / "vgg19.pth")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss(x, x).item() == 0.0
    assert loss(x, -x).item() > 0.0


@pytest.mark.parametrize("name", ["landscapes", "coco"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, name):
    torch.manual_seed(0)
    cfg = preset(name, ngf=8, ndf=8, spade_hidden=16)
    g, e = build_networks(cfg)
    # non-trivial BN statistics and spectral-norm vectors
    for n, b in g.named_buffers():
        if n.endswith("running_mean"):
            b.normal_()
        if n.endswith("running_var"):
            b.uniform_(0.5, 2)
    g.eval()
    palette = LANDSCAPES if name == "landscapes" else None
    from model.labels import generated_palette
    palette = palette or generated_palette([f"c{i}" for i in range(cfg.label_nc)])
    save_model(tmp_path / "m", cfg, g, e, palette, dtype=torch.float32)
    loaded = load_model(tmp_path / "m")
    h, w = cfg.output_size
    labels = torch.randint(0, cfg.label_nc, (1, h, w), generator=torch.Generator().manual_seed(3))
    seg = semantic_input(labels, cfg)
    z = torch.randn(1, cfg.z_dim) if cfg.use_vae else None
    with torch.no_grad():
        assert torch.equal(g(seg, z), loaded.generator(seg, z))
        if e is not None:
            img = torch.rand(1, 3, 64, 64)
            assert torch.equal(e.eval()(img)[0], loaded.encoder(img)[0])
    assert loaded.cfg == cfg and loaded.palette.names == palette.names
    assert json.loads((tmp_path / "m" / "config.json").read_text())["ngf"] == 8


def test_half_precision_save_stores_weights_rounded_to_fp16(tmp_path):
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
    g, e = build_networks(cfg)
    g.eval()
    save_model(tmp_path / "m", cfg, g, e, LANDSCAPES)  # fp16 by default
    loaded = load_model(tmp_path / "m")
    for (name, a), b in zip(g.state_dict().items(), loaded.generator.state_dict().values()):
        if a.is_floating_point():
            assert torch.equal(a.half().float(), b), name
    assert (tmp_path / "m" / "model.safetensors").stat().st_size < 0.6 * sum(
        t.numel() * 4 for t in list(g.state_dict().values()) + list(e.state_dict().values()))


def test_loading_refuses_corrupt_and_mis_shaped_weights(tmp_path):
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
    g, e = build_networks(cfg)
    save_model(tmp_path / "m", cfg, g, e, LANDSCAPES)
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="safetensors"):
        load_model(tmp_path / "m")
    # config says ngf 16 but weights are ngf 8: the error names a key and both shapes
    save_model(tmp_path / "m", cfg, g, e, LANDSCAPES)
    cfg.replace(ngf=16).save(tmp_path / "m" / "config.json")
    with pytest.raises(ValueError, match=r"weight 'fc\.weight' has shape"):
        load_model(tmp_path / "m")
    with pytest.raises(ValueError, match="config.json is missing"):
        load_model(tmp_path / "nowhere")


def test_palette_colour_id_round_trip_and_unknown_colour_error():
    import numpy as np
    ids = np.array([[0, 5], [15, 9]])
    rgb = LANDSCAPES.colorize(ids)
    assert LANDSCAPES.ids_from_colors(rgb).tolist() == ids.tolist()
    rgb[0, 0] = (1, 2, 3)
    with pytest.raises(ValueError, match=r"\(1, 2, 3\)"):
        LANDSCAPES.ids_from_colors(rgb)
    again = Palette.from_json(LANDSCAPES.to_json())
    assert again.names == LANDSCAPES.names and len(again) == 16


def test_saved_weights_follow_the_umask_not_safetensors_0600(tmp_path):
    import os
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
    g, e = build_networks(cfg)
    old = os.umask(0o022)
    try:
        folder = save_model(tmp_path / "m", cfg, g, e, LANDSCAPES)
    finally:
        os.umask(old)
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == 0o644
