"""`spade import-nvlabs`: turn an official NVlabs/SPADE checkpoint into a model folder.

The release saves `latest_net_G.pth` as a plain state dict of tensors under the module
names fc, head_0, G_middle_0/1, up_0..up_3 (up_4 for 'most'), conv_img; our generator uses
the same names, so the import is a checked copy. What the weights do not say (class count,
don't care, instance channel, crop size, aspect ratio, upsampling mode) comes from the
dataset preset, exactly as the release takes it from the dataset's option defaults.

Reading uses `torch.load(weights_only=True)` only: a file that needs arbitrary unpickling
is refused, never executed.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import torch

from model.config import PRESETS, ModelConfig, preset
from model.encoder import ConvEncoder
from model.generator import SPADEGenerator
from model.io import WEIGHTS_FILE, load_state_into, save_model
from model.palettes import DATASETS, load_palette

Tensor = torch.Tensor

LICENSE_NOTE = ("The NVlabs/SPADE pretrained weights are released under CC BY-NC-SA 4.0 "
                "(non-commercial use, share alike): https://github.com/NVlabs/SPADE")


# ---- reading ---------------------------------------------------------------------------
def read_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """A .pth state dict of tensors, with any DataParallel "module." prefix removed."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only names the first Python object it would have had to import to build
        if "Unsupported global" in str(e) or "not an allowed global" in str(e):
            raise ValueError(
                f"{path}: refused: this checkpoint stores Python objects besides tensors, and loading it would "
                "need arbitrary unpickling, which can run code. Only plain state dicts of tensors are imported "
                "(the release's latest_net_G.pth is one).") from None
        detail = [ln.strip() for ln in str(e).splitlines() if "Unsupported" in ln or "error" in ln.lower()]
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({(detail or [str(e)])[-1]})") from None
    except (RuntimeError, KeyError, EOFError, OSError, ValueError, IndexError) as e:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), found a {type(obj).__name__}")
    state = {}
    for k, v in obj.items():
        if not isinstance(v, Tensor):
            raise ValueError(f"{path}: expected a state dict of tensors, but {k!r} holds a {type(v).__name__}")
        state[k[len("module."):] if k.startswith("module.") else k] = v
    return state


def _need(sd: dict[str, Tensor], key: str, what: str = "checkpoint") -> Tensor:
    if key not in sd:
        raise ValueError(f"{what}: missing weight {key!r}")
    return sd[key]


# ---- what the weights say --------------------------------------------------------------
def infer_config(sd: dict[str, Tensor], dataset: str) -> ModelConfig:
    """The ModelConfig of a release generator: shapes from the tensors, the rest from the preset."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {list(DATASETS)}")
    base = preset(dataset)

    # 1. Width and spectral norm from the head block: conv_0 is (16*ngf, 16*ngf, 3, 3).
    spectral = "head_0.conv_0.weight_orig" in sd
    if not spectral and "head_0.conv_0.weight_u" in sd:
        raise ValueError("checkpoint: missing weight 'head_0.conv_0.weight_orig'")
    head = _need(sd, "head_0.conv_0.weight_orig" if spectral else "head_0.conv_0.weight")
    if spectral and "head_0.conv_0.weight_v" not in sd and "head_0.conv_0.weight" in sd:
        raise ValueError("checkpoint: spectral norm without 'weight_v' was saved by PyTorch < 1.0; "
                         "load and re-save it with a current PyTorch first")
    if head.dim() != 4 or head.shape[0] % 16 or head.shape[0] != head.shape[1]:
        raise ValueError(f"checkpoint: weight 'head_0.conv_0' has shape {tuple(head.shape)}, "
                         "expected (16*ngf, 16*ngf, 3, 3)")
    ngf = head.shape[0] // 16

    # 2. SPADE's shared conv: (hidden, semantic_nc, k, k). Its input must be the preset's label channels.
    mlp = _need(sd, "head_0.norm_0.mlp_shared.0.weight")
    if mlp.dim() != 4:
        raise ValueError(f"checkpoint: weight 'head_0.norm_0.mlp_shared.0.weight' has shape {tuple(mlp.shape)}, "
                         "expected (hidden, semantic_nc, k, k)")
    hidden, snc, k = mlp.shape[0], mlp.shape[1], mlp.shape[2]
    if snc != base.semantic_nc:
        parts = [f"{base.label_nc} classes"]
        if base.contain_dontcare_label:
            parts.append("1 don't care")
        if base.use_instance:
            parts.append("1 instance-edge channel")
        fits = [n for n in DATASETS if PRESETS[n].semantic_nc == snc]
        hint = f"; it looks like a {' or '.join(fits)} checkpoint" if fits else ""
        raise ValueError(f"checkpoint does not fit --dataset {dataset}: {dataset} models take {base.semantic_nc} "
                         f"label channels ({' + '.join(parts)}), but this checkpoint's SPADE layers take {snc}{hint}")

    # 3. fc: Linear(z_dim -> 16*ngf*sh*sw) when trained with the VAE, else Conv2d(semantic_nc -> 16*ngf).
    fc = _need(sd, "fc.weight")
    use_vae = fc.dim() == 2
    z_dim = int(fc.shape[1]) if use_vae else base.z_dim

    # 4. Norm type and upsampling mode: BN keeps running stats, instance norm has none;
    #    up_4 only exists in 'most'. Everything else is the dataset's default.
    norm = "syncbatch" if "head_0.norm_0.param_free_norm.running_mean" in sd else "instance"
    ups = "most" if any(key.startswith("up_4.") for key in sd) else base.num_upsampling_layers
    return base.replace(name=f"nvlabs-{dataset}", ngf=ngf, spade_hidden=int(hidden), spade_kernel=int(k),
                        spectral_norm_G=spectral, use_vae=use_vae, z_dim=z_dim, param_free_norm=norm,
                        num_upsampling_layers=ups)


# ---- building the networks -------------------------------------------------------------
def build_generator(sd: dict[str, Tensor], cfg: ModelConfig) -> SPADEGenerator:
    """Our generator holding the release's weights; errors name the missing or mis-shaped key."""
    g = SPADEGenerator(cfg)
    load_state_into(g, sd, "checkpoint")
    return g.eval()


