"""Model folders: config.json + model.safetensors + labels.json (+ MODEL_CARD.md).

Weights are stored under the release's module names, prefixed `netG.` and `netE.`.
Loading never unpickles anything. (NVlabs .pth import lives in model/nvlabs.py.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from model.config import ModelConfig
from model.encoder import ConvEncoder
from model.generator import SPADEGenerator
from model.labels import Palette, generated_palette

CONFIG_FILE, WEIGHTS_FILE, LABELS_FILE = "config.json", "model.safetensors", "labels.json"


@dataclass
class SpadeModel:
    """A loaded model: networks in eval mode plus what describes them."""
    cfg: ModelConfig
    generator: SPADEGenerator
    encoder: ConvEncoder | None
    palette: Palette


def build_networks(cfg: ModelConfig) -> tuple[SPADEGenerator, ConvEncoder | None]:
    g = SPADEGenerator(cfg)
    e = ConvEncoder(cfg.ndf, cfg.z_dim) if cfg.use_vae else None
    return g, e


def _clean(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # num_batches_tracked is bookkeeping for training only.
    return {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}


def state_for_saving(generator: nn.Module, encoder: nn.Module | None,
                     dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    out = {f"netG.{k}": v for k, v in _clean(generator.state_dict()).items()}
    if encoder is not None:
        out.update({f"netE.{k}": v for k, v in _clean(encoder.state_dict()).items()})
    return {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
            for k, v in out.items()}


def set_default_mode(path: Path) -> None:
    """safetensors writes 0600 files; give weights the usual umask-based mode (a server running as
    another user, e.g. in the Docker image, must be able to read them)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def save_model(folder: str | Path, cfg: ModelConfig, generator: nn.Module, encoder: nn.Module | None,
               palette: Palette, dtype: torch.dtype = torch.float16, card: str | None = None) -> Path:
    """Write a model folder; each file is written to a temporary name then renamed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state_for_saving(generator, encoder, dtype), str(tmp), metadata={"format": "pt"})
    set_default_mode(tmp)
    tmp.replace(folder / WEIGHTS_FILE)
    cfg.save(folder / CONFIG_FILE)
    palette.save(folder / LABELS_FILE)
    if card is not None:
        (folder / "MODEL_CARD.md").write_text(card)
    return folder


def load_state_into(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Strict load with errors that name the key: missing, unexpected or mis-shaped."""
    own = _clean(module.state_dict())
    state = _clean(state)
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"{what}: missing weight {missing[0]!r}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
    extra = [k for k in state if k not in own]
    if extra:
        raise ValueError(f"{what}: unexpected weight {extra[0]!r}" + (f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""))
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ValueError(f"{what}: weight {k!r} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    with torch.no_grad():
        module.load_state_dict({k: t.to(own[k].dtype) for k, t in state.items()}, strict=False)


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> SpadeModel:
    """Load a model folder. Raises ValueError with a clear message for anything wrong."""
    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise ValueError(f"{folder}: {name} is missing; is this a model folder?")
    try:
        cfg = ModelConfig.load(folder / CONFIG_FILE)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{folder / CONFIG_FILE}: {e}") from e
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{folder / WEIGHTS_FILE} is not a readable safetensors file: {e}") from e
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{folder / WEIGHTS_FILE}: weight {bad[0]!r} contains NaN or Inf")
    g, e = build_networks(cfg)
    load_state_into(g, {k[5:]: v for k, v in state.items() if k.startswith("netG.")}, "generator")
    if e is not None:
        load_state_into(e, {k[5:]: v for k, v in state.items() if k.startswith("netE.")}, "encoder")
    elif any(k.startswith("netE.") for k in state):
        raise ValueError(f"{folder}: weights contain an encoder but config.json says use_vae=false")
    palette = (Palette.load(folder / LABELS_FILE) if (folder / LABELS_FILE).is_file()
               else generated_palette([f"class {i}" for i in range(cfg.label_nc)]))
    if len(palette) != cfg.label_nc:
        raise ValueError(f"{folder / LABELS_FILE} lists {len(palette)} classes, config.json says {cfg.label_nc}")
    g.to(device).eval()
    if e is not None:
        e.to(device).eval()
    return SpadeModel(cfg, g, e, palette)
