"""Engine: input checks, resizing, don't care, seeds, style cache, batching, mixing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.bench import random_model, scene_labels
from model.config import preset
from model.engine import Engine, nearest_resize, pick_device, pick_dtype


def _engine(name: str, fast: bool = True, **over) -> Engine:
    cfg = preset(name, ngf=8, spade_hidden=16, crop_size=64, **over)
    return Engine(random_model(cfg, seed=1), device="cpu", precision="fp32", fast=fast)


@pytest.fixture(scope="module")
def vae():  # landscapes: style encoder, no don't care, no instances
    return _engine("landscapes")


@pytest.fixture(scope="module")
def coco():  # no encoder, don't care, instances
    return _engine("coco")


@pytest.fixture(scope="module")
def labels(vae):
    return scene_labels(vae.cfg, 1, seed=5)[0][0]  # (64, 64)


def _style(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (40, 50, 3), dtype=np.uint8)


# ---- checks -------------------------------------------------------------------------------------------

def test_bad_ids_raise_value_error_naming_them(vae, labels):
    bad = labels.copy()
    bad[0, 0], bad[1, 1] = 16, 99
    with pytest.raises(ValueError, match=r"16, 99"):
        vae.synthesize(bad, seed=0)


def test_negative_ids_are_named(coco):
    with pytest.raises(ValueError, match=r"-3"):
        coco.check_labels(np.full((64, 64), -3))


def test_float_labels_are_rejected(vae):
    with pytest.raises(ValueError, match="integer"):
        vae.check_labels(np.zeros((64, 64), np.float32))


def test_off_size_maps_are_resized_nearest(vae, labels):
    small = labels[::2, ::2]                                   # (32, 32)
    checked = vae.check_labels(small)
    assert checked.shape == (64, 64)
    assert np.array_equal(checked, np.repeat(np.repeat(small, 2, 0), 2, 1))
    assert vae.synthesize(small, seed=0).shape == (64, 64, 3)


def test_nearest_resize_matches_torch():
    a = np.random.default_rng(0).integers(0, 9, (2, 37, 53))
    for size in [(64, 64), (20, 11)]:
        ref = torch.nn.functional.interpolate(torch.from_numpy(a)[:, None].float(), size=size)[:, 0].long().numpy()
        assert np.array_equal(nearest_resize(a, size), ref)


def test_255_is_dont_care_where_the_model_has_it(coco, vae):
    m = np.zeros((64, 64), np.uint8)
    m[:10] = 255
    assert (coco.check_labels(m)[:10] == coco.cfg.label_nc).all()
    assert coco.synthesize(m).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="255"):
        vae.check_labels(m)


def test_check_labels_is_idempotent(coco):
    m = np.full((32, 32), 255)
    once = coco.check_labels(m)
    assert np.array_equal(coco.check_labels(once), once)


def test_style_on_a_model_without_encoder_is_an_error(coco, labels):
    with pytest.raises(ValueError, match="no style encoder"):
        coco.synthesize(labels, style=_style(0))


def test_mix_on_a_model_without_encoder_is_an_error(coco, labels):
    with pytest.raises(ValueError, match="mix"):
        coco.synthesize(labels, mix=0.5)


def test_mix_outside_unit_interval_is_an_error(vae, labels):
    with pytest.raises(ValueError, match="mix"):
        vae.synthesize(labels, mix=1.5)


# ---- seeds, styles, mixing ----------------------------------------------------------------------------

def test_same_seed_same_image(vae, labels):
    assert np.array_equal(vae.synthesize(labels, seed=7), vae.synthesize(labels, seed=7))


def test_different_seeds_differ(vae, labels):
    assert not np.array_equal(vae.synthesize(labels, seed=7), vae.synthesize(labels, seed=8))


def test_the_seed_draws_the_noise_map_too():
    noisy, still = _engine("landscapes"), _engine("landscapes", noise_inject=False)
    lab = scene_labels(noisy.cfg, 1, seed=5)[0][0]
    z = torch.randn(1, noisy.cfg.z_dim, generator=torch.Generator().manual_seed(2))
    a = noisy.synthesize(lab, z=z, seed=7)
    assert np.array_equal(a, noisy.synthesize(lab, z=z, seed=7))
    assert np.abs(a.astype(int) - noisy.synthesize(lab, z=z, seed=8).astype(int)).mean() > 1
    assert np.array_equal(noisy.synthesize(lab, z=z), noisy.synthesize(lab, z=z, seed=0))  # no seed: noise of seed 0
    assert np.array_equal(still.synthesize(lab, z=z, seed=7), still.synthesize(lab, z=z, seed=8))


def test_style_image_without_seed_uses_mu(vae, labels):
    mu, _ = vae.style_code(_style(1))
    assert np.array_equal(vae.synthesize(labels, style=_style(1)), vae.synthesize(labels, style=mu))
    assert np.array_equal(vae.synthesize(labels, style=_style(1)), vae.synthesize(labels, z=mu[None]))


def test_style_with_seed_samples_around_mu_reproducibly(vae, labels):
    a = vae.synthesize(labels, style=_style(1), seed=3)
    assert np.array_equal(a, vae.synthesize(labels, style=_style(1), seed=3))
    assert not np.array_equal(a, vae.synthesize(labels, style=_style(1)))


def test_style_cache_hit_skips_the_encoder(labels):
    eng = _engine("landscapes")
    calls = []
    forward = eng.encoder.forward
    eng.encoder.forward = lambda x: (calls.append(1), forward(x))[1]
    img = _style(2)
    eng.synthesize(labels, style=img)
    eng.synthesize(labels, style=img.copy(), seed=1)
    assert len(calls) == 1
    eng.synthesize(labels, style=_style(3))
    assert len(calls) == 2


def test_style_cache_is_bounded(labels):
    eng = _engine("landscapes")
    eng._style_cache_size = 2
    for s in range(4):
        eng.style_code(_style(s))
    assert len(eng._style_cache) == 2


def test_mixing_at_0_and_1_equals_the_endpoints(vae, labels):
    a, b = _style(1), _style(2)
    only_a = vae.synthesize(labels, style=a)
    only_b = vae.synthesize(labels, style=b)
    assert np.array_equal(vae.synthesize(labels, style=a, mix_style=b, mix=0.0), only_a)
    assert np.array_equal(vae.synthesize(labels, style=a, mix_style=b, mix=1.0), only_b)
    half = vae.synthesize(labels, style=a, mix_style=b, mix=0.5)
    assert not np.array_equal(half, only_a) and not np.array_equal(half, only_b)


def test_mixing_without_second_style_uses_seed_plus_one(vae, labels):
    z_b = torch.randn(1, vae.cfg.z_dim, generator=torch.Generator().manual_seed(11))
    assert np.array_equal(vae.synthesize(labels, style=_style(1), seed=10, mix=1.0),
                          vae.synthesize(labels, z=z_b, seed=10))  # with z given, the seed draws only the noise


# ---- batches ----------------------------------------------------------------------------------------

def test_batch_results_equal_single_results(vae):
    lab = scene_labels(vae.cfg, 3, seed=9)[0]
    reqs = [dict(labels=lab[0], seed=1), dict(labels=lab[1], style=_style(4)), dict(labels=lab[2][::2, ::2], seed=2)]
    batched = vae.synthesize_batch(reqs)
    for req, out in zip(reqs, batched):
        single = vae.synthesize(**req)
        assert out.shape == single.shape == (64, 64, 3)
        assert np.abs(out.astype(int) - single.astype(int)).max() <= 1


def test_batched_labels_give_batched_images(coco):
    lab, inst = scene_labels(coco.cfg, 2, seed=4)
    out = coco.synthesize(lab, instances=inst)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8
    single = coco.synthesize(lab[1], instances=inst[1])
    assert np.abs(out[1].astype(int) - single.astype(int)).max() <= 1


def test_a_bad_request_in_a_batch_names_its_index(vae, labels):
    with pytest.raises(ValueError, match="request 1"):
        vae.synthesize_batch([dict(labels=labels), dict(labels=labels + 100)])


def test_instances_change_the_output(coco):
    lab, inst = scene_labels(coco.cfg, 1, seed=4)
    assert not np.array_equal(coco.synthesize(lab[0]), coco.synthesize(lab[0], instances=inst[0]))


# ---- fast vs plain, device and precision --------------------------------------------------------------

@pytest.mark.parametrize("name", ["coco", "landscapes"])
def test_fast_engine_matches_plain_engine(name):
    fast, plain = _engine(name), _engine(name, fast=False)
    lab, inst = scene_labels(fast.cfg, 1, seed=2)
    inst = inst if fast.cfg.use_instance else None
    a = fast.synthesize(lab, instances=inst, seed=3)
    b = plain.synthesize(lab, instances=inst, seed=3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_warmup_runs(vae):
    vae.warmup()


def test_precision_choices():
    cpu = torch.device("cpu")
    assert pick_dtype("fp32", cpu) == torch.float32
    assert pick_dtype("bf16", cpu) == torch.bfloat16
    assert pick_dtype("auto", cpu) in (torch.float32, torch.bfloat16)
    assert pick_device("cpu") == cpu
    with pytest.raises(ValueError):
        pick_dtype("fp8", cpu)


def test_bf16_engine_gives_images(labels):
    cfg = preset("landscapes", ngf=8, spade_hidden=16, crop_size=64)
    eng = Engine(random_model(cfg, seed=1), device="cpu", precision="bf16")
    assert eng.dtype == torch.bfloat16
    assert eng.synthesize(labels, seed=0).shape == (64, 64, 3)


def test_bench_reports_both_paths(tmp_path, capsys):
    import json

    from model.cli import main
    out = tmp_path / "r.json"
    argv = ["bench", "--preset", "coco", "--ngf", "8", "--spade-hidden", "16", "--size", "64", "--batch", "1,2",
            "--precision", "fp32", "--repeats", "1", "--threads", "1", "--json", "--save", str(out)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    configs = {(r["config"], r["batch"]) for r in report["results"]}
    assert configs == {("plain-float32", 1), ("fast-float32", 1), ("plain-float32", 2), ("fast-float32", 2)}
    fast = next(r for r in report["results"] if r["config"] == "fast-float32")
    assert fast["psnr_vs_plain_fp32"] > 40 and report["gflop_per_image"] > 0


def test_plain_and_fast_engines_agree_on_a_map_with_dont_care_pixels():
    import numpy as np
    import torch
    from model.config import preset
    from model.engine import Engine
    from model.io import SpadeModel, build_networks
    from model.labels import generated_palette
    torch.manual_seed(0)
    cfg = preset("ade20k", ngf=8, ndf=8, spade_hidden=16)
    labels = np.zeros((256, 256), np.int64)
    labels[:, 128:] = 255
    labels[:64] = 7
    outs = []
    for fast in (False, True):
        torch.manual_seed(0)
        g, _ = build_networks(cfg)
        m = SpadeModel(cfg, g.eval(), None, generated_palette([f"c{i}" for i in range(150)]))
        outs.append(Engine(m, device="cpu", precision="fp32", fast=fast).synthesize(labels).astype(int))
    assert np.abs(outs[0] - outs[1]).max() <= 1


def test_a_seed_too_large_for_torch_is_a_clear_error():
    import pytest
    from model.config import preset
    from model.engine import Engine
    from model.io import SpadeModel, build_networks
    from model.labels import LANDSCAPES
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
    g, e = build_networks(cfg)
    eng = Engine(SpadeModel(cfg, g.eval(), e.eval(), LANDSCAPES), device="cpu", precision="fp32")
    with pytest.raises(ValueError, match="seed"):
        eng.synthesize(__import__("numpy").zeros((256, 256), int), seed=2**64)


# ---- CPU batch workers ---------------------------------------------------------------------------------

def test_split_sizes_cover_the_batch_evenly():
    from model.engine import split_sizes
    assert split_sizes(8, 2) == [4, 4]
    assert split_sizes(5, 3) == [2, 2, 1]
    assert split_sizes(2, 4) == [1, 1]
    assert split_sizes(1, 2) == [1]


@pytest.mark.parametrize("name", ["landscapes", "coco"])
def test_batches_split_over_workers_equal_the_unsplit_batch(name):
    cfg = preset(name, ngf=8, spade_hidden=16, crop_size=64)
    split = Engine(random_model(cfg, seed=3), device="cpu", precision="fp32", cpu_workers=3)
    whole = Engine(random_model(cfg, seed=3), device="cpu", precision="fp32", cpu_workers=1)
    try:
        assert split.cpu_workers == 3 and whole.cpu_workers == 1
        lab, inst = scene_labels(cfg, 5, seed=11)
        kw = dict(instances=inst if cfg.use_instance else None, seed=4)
        a, b = split.synthesize(lab, **kw), whole.synthesize(lab, **kw)
        assert a.shape == (5, 64, 64, 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        if not cfg.use_vae:  # no z: each image depends on its own map only, so chunks came back in order
            for i in range(5):
                single = whole.synthesize(lab[i], instances=inst[i], seed=4)
                assert np.abs(a[i].astype(int) - single.astype(int)).max() <= 1
    finally:
        split.close()
        whole.close()


def test_split_requests_keep_their_own_styles_in_order():
    cfg = preset("landscapes", ngf=8, spade_hidden=16, crop_size=64)
    eng = Engine(random_model(cfg, seed=3), device="cpu", precision="fp32", cpu_workers=2)
    try:
        lab = scene_labels(cfg, 3, seed=2)[0]
        reqs = [dict(labels=lab[i], style=_style(20 + i)) for i in range(3)]
        out = eng.synthesize_batch(reqs)
        for req, img in zip(reqs, out):
            assert np.abs(img.astype(int) - eng.synthesize(**req).astype(int)).max() <= 1
        assert np.abs(out[0].astype(int) - out[1].astype(int)).mean() > 1  # really different styles
    finally:
        eng.close()


def test_workers_run_single_threaded_and_the_callers_threads_are_kept():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cfg = preset("landscapes", ngf=8, spade_hidden=16, crop_size=64)
        eng = Engine(random_model(cfg, seed=3), device="cpu", precision="fp32", cpu_workers=2)
        assert torch.get_num_threads() == 2
        assert [eng._pool.submit(torch.get_num_threads).result() for _ in range(4)] == [1] * 4
        eng.close()
        assert eng.cpu_workers == 1 and eng._pool is None
        assert eng.synthesize(scene_labels(cfg, 2, seed=1)[0], seed=0).shape == (2, 64, 64, 3)  # still works
    finally:
        torch.set_num_threads(before)


def test_cpu_workers_must_be_positive():
    cfg = preset("landscapes", ngf=8, spade_hidden=16, crop_size=64)
    with pytest.raises(ValueError, match="cpu_workers"):
        Engine(random_model(cfg, seed=3), device="cpu", cpu_workers=0)


def test_compiled_engine_matches_eager_and_serves_new_maps_without_recompiling():
    from torch._dynamo.utils import counters
    cfg = preset("landscapes", ngf=4, spade_hidden=8, crop_size=32)
    eager = Engine(random_model(cfg, seed=3), device="cpu", precision="fp32", cpu_workers=1)
    comp = Engine(random_model(cfg, seed=3), device="cpu", precision="fp32", compile=True)
    comp.warmup()
    frames = sum(counters["frames"].values())
    lab = scene_labels(cfg, 2, seed=8)[0]
    for m in lab:  # label maps the warm-up never saw
        a, b = eager.synthesize(m, seed=3), comp.synthesize(m, seed=3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert sum(counters["frames"].values()) == frames  # no new compilation for new maps
    eager.close()
