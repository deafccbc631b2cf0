"""Shapes and behaviour of the SPADE networks on tiny configs."""

import pytest
import torch

from model.config import ModelConfig, PRESETS, preset
from model.discriminator import MultiscaleDiscriminator
from model.encoder import ConvEncoder, reparameterize
from model.generator import SPADEGenerator
from model.inputs import instance_edges, semantic_input
from model.io import build_networks
from model.spade import SPADE


def tiny(name: str, **kw) -> ModelConfig:
    return preset(name, ngf=8, ndf=8, spade_hidden=16, **kw)


def random_labels(cfg: ModelConfig, b: int = 1, seed: int = 0) -> torch.Tensor:
    h, w = cfg.output_size
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.label_nc, (b, h, w), generator=g)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("mode", ["normal", "more", "most"])
def test_generator_output_shape_for_every_preset_and_upsampling_mode(name, mode):
    base = tiny(name)
    # keep the latent grid at least 1 pixel: 'most' needs crop >= 128 * aspect
    cfg = base.replace(num_upsampling_layers=mode, crop_size=max(base.crop_size, 256))
    g, _ = build_networks(cfg)
    g.eval()
    seg = semantic_input(random_labels(cfg), cfg)
    with torch.no_grad():
        out = g(seg)
    h, w = cfg.output_size
    assert out.shape == (1, 3, h, w)
    assert out.abs().max() <= 1.0
    sh, sw = cfg.latent_size
    assert (h, w) == (sh * 2 ** cfg.num_upsamplings, sw * 2 ** cfg.num_upsamplings)


def test_seed_sizes_z256_to_16384_to_1024x4x4_and_seven_upsamplings_to_512():
    cfg = ModelConfig(label_nc=4, contain_dontcare_label=False, use_instance=False, ngf=64, z_dim=256,
                      crop_size=512, num_upsampling_layers="most", use_vae=True, spade_hidden=8)
    g = SPADEGenerator(cfg).eval()
    assert g.fc.in_features == 256 and g.fc.out_features == 16384
    assert cfg.latent_size == (4, 4)
    x = g.fc(torch.zeros(1, 256)).view(1, 16 * cfg.ngf, *cfg.latent_size)
    assert x.shape == (1, 1024, 4, 4)
    assert cfg.num_upsamplings == 7 and cfg.output_size == (512, 512)
    assert hasattr(g, "up_4") and g.conv_img.in_channels == 32


def test_cityscapes_preset_keeps_aspect_ratio_two():
    cfg = tiny("cityscapes")
    assert cfg.latent_size == (4, 8) and cfg.output_size == (256, 512)
    assert cfg.semantic_nc == 36


def test_semantic_input_channels_one_hot_then_edges_and_dontcare():
    cfg = tiny("coco")
    labels = torch.tensor([[[0, 255], [181, 3]]])
    inst = torch.tensor([[[1, 1], [2, 2]]])
    seg = semantic_input(labels, cfg, inst)
    assert seg.shape == (1, 184, 2, 2)
    assert seg[0, 182, 0, 1] == 1          # 255 -> don't-care channel label_nc
    assert seg[0, 181, 1, 0] == 1
    assert seg[0, :183].sum(0).eq(1).all()  # exactly one class per pixel
    assert seg[0, 183].tolist() == [[1, 1], [1, 1]]  # every pixel touches the 1|2 boundary


def test_instance_edges_mark_both_sides_of_a_boundary_only():
    inst = torch.tensor([[[1, 1, 2, 2, 2]]]).expand(1, 3, 5)
    e = instance_edges(inst)[0, 0]
    assert e.tolist() == [[0, 1, 1, 0, 0]] * 3


def test_out_of_range_label_ids_raise_naming_them():
    cfg = tiny("ade20k")
    with pytest.raises(ValueError, match=r"\[150, 200\]"):
        semantic_input(torch.tensor([[[0, 150, 200]]]), cfg)
    no_dc = tiny("cityscapes")
    with pytest.raises(ValueError, match="255"):
        semantic_input(torch.tensor([[[255]]]), no_dc)


def test_label_map_reaches_the_output_only_through_spade():
    cfg = tiny("landscapes")
    g, _ = build_networks(cfg)
    g.eval()
    z = torch.randn(1, cfg.z_dim, generator=torch.Generator().manual_seed(1))
    a = semantic_input(random_labels(cfg, seed=1), cfg)
    b = semantic_input(random_labels(cfg, seed=2), cfg)
    with torch.no_grad():
        assert not torch.allclose(g(a, z), g(b, z))
        for m in g.modules():
            if isinstance(m, SPADE):
                torch.nn.init.zeros_(m.mlp_shared[0].weight)
                torch.nn.init.zeros_(m.mlp_shared[0].bias)
        assert torch.equal(g(a, z), g(b, z))


