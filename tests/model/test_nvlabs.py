"""`spade import-nvlabs`: release checkpoints -> model folders.

Checkpoints are built here, tensor by tensor, in the key layout of the NVlabs/SPADE
release's latest_net_G.pth (spectral norm weight_orig/_u/_v, sync-BN running stats with
num_batches_tracked), independent of our own modules. Tiny: ngf 8, SPADE hidden 16.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from model import cli
from model.config import preset
from model.inputs import semantic_input
from model.io import load_model
from model.labels import LANDSCAPE_COCO_IDS, LANDSCAPES
from model.nvlabs import import_checkpoint, read_checkpoint
from model.palettes import load_palette

NGF, HIDDEN = 8, 16
EXPECTED_SIZE = {"coco": (256, 256), "ade20k": (256, 256), "cityscapes": (256, 512)}


# ---- a release-layout checkpoint -------------------------------------------------------------
def _spectral_conv(sd, g, name, cin, cout, k, bias=True):
    sd[f"{name}.weight_orig"] = torch.randn(cout, cin, k, k, generator=g) * 0.2
    if bias:
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.1
    # u, v as training leaves them: close to W's top singular vectors (a few power iterations)
    w = sd[f"{name}.weight_orig"].flatten(1)
    u = F.normalize(torch.randn(cout, generator=g), dim=0)
    for _ in range(5):
        v = F.normalize(w.t() @ u, dim=0)
        u = F.normalize(w @ v, dim=0)
    sd[f"{name}.weight_u"], sd[f"{name}.weight_v"] = u, v


def _spade(sd, g, name, norm_nc, snc):
    sd[f"{name}.param_free_norm.running_mean"] = torch.randn(norm_nc, generator=g) * 0.3
    sd[f"{name}.param_free_norm.running_var"] = torch.rand(norm_nc, generator=g) + 0.5
    sd[f"{name}.param_free_norm.num_batches_tracked"] = torch.tensor(1234)
    sd[f"{name}.mlp_shared.0.weight"] = torch.randn(HIDDEN, snc, 3, 3, generator=g) * 0.2
    sd[f"{name}.mlp_shared.0.bias"] = torch.randn(HIDDEN, generator=g) * 0.1
    for part in ("mlp_gamma", "mlp_beta"):
        sd[f"{name}.{part}.weight"] = torch.randn(norm_nc, HIDDEN, 3, 3, generator=g) * 0.05
        sd[f"{name}.{part}.bias"] = torch.randn(norm_nc, generator=g) * 0.1


def release_state_dict(dataset: str, ngf: int = NGF, most: bool = False, vae: bool = False,
                       prefix: str = "", seed: int = 0) -> dict[str, torch.Tensor]:
    cfg = preset(dataset)
    snc, nf = cfg.semantic_nc, ngf
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    if vae:
        sh, sw = cfg.replace(num_upsampling_layers="most" if most else cfg.num_upsampling_layers).latent_size
        sd["fc.weight"] = torch.randn(16 * nf * sh * sw, 256, generator=g) * 0.05
        sd["fc.bias"] = torch.zeros(16 * nf * sh * sw)
    else:
        sd["fc.weight"] = torch.randn(16 * nf, snc, 3, 3, generator=g) * 0.2
        sd["fc.bias"] = torch.randn(16 * nf, generator=g) * 0.1
    blocks = [("head_0", 16 * nf, 16 * nf), ("G_middle_0", 16 * nf, 16 * nf), ("G_middle_1", 16 * nf, 16 * nf),
              ("up_0", 16 * nf, 8 * nf), ("up_1", 8 * nf, 4 * nf), ("up_2", 4 * nf, 2 * nf), ("up_3", 2 * nf, nf)]
    if most:
        blocks.append(("up_4", nf, nf // 2))
    for name, fin, fout in blocks:
        fmid = min(fin, fout)
        _spectral_conv(sd, g, f"{name}.conv_0", fin, fmid, 3)
        _spectral_conv(sd, g, f"{name}.conv_1", fmid, fout, 3)
        if fin != fout:
            _spectral_conv(sd, g, f"{name}.conv_s", fin, fout, 1, bias=False)
        _spade(sd, g, f"{name}.norm_0", fin, snc)
        _spade(sd, g, f"{name}.norm_1", fmid, snc)
        if fin != fout:
            _spade(sd, g, f"{name}.norm_s", fin, snc)
    final = nf // 2 if most else nf
    sd["conv_img.weight"] = torch.randn(3, final, 3, 3, generator=g) * 0.2
    sd["conv_img.bias"] = torch.zeros(3)
    return {prefix + k: v for k, v in sd.items()}


def release_encoder_state_dict(ngf: int = NGF, crop_size: int = 256, seed: int = 1) -> dict[str, torch.Tensor]:
    """ConvEncoder of the release: spectral convs without bias ("spectralinstance"), fc_mu/fc_var to 256."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    chans = [3, ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf] + ([8 * ngf] if crop_size >= 256 else [])
    for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:]), start=1):
        _spectral_conv(sd, g, f"layer{i}.0", cin, cout, 3, bias=False)
    for fc in ("fc_mu", "fc_var"):
        sd[f"{fc}.weight"] = torch.randn(256, 8 * ngf * 16, generator=g) * 0.01
        sd[f"{fc}.bias"] = torch.zeros(256)
    return sd