def build_encoder(sd: dict[str, Tensor], cfg: ModelConfig) -> tuple[ConvEncoder, int]:
    """Our ConvEncoder from a release latest_net_E.pth; returns it and its width (the release uses ngf)."""
    w = _need(sd, "layer1.0.weight_orig", "encoder checkpoint")
    ndf = int(w.shape[0])
    mu = _need(sd, "fc_mu.weight", "encoder checkpoint")
    if mu.shape[0] != cfg.z_dim:
        raise ValueError(f"encoder checkpoint: 'fc_mu.weight' gives z_dim {mu.shape[0]}, "
                         f"the generator's fc takes {cfg.z_dim}")
    e = ConvEncoder(ndf, cfg.z_dim)
    load_state_into(e, sd, "encoder checkpoint")
    return e.eval(), ndf


def _card(path: Path, dataset: str, cfg: ModelConfig, encoder_path: Path | None) -> str:
    h, w = cfg.output_size
    src = f"`{path.name}`" + (f" and `{encoder_path.name}`" if encoder_path else "")
    inputs = f"{cfg.label_nc} classes"
    if cfg.contain_dontcare_label:
        inputs += ", 255 = don't care"
    if cfg.use_instance:
        inputs += ", instance edges"
    if dataset == "ade20k":
        inputs += " (ids are ADE20K annotation values - 1; annotation 0, 'other', is 255)"
    return (f"# {cfg.name}\n\nImported from the NVlabs/SPADE release checkpoint {src} with "
            f"`spade import-nvlabs --dataset {dataset}`.\n\n"
            f"- output: {w}x{h} pixels, {inputs}\n"
            f"- ngf {cfg.ngf}, upsampling '{cfg.num_upsampling_layers}', "
            f"{'VAE style encoder' if cfg.use_vae else 'no style encoder'}\n\n"
            f"## License\n\n{LICENSE_NOTE}\n")


def import_checkpoint(path: str | Path, dataset: str, out_dir: str | Path,
                      encoder_path: str | Path | None = None) -> Path:
    """Convert a release generator (and, for VAE models, encoder) checkpoint into a model folder."""
    path = Path(path)
    # 1. read and infer the configuration
    sd = read_checkpoint(path)
    cfg = infer_config(sd, dataset)
    # 2. build the networks from the weights
    g = build_generator(sd, cfg)
    e = None
    if cfg.use_vae:
        if encoder_path is None:
            raise ValueError(f"{path.name} was trained with --use_vae; pass its latest_net_E.pth with --encoder "
                             "so the model can encode style images")
        e, ndf = build_encoder(read_checkpoint(encoder_path), cfg)
        cfg = cfg.replace(ndf=ndf)
    elif encoder_path is not None:
        raise ValueError(f"{path.name} was trained without --use_vae; it has no use for an encoder")
    # 3. write the folder, fp32 as released
    card = _card(path, dataset, cfg, Path(encoder_path) if encoder_path else None)
    return save_model(out_dir, cfg, g, e, load_palette(dataset), dtype=torch.float32, card=card)


# ---- CLI -------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="the release's latest_net_G.pth")
    parser.add_argument("--dataset", required=True, choices=DATASETS,
                        help="which release model this is (sets classes, don't care, instance map, output size)")
    parser.add_argument("--out", required=True, type=Path, help="model folder to write")
    parser.add_argument("--encoder", type=Path, default=None,
                        help="latest_net_E.pth, for generators trained with --use_vae")
    parser.add_argument("--force", action="store_true", help="overwrite an existing model folder")


def main(args: argparse.Namespace) -> int:
    if (args.out / WEIGHTS_FILE).exists() and not args.force:
        raise ValueError(f"{args.out} already holds a model; pass --force to overwrite it")
    folder = import_checkpoint(args.checkpoint, args.dataset, args.out, args.encoder)
    # Read the folder back as every consumer will, so a broken import fails here.
    from model.io import load_model
    m = load_model(folder)
    h, w = m.cfg.output_size
    print(f"wrote {folder}: {args.dataset}, ngf {m.cfg.ngf}, {m.cfg.label_nc} classes, {w}x{h} output")
    print(LICENSE_NOTE)
    return 0