def _noise_pair(cfg: ModelConfig):
    """A generator with noise inputs (weights zero) and the same weights without them (eval mode)."""
    from model.bench import random_model  # BN statistics that keep tanh out of saturation
    g = random_model(cfg, seed=0).generator
    with torch.no_grad():
        for n, p in g.named_parameters():
            if "noise" in n:
                p.zero_()
    plain = SPADEGenerator(cfg.replace(noise_inject=False)).eval()
    plain.load_state_dict({k: v for k, v in g.state_dict().items() if "noise" not in k})
    return g, plain


def test_noise_inputs_start_at_zero_so_a_model_without_them_continues_unchanged():
    cfg = tiny("landscapes", crop_size=64)
    assert cfg.noise_inject and not PRESETS["coco"].noise_inject  # ours only: release checkpoints have none
    g, plain = _noise_pair(cfg)
    seg, z = semantic_input(random_labels(cfg), cfg), torch.randn(1, cfg.z_dim)
    with torch.no_grad():
        assert torch.equal(g(seg, z, noise=torch.randn(1, 1, 64, 64)), plain(seg, z))


def test_noise_at_one_pixel_changes_the_picture_only_near_that_pixel():
    cfg = tiny("landscapes", crop_size=64)
    g, _ = _noise_pair(cfg)
    seg, z = semantic_input(random_labels(cfg), cfg), torch.randn(1, cfg.z_dim)
    noise = torch.randn(1, 1, 64, 64)
    poked = noise.clone()
    poked[0, 0, 30, 40] += 3.0
    with torch.no_grad():
        g.up_3.noise_0.fill_(0.5)  # the full-resolution block: conv_0 -> conv_1 -> conv_img, radius 2
        diff = (g(seg, z, noise=noise) - g(seg, z, noise=poked)).abs().amax(1)[0]
    changed = diff > 1e-6
    assert changed[30, 40]
    rows, cols = changed.nonzero(as_tuple=True)
    assert rows.min() >= 28 and rows.max() <= 32 and cols.min() >= 38 and cols.max() <= 42


def test_low_resolution_blocks_read_every_fth_noise_pixel():
    cfg = tiny("landscapes", crop_size=64)  # latent 2x2; G_middle_0 runs at 4x4: every 16th pixel
    g, _ = _noise_pair(cfg)
    seg, z = semantic_input(random_labels(cfg), cfg), torch.randn(1, cfg.z_dim)
    noise = torch.randn(1, 1, 64, 64)
    on_grid, off_grid = noise.clone(), noise.clone()
    on_grid[0, 0, 16, 32] += 3.0
    off_grid[0, 0, 17, 33] += 3.0
    with torch.no_grad():
        g.G_middle_0.noise_1.fill_(0.5)
        ref = g(seg, z, noise=noise)
        assert not torch.allclose(g(seg, z, noise=on_grid), ref)
        assert torch.equal(g(seg, z, noise=off_grid), ref)


def test_generator_without_vae_starts_from_downsampled_label_map():
    cfg = tiny("ade20k")
    g, e = build_networks(cfg)
    assert e is None and isinstance(g.fc, torch.nn.Conv2d) and g.fc.in_channels == cfg.semantic_nc


def test_reparameterization_gradients_flow_to_mu_and_logvar():
    mu = torch.zeros(2, 8, requires_grad=True)
    logvar = torch.zeros(2, 8, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    (z ** 2).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_reparameterization_is_mu_plus_eps_times_std():
    mu, logvar = torch.full((1, 4), 2.0), torch.full((1, 4), 2 * torch.log(torch.tensor(3.0)))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(5))
    eps = torch.randn(1, 4, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(z, 2.0 + 3.0 * eps)


def test_encoder_resizes_any_input_to_256_and_outputs_z_dim():
    enc = ConvEncoder(ndf=8, z_dim=32).eval()
    mu, logvar = enc(torch.rand(2, 3, 100, 180) * 2 - 1)
    assert mu.shape == logvar.shape == (2, 32)
    assert enc.fc_mu.in_features == 8 * 8 * 4 * 4


def test_multiscale_discriminator_returns_features_per_scale():
    d = MultiscaleDiscriminator(input_nc=7, ndf=8, n_layers=4, num_D=2)
    feats = d(torch.randn(2, 7, 64, 64))
    assert len(feats) == 2 and all(len(f) == 5 for f in feats)
    assert feats[0][-1].shape[:2] == (2, 1)
    assert feats[1][0].shape[-1] == feats[0][0].shape[-1] // 2 + 1  # second scale sees a half-size input
    assert feats[0][3].shape[1] == 64  # 8 -> 16 -> 32 -> 64 channels