def label_input(cfg, seed: int = 0) -> torch.Tensor:
    """A fixed blocky label map (with some don't care where the model has it) -> semantic input."""
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.output_size
    ids = torch.randint(0, cfg.label_nc, (1, 1, h // 32, w // 32), generator=g)
    ids = F.interpolate(ids.float(), size=(h, w)).long()[:, 0]
    if cfg.contain_dontcare_label:
        ids[:, :8] = 255
    inst = None
    if cfg.use_instance:
        inst = F.interpolate(torch.randint(0, 4, (1, 1, 4, 4), generator=g).float(), size=(h, w)).long()[:, 0]
    return semantic_input(ids, cfg, inst)


def synth(model) -> torch.Tensor:
    with torch.no_grad():
        return model.generator(label_input(model.cfg))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """dataset -> (release state dict, model folder, loaded model, one output)."""
    out = {}
    for ds in EXPECTED_SIZE:
        d = tmp_path_factory.mktemp(ds)
        sd = release_state_dict(ds)
        torch.save(sd, d / "latest_net_G.pth")
        folder = import_checkpoint(d / "latest_net_G.pth", ds, d / "model")
        model = load_model(folder)
        out[ds] = (sd, folder, model, synth(model))
    return out


# ---- import and inference -------------------------------------------------------------------
@pytest.mark.parametrize("dataset", list(EXPECTED_SIZE))
def test_import_writes_loadable_folder_with_inferred_config(imported, dataset):
    _, folder, model, _ = imported[dataset]
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "labels.json", "MODEL_CARD.md"}
    cfg = model.cfg
    ref = preset(dataset)
    assert (cfg.ngf, cfg.spade_hidden, cfg.spade_kernel) == (NGF, HIDDEN, 3)
    assert (cfg.label_nc, cfg.contain_dontcare_label, cfg.use_instance) == (
        ref.label_nc, ref.contain_dontcare_label, ref.use_instance)
    assert cfg.num_upsampling_layers == ref.num_upsampling_layers
    assert not cfg.use_vae and cfg.spectral_norm_G and cfg.param_free_norm == "syncbatch"
    assert len(model.palette) == cfg.label_nc


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZE))
def test_imported_generator_output_size(imported, dataset):
    out = imported[dataset][3]
    assert out.shape == (1, 3, *EXPECTED_SIZE[dataset])
    assert torch.isfinite(out).all() and out.abs().max() <= 1


def test_weights_are_copied_in_fp32(imported):
    sd, _, model, _ = imported["ade20k"]
    own = model.generator.state_dict()
    for key in ("fc.weight", "up_3.conv_s.weight_orig", "up_3.norm_1.param_free_norm.running_var"):
        assert own[key].dtype == torch.float32
        assert torch.equal(own[key], sd[key])


