"""SPADE residual block: (SPADE -> LeakyReLU -> 3x3 conv) twice, plus a shortcut.

Optional (ours, not in the release): per-pixel noise added after each of the two convs,
scaled by a learned per-channel weight (StyleGAN's noise inputs). A generator without a
spatial noise source can only draw stochastic texture (a meadow's speckle of flowers) from
positional cues such as the zero padding, which comes out as a plaid of row and column
stripes. The weights start at zero, so a block with noise starts as the block without.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from model.spade import SPADE


NOISE_WEIGHTS = ("noise_0", "noise_1")


def is_noise_weight(name: str) -> bool:
    """Whether a parameter / state-dict name (e.g. "up_3.noise_0") is a block's noise weight."""
    return name.rsplit(".", 1)[-1] in NOISE_WEIGHTS


class SPADEResBlock(nn.Module):
    def __init__(self, fin: int, fout: int, label_nc: int, norm: str = "syncbatch",
                 spade_hidden: int = 128, spade_kernel: int = 3, spectral: bool = True,
                 noise: bool = False):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = nn.Conv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = nn.Conv2d(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, 1, bias=False)
        if spectral:
            # torch.nn.utils.spectral_norm keeps the release's key names (weight_orig/_u/_v)
            # and, in eval mode, uses the stored u and v without a fresh power iteration.
            self.conv_0 = spectral_norm(self.conv_0)
            self.conv_1 = spectral_norm(self.conv_1)
            if self.learned_shortcut:
                self.conv_s = spectral_norm(self.conv_s)
        spade = dict(norm=norm, hidden=spade_hidden, kernel_size=spade_kernel)
        self.norm_0 = SPADE(fin, label_nc, **spade)
        self.norm_1 = SPADE(fmiddle, label_nc, **spade)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc, **spade)
        self.noise = noise
        if noise:
            self.noise_0 = nn.Parameter(torch.zeros(1, fmiddle, 1, 1))
            self.noise_1 = nn.Parameter(torch.zeros(1, fout, 1, 1))

    def forward(self, x: torch.Tensor, seg: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, fin, h, w); seg: (B, semantic_nc, h, w); noise: (B, 1, h, w), used when the block has noise."""
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        if self.noise:
            dx = dx + self.noise_0 * noise
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        if self.noise:
            dx = dx + self.noise_1 * noise
        return x_s + dx
