"""SPADEGenerator: from a style code z (or the downsampled label map) to an image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.blocks import SPADEResBlock
from model.config import ModelConfig


class SPADEGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        nf, snc = cfg.ngf, cfg.semantic_nc
        self.sh, self.sw = cfg.latent_size
        if cfg.use_vae:
            # z (B, z_dim) -> (B, 16*nf*sh*sw), reshaped to the latent grid
            self.fc = nn.Linear(cfg.z_dim, 16 * nf * self.sh * self.sw)
        else:
            # label map downsampled to (sh, sw) -> (B, 16*nf, sh, sw)
            self.fc = nn.Conv2d(snc, 16 * nf, 3, padding=1)

        def block(fin: int, fout: int) -> SPADEResBlock:
            return SPADEResBlock(fin, fout, snc, norm=cfg.param_free_norm, spade_hidden=cfg.spade_hidden,
                                 spade_kernel=cfg.spade_kernel, spectral=cfg.spectral_norm_G,
                                 noise=cfg.noise_inject)

        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if cfg.num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    @staticmethod
    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None,
                generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """seg: (B, semantic_nc, H, W) one-hot label map; z: (B, z_dim) or None (sampled);
        noise: (B, 1, H, W) for a generator with noise_inject, or None (sampled)."""
        cfg = self.cfg
        b = seg.shape[0]
        if cfg.noise_inject and noise is None:
            noise = torch.randn(b, 1, *seg.shape[2:], generator=generator, device=seg.device, dtype=seg.dtype)
        if cfg.use_vae:
            if z is None:
                z = torch.randn(b, cfg.z_dim, generator=generator, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(b, 16 * cfg.ngf, self.sh, self.sw)    # (B, 16nf, sh, sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sh, self.sw)))  # (B, 16nf, sh, sw)

        # Every SPADE in a block runs at the block's resolution: resize the label map once per
        # resolution (nearest from full size, exactly what each SPADE would do) and share it.
        resized: dict[tuple[int, int], torch.Tensor] = {}

        def seg_for(t: torch.Tensor) -> torch.Tensor:
            size = tuple(t.shape[2:])
            if size not in resized:
                resized[size] = seg if size == tuple(seg.shape[2:]) else F.interpolate(seg, size=size, mode="nearest")
            return resized[size]

        def noise_for(t: torch.Tensor) -> torch.Tensor | None:
            # every resolution divides the output's by a power of two: take every f-th pixel (what
            # nearest downsampling does), so each block sees unit-variance, pixel-independent noise
            return None if noise is None else noise[:, :, ::noise.shape[2] // t.shape[2], ::noise.shape[3] // t.shape[3]]

        x = self.head_0(x, seg_for(x), noise_for(x))
        x = self.up(x)
        x = self.G_middle_0(x, seg_for(x), noise_for(x))
        if cfg.num_upsampling_layers in ("more", "most"):
            x = self.up(x)
        x = self.G_middle_1(x, seg_for(x), noise_for(x))
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if cfg.num_upsampling_layers == "most" else ()):
            x = self.up(x)
            x = getattr(self, name)(x, seg_for(x), noise_for(x))  # up_0: 8nf ... up_3: nf (up_4: nf/2) channels
        x = self.conv_img(F.leaky_relu(x, 0.2))
        return torch.tanh(x)                # (B, 3, H, W) in [-1, 1]