def test_imported_generator_is_deterministic(imported, tmp_path):
    sd, _, _, first = imported["ade20k"]
    torch.save(sd, tmp_path / "g.pth")
    again = load_model(import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m"))
    assert torch.equal(synth(again), first)


def test_spectral_norm_uses_stored_u_and_v(imported):
    sd, _, model, _ = imported["coco"]
    conv = model.generator.up_1.conv_0
    assert not conv.training
    w, u, v = sd["up_1.conv_0.weight_orig"], sd["up_1.conv_0.weight_u"], sd["up_1.conv_0.weight_v"]
    sigma = torch.dot(u, w.flatten(1) @ v)                      # u . (W v), no power iteration
    x = torch.randn(1, w.shape[1], 6, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = conv(x)
    want = F.conv2d(x, w / sigma, sd["up_1.conv_0.bias"], padding=1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert torch.equal(conv.weight_u, u) and torch.equal(conv.weight_v, v)  # eval never updates them


def test_batchnorm_running_stats_are_used(imported, tmp_path):
    sd, _, model, first = imported["ade20k"]
    bn = model.generator.head_0.norm_0.param_free_norm
    x = torch.randn(2, bn.num_features, 3, 3, generator=torch.Generator().manual_seed(4))
    mean = sd["head_0.norm_0.param_free_norm.running_mean"]
    var = sd["head_0.norm_0.param_free_norm.running_var"]
    with torch.no_grad():
        torch.testing.assert_close(bn(x), (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-5))

    changed = dict(sd)
    changed["up_2.norm_1.param_free_norm.running_mean"] = sd["up_2.norm_1.param_free_norm.running_mean"] + 1.0
    torch.save(changed, tmp_path / "g.pth")
    other = load_model(import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m"))
    assert not torch.allclose(synth(other), first)


# ---- checkpoint variants --------------------------------------------------------------------
def test_module_prefix_is_stripped(tmp_path):
    torch.save(release_state_dict("cityscapes", prefix="module."), tmp_path / "g.pth")
    state = read_checkpoint(tmp_path / "g.pth")
    assert "head_0.conv_0.weight_orig" in state and not any(k.startswith("module.") for k in state)
    model = load_model(import_checkpoint(tmp_path / "g.pth", "cityscapes", tmp_path / "m"))
    assert model.cfg.ngf == NGF


def test_up_4_means_most_upsampling(tmp_path):
    torch.save(release_state_dict("ade20k", ngf=4, most=True), tmp_path / "g.pth")
    cfg = load_model(import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m")).cfg
    assert cfg.num_upsampling_layers == "most" and cfg.ngf == 4


def test_vae_generator_imports_with_its_encoder(tmp_path):
    torch.save(release_state_dict("ade20k", vae=True), tmp_path / "g.pth")
    enc = release_encoder_state_dict()
    torch.save(enc, tmp_path / "e.pth")
    with pytest.raises(ValueError, match="--use_vae.*--encoder"):
        import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m")
    model = load_model(import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m", encoder_path=tmp_path / "e.pth"))
    assert model.cfg.use_vae and model.cfg.z_dim == 256 and model.cfg.ndf == NGF
    own = model.encoder.state_dict()
    assert torch.equal(own["layer3.0.weight_orig"], enc["layer3.0.weight_orig"])
    assert "layer3.0.bias" not in own  # no conv bias before instance norm, as in the release


# ---- errors -------------------------------------------------------------------------------
class NotATensor:
    pass


def test_checkpoint_needing_unpickling_is_refused(tmp_path):
    torch.save({"fc.weight": torch.zeros(1), "opt": NotATensor()}, tmp_path / "g.pth")
    with pytest.raises(ValueError, match="arbitrary unpickling"):
        import_checkpoint(tmp_path / "g.pth", "coco", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_non_tensor_entry_and_garbage_are_refused(tmp_path):
    torch.save({"fc.weight": torch.zeros(1), "epoch": 3}, tmp_path / "g.pth")
    with pytest.raises(ValueError, match="'epoch' holds a int"):
        read_checkpoint(tmp_path / "g.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(tmp_path / "junk.pth")


def test_missing_key_is_named(tmp_path):
    sd = release_state_dict("ade20k")
    del sd["up_1.norm_s.mlp_beta.bias"]
    torch.save(sd, tmp_path / "g.pth")
    with pytest.raises(ValueError, match=r"missing weight 'up_1\.norm_s\.mlp_beta\.bias'"):
        import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m")


def test_misshaped_key_is_named(tmp_path):
    sd = release_state_dict("ade20k")
    sd["up_2.conv_1.weight_v"] = torch.zeros(7)
    torch.save(sd, tmp_path / "g.pth")
    with pytest.raises(ValueError, match=r"'up_2\.conv_1\.weight_v' has shape \(7,\)"):
        import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m")


def test_wrong_dataset_is_explained(tmp_path):
    torch.save(release_state_dict("coco"), tmp_path / "g.pth")
    with pytest.raises(ValueError, match=r"ade20k models take 151 label channels .* take 184; "
                                         r"it looks like a coco checkpoint"):
        import_checkpoint(tmp_path / "g.pth", "ade20k", tmp_path / "m")


# ---- CLI and palettes -----------------------------------------------------------------------
def test_cli_import_nvlabs(tmp_path, capsys):
    torch.save(release_state_dict("cityscapes"), tmp_path / "g.pth")
    argv = ["import-nvlabs", str(tmp_path / "g.pth"), "--dataset", "cityscapes", "--out", str(tmp_path / "m")]
    assert cli.main(argv) == 0
    assert "ngf 8" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (cfg["dataset"], cfg["ngf"], cfg["crop_size"], cfg["aspect_ratio"]) == ("cityscapes", 8, 512, 2.0)
    assert cli.main(argv) == 2  # will not overwrite without --force
    assert "--force" in capsys.readouterr().err
    assert cli.main(argv + ["--force"]) == 0
    assert cli.main(argv[:3] + ["coco", "--out", str(tmp_path / "m2"), "--force"]) == 2
    assert "coco models take 184" in capsys.readouterr().err


def test_palettes_have_the_release_class_counts_and_names():
    coco, ade, city = load_palette("coco"), load_palette("ade20k"), load_palette("cityscapes")
    assert (len(coco), len(ade), len(city)) == (182, 150, 35)
    assert (coco.names[0], coco.names[156], coco.names[181]) == ("person", "sky-other", "wood")
    assert (ade.names[0], ade.names[2], ade.names[149]) == ("wall", "sky", "flag")
    assert city.names[7] == "road" and city.classes[7].color == (128, 64, 128)
    assert city.classes[26].color == (0, 0, 142)  # car
    # the landscape palette's COCO ids point at the same classes
    for name, coco_id in zip(LANDSCAPES.names, LANDSCAPE_COCO_IDS):
        assert coco.names[coco_id].split("-")[0] == name
