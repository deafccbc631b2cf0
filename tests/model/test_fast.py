"""Each rewrite of the fast path against the plain network (fp32, tiny seeded models)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.bench import random_model, scene_labels
from model.blocks import SPADEResBlock
from model.config import preset
from model.fast import FastGenerator, FastSPADE, FirstConv, LabelKeys, first_conv_table, folded_conv
from model.inputs import check_label_ids, instance_edges, semantic_input
from model.spade import SPADE

TOL = dict(atol=5e-4, rtol=1e-3)

# (preset, overrides): every shape the presets produce, small enough for a unit test
CASES = {
    "coco": ("coco", dict(crop_size=64)),                                   # instances + don't care
    "ade20k": ("ade20k", dict(crop_size=64)),                               # don't care, no instances
    "cityscapes-more": ("cityscapes", dict(crop_size=128)),                 # aspect 2, 6 upsamplings
    "cityscapes-most": ("cityscapes", dict(crop_size=256, num_upsampling_layers="most")),
    "landscapes-vae": ("landscapes", dict(crop_size=64)),                   # z from the encoder path, noise inputs
    "landscapes-no-noise": ("landscapes", dict(crop_size=64, noise_inject=False)),
    "coco-vae-instance-norm": ("coco", dict(crop_size=64, use_vae=True, param_free_norm="instance")),
    "coco-kernel-1": ("coco", dict(crop_size=64, spade_kernel=1, spectral_norm_G=False)),
}


def _inputs(cfg, b=2, seed=3):
    labels, inst = scene_labels(cfg, b, seed=seed)
    labels, inst = torch.from_numpy(labels), torch.from_numpy(inst)
    if cfg.contain_dontcare_label:
        labels[:, :5, :7] = 255
    return labels, (inst if cfg.use_instance else None)


def _randomize_bn(norm: torch.nn.BatchNorm2d, gen: torch.Generator) -> None:
    with torch.no_grad():
        norm.running_mean.copy_(torch.randn(norm.num_features, generator=gen) * 0.3)
        norm.running_var.copy_(torch.rand(norm.num_features, generator=gen) + 0.5)


# first conv mode x uniform-region shortcut (max fraction 1.0: used wherever the map allows)
VARIANTS = {"gather": dict(first_conv="gather", region_skip=False),
            "conv": dict(first_conv="conv", region_skip=False),
            "regions": dict(first_conv="gather", region_skip=True, region_max_fraction=1.0)}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_generator_matches_plain(case, variant):
    name, over = CASES[case]
    cfg = preset(name, ngf=8, spade_hidden=16, **over)
    m = random_model(cfg, seed=1)
    labels, inst = _inputs(cfg)
    z = torch.randn(2, cfg.z_dim, generator=torch.Generator().manual_seed(0)) if cfg.use_vae else None
    noise = torch.randn(2, 1, *cfg.output_size, generator=torch.Generator().manual_seed(1)) if cfg.noise_inject else None
    with torch.inference_mode():
        ref = m.generator(semantic_input(labels, cfg, inst), z, noise=noise)
        edges = instance_edges(inst)[:, 0].bool() if inst is not None else None
        fast = FastGenerator(m.generator, torch.float32, **VARIANTS[variant])
        out = fast(check_label_ids(labels, cfg), edges, z, noise)
    assert out.shape == ref.shape == (2, 3, *cfg.output_size)
    torch.testing.assert_close(out, ref, **TOL)


def test_region_path_in_small_patch_chunks_matches_plain(monkeypatch):
    monkeypatch.setattr("model.fast.PATCH_CHUNK", 3000)  # a few boundary pixels per matmul
    cfg = preset("coco", ngf=8, spade_hidden=16, crop_size=64)
    m = random_model(cfg, seed=2)
    labels, inst = _inputs(cfg)
    with torch.inference_mode():
        ref = m.generator(semantic_input(labels, cfg, inst))
        fast = FastGenerator(m.generator, torch.float32, region_max_fraction=1.0)
        out = fast(check_label_ids(labels, cfg), instance_edges(inst)[:, 0].bool())
    torch.testing.assert_close(out, ref, **TOL)


def test_spectral_norm_folds_into_the_eval_weight():
    torch.manual_seed(0)
    block = SPADEResBlock(8, 4, 5, spectral=True)
    for conv in (block.conv_0, block.conv_s):
        with torch.no_grad():
            conv.weight_u.normal_()
            conv.weight_v.normal_()
    block.eval()
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        for conv, pad in ((block.conv_0, 1), (block.conv_s, 0)):
            w, b = folded_conv(conv)
            torch.testing.assert_close(F.conv2d(x, w.float(), None if b is None else b.float(), padding=pad), conv(x))


def test_batch_norm_and_gamma_beta_fold_into_one_conv():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    spade = SPADE(6, 5, norm="batch", hidden=7).eval()
    _randomize_bn(spade.param_free_norm, gen)
    x = torch.randn(2, 6, 8, 8, generator=gen)
    seg = F.one_hot(torch.randint(0, 5, (2, 8, 8), generator=gen), 5).permute(0, 3, 1, 2).float()
    fast = FastSPADE(spade, 5, False, torch.float32)
    assert fast.weight.shape[0] == 12  # mlp_gamma and mlp_beta as one conv with 2C outputs
    with torch.no_grad():
        gb = fast.gamma_beta(spade.mlp_shared(seg))
        torch.testing.assert_close(fast(x, *gb, up=False, act=False), spade(x, seg), **TOL)
        torch.testing.assert_close(fast(x, *gb, up=False, act=True), F.leaky_relu(spade(x, seg), 0.2), **TOL)


def test_instance_norm_modulation_matches():
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    spade = SPADE(6, 5, norm="instance", hidden=7).eval()
    x = torch.randn(2, 6, 8, 8, generator=gen) * 3 + 1
    seg = F.one_hot(torch.randint(0, 5, (2, 8, 8), generator=gen), 5).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        fast = FastSPADE(spade, 5, False, torch.float32)
        out = fast(x, *fast.gamma_beta(spade.mlp_shared(seg)), up=False, act=False)
        torch.testing.assert_close(out, spade(x, seg), **TOL)


def test_modulation_reads_the_low_resolution_input_as_upsampled():
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    spade = SPADE(6, 5, norm="batch", hidden=7).eval()
    _randomize_bn(spade.param_free_norm, gen)
    x = torch.randn(1, 6, 4, 5, generator=gen)
    seg = F.one_hot(torch.randint(0, 5, (1, 8, 10), generator=gen), 5).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        ref = spade(F.interpolate(x, scale_factor=2, mode="nearest"), seg)
        fast = FastSPADE(spade, 5, False, torch.float32)
        out = fast(x, *fast.gamma_beta(spade.mlp_shared(seg)), up=True, act=False)
    torch.testing.assert_close(out, ref, **TOL)


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("has_edge", [True, False])
def test_gather_first_conv_equals_conv_over_one_hot(kernel, has_edge):
    gen = torch.Generator().manual_seed(kernel)
    n, hidden = 6, 9
    conv = torch.nn.Conv2d(n + int(has_edge), hidden, kernel, padding=kernel // 2)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
        conv.bias.copy_(torch.randn(hidden, generator=gen))
    ids = torch.randint(0, n, (2, 7, 9), generator=gen)
    edges = torch.rand(2, 7, 9, generator=gen) > 0.6
    onehot = F.one_hot(ids, n).permute(0, 3, 1, 2).float()
    seg = torch.cat([onehot, edges[:, None].float()], 1) if has_edge else onehot
    keys = LabelKeys(ids, edges if has_edge else None, n, has_edge, torch.float32).keys((7, 9), kernel)
    table = first_conv_table(conv.weight.detach().double(), conv.bias.detach().double(), n, has_edge).float()
    out = F.embedding_bag(keys, table, mode="sum").view(2, 7, 9, hidden).permute(0, 3, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(out, conv(seg), **TOL)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_uniform_regions_give_the_conv_gamma_beta(kernel):
    gen = torch.Generator().manual_seed(kernel)
    torch.manual_seed(kernel)
    n, h, w = 4, 20, 24
    spade = SPADE(6, n + 1, norm="batch", hidden=7, kernel_size=kernel).eval()
    _randomize_bn(spade.param_free_norm, gen)
    ids = torch.randint(0, n, (2, 2, 2), generator=gen).repeat_interleave(10, 1).repeat_interleave(12, 2)  # blocks
    edges = torch.zeros(2, h, w, dtype=torch.bool)
    edges[:, 10, 3:9] = True
    seg = torch.cat([F.one_hot(ids, n).permute(0, 3, 1, 2).float(), edges[:, None].float()], 1)
    fast = FastSPADE(spade, n, True, torch.float32)
    labels = LabelKeys(ids, edges, n, True, torch.float32, region_max_fraction=1.0)
    regions = labels.regions((h, w), kernel)
    assert regions is not None and regions.P.numel() < 2 * h * w  # some pixels skip the conv
    assert (regions.P.numel() == 0) == (kernel == 1)              # 1x1 convs: every pixel is a constant
    assert regions.patch.shape[0] <= regions.P.numel()            # repeated neighbourhoods computed once
    if kernel == 3:
        assert regions.patch.shape[0] < regions.P.numel()
    first = FirstConv([fast.shared], "gather", relu=True, dtype=torch.float32)
    with torch.no_grad():
        dense = fast.gamma_beta(spade.mlp_shared(seg))
        sparse = fast.gamma_beta_regions(first.rows(labels, regions)[0], regions, (2, h, w))
    for a, b in zip(sparse, dense):
        torch.testing.assert_close(a, b, **TOL)


def test_label_keys_resize_like_interpolate_nearest():
    ids = torch.randint(0, 50, (1, 37, 53), generator=torch.Generator().manual_seed(0))
    keys = LabelKeys(ids, None, 50, False, torch.float32)
    for size in [(8, 16), (37, 53), (20, 11), (74, 106)]:
        ref = F.interpolate(ids[:, None].float(), size=size, mode="nearest")[:, 0].long()
        assert torch.equal(keys.resized(size)[0], ref)


def test_bf16_fast_path_stays_close_to_fp32():
    cfg = preset("coco", ngf=8, spade_hidden=16, crop_size=64)
    m = random_model(cfg, seed=1)
    labels, inst = _inputs(cfg)
    with torch.inference_mode():
        ref = m.generator(semantic_input(labels, cfg, inst))
        out = FastGenerator(m.generator, torch.bfloat16)(check_label_ids(labels, cfg),
                                                         instance_edges(inst)[:, 0].bool())
    mse = float(((out.float() - ref) ** 2).mean() / 4)  # images in [-1, 1]: a range of 2
    assert 10 * torch.log10(torch.tensor(1 / mse)) > 30
