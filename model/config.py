"""One typed configuration for a SPADE model, plus named presets.

The fields mirror the options of the NVlabs/SPADE release that change the network's
shape, so a model folder's config.json fully describes how to rebuild it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

UpsamplingMode = Literal["normal", "more", "most"]
ParamFreeNorm = Literal["batch", "syncbatch", "instance"]

# How many 2x nearest upsamplings each mode uses between the latent grid and the output.
NUM_UPSAMPLINGS: dict[str, int] = {"normal": 5, "more": 6, "most": 7}


@dataclass
class ModelConfig:
    name: str = "spade"                     # human-readable model name, shown by the server
    label_nc: int = 182                     # number of semantic classes (ids 0..label_nc-1)
    contain_dontcare_label: bool = True     # one extra channel for "don't care" (id 255 in label PNGs)
    use_instance: bool = True               # one extra channel with instance edges
    ngf: int = 64                           # generator width; the head runs at 16*ngf channels
    ndf: int = 64                           # discriminator / encoder width
    z_dim: int = 256                        # style code size (encoder output, generator input)
    crop_size: int = 256                    # output width in pixels
    aspect_ratio: float = 1.0               # width / height of the output
    num_upsampling_layers: UpsamplingMode = "normal"  # 5 / 6 / 7 upsamplings
    param_free_norm: ParamFreeNorm = "syncbatch"      # SPADE's parameter-free norm (release: sync batch)
    spade_hidden: int = 128                 # hidden channels of SPADE's shared conv (paper: 128)
    spade_kernel: int = 3                   # kernel size of the SPADE convs (paper: 3)
    spectral_norm_G: bool = True            # spectral norm on the generator's residual-block convs
    use_vae: bool = False                   # True: generator starts from z (style encoder); False: from the downsampled label map
    noise_inject: bool = False              # ours: learned per-pixel noise after each residual conv (model/blocks.py)
    num_D: int = 2                          # discriminator scales
    n_layers_D: int = 4                     # layers per PatchGAN discriminator
    dataset: str = "custom"                 # which palette / dataset conventions apply

    # ---- derived sizes -------------------------------------------------------------
    @property
    def semantic_nc(self) -> int:
        """Channels of the one-hot label map the SPADE layers see."""
        return self.label_nc + int(self.contain_dontcare_label) + int(self.use_instance)

    @property
    def dontcare_id(self) -> int | None:
        """Channel index of the don't-care class, or None when the model has none."""
        return self.label_nc if self.contain_dontcare_label else None

    @property
    def num_upsamplings(self) -> int:
        return NUM_UPSAMPLINGS[self.num_upsampling_layers]

    @property
    def latent_size(self) -> tuple[int, int]:
        """(sh, sw): the grid the generator starts from, as the release computes it."""
        sw = self.crop_size // (2 ** self.num_upsamplings)
        sh = round(sw / self.aspect_ratio)
        return sh, sw

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the image the generator makes."""
        sh, sw = self.latent_size
        f = 2 ** self.num_upsamplings
        return sh * f, sw * f

    # ---- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def replace(self, **changes) -> "ModelConfig":
        cfg = dataclasses.replace(self, **changes)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.num_upsampling_layers not in NUM_UPSAMPLINGS:
            raise ValueError(f"num_upsampling_layers must be one of {list(NUM_UPSAMPLINGS)}")
        if self.param_free_norm not in ("batch", "syncbatch", "instance"):
            raise ValueError("param_free_norm must be batch, syncbatch or instance")
        if self.label_nc < 1 or self.ngf < 1 or self.z_dim < 1:
            raise ValueError("label_nc, ngf and z_dim must be positive")
        sh, sw = self.latent_size
        if sh < 1 or sw < 1:
            raise ValueError(f"crop_size {self.crop_size} is too small for {self.num_upsamplings} upsamplings")


# Named presets. coco / ade20k / cityscapes follow the release's dataset defaults;
# landscapes is our own small CPU-friendly model trained on the procedural scenes.
PRESETS: dict[str, ModelConfig] = {
    "coco": ModelConfig(name="coco", label_nc=182, contain_dontcare_label=True, use_instance=True,
                        crop_size=256, num_upsampling_layers="normal", dataset="coco"),
    "ade20k": ModelConfig(name="ade20k", label_nc=150, contain_dontcare_label=True, use_instance=False,
                          crop_size=256, num_upsampling_layers="normal", dataset="ade20k"),
    "cityscapes": ModelConfig(name="cityscapes", label_nc=35, contain_dontcare_label=False, use_instance=True,
                              crop_size=512, aspect_ratio=2.0, num_upsampling_layers="more",
                              dataset="cityscapes"),
    "landscapes": ModelConfig(name="landscapes", label_nc=16, contain_dontcare_label=False, use_instance=False,
                              ngf=16, ndf=32, spade_hidden=32, crop_size=256, num_upsampling_layers="normal",
                              param_free_norm="syncbatch", use_vae=True, noise_inject=True,
                              dataset="landscapes"),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A copy of a named preset with optional field overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)
