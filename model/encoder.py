"""Image encoder of the VAE: a style image -> (mu, logvar) of the style code z."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + eps * exp(0.5 * logvar): a sample that gradients flow through to mu and logvar."""
    std = torch.exp(0.5 * logvar)
    eps = torch.randn(std.shape, generator=generator, device=std.device, dtype=std.dtype)
    return mu + eps * std


def _down(cin: int, cout: int) -> nn.Sequential:
    # 3x3 stride-2 conv with spectral norm, then instance norm ("spectralinstance" in the release;
    # no conv bias, as there: instance norm would remove it anyway)
    return nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)),
                         nn.InstanceNorm2d(cout, affine=False))


class ConvEncoder(nn.Module):
    INPUT_SIZE = 256  # style images are resized to this before encoding

    def __init__(self, ndf: int = 64, z_dim: int = 256):
        super().__init__()
        self.layer1 = _down(3, ndf)             # 256 -> 128
        self.layer2 = _down(ndf, ndf * 2)       # -> 64
        self.layer3 = _down(ndf * 2, ndf * 4)   # -> 32
        self.layer4 = _down(ndf * 4, ndf * 8)   # -> 16
        self.layer5 = _down(ndf * 8, ndf * 8)   # -> 8
        # The input is always resized to 256, so six stride-2 layers always reach 4x4
        # (the release drops layer6 for crops < 256, which then cannot reach fc_mu's size).
        self.layer6 = _down(ndf * 8, ndf * 8)  # -> 4
        s0 = 4
        self.fc_mu = nn.Linear(ndf * 8 * s0 * s0, z_dim)
        self.fc_var = nn.Linear(ndf * 8 * s0 * s0, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, H, W) in [-1, 1] -> mu, logvar: (B, z_dim)."""
        if x.shape[2:] != (self.INPUT_SIZE, self.INPUT_SIZE):
            x = F.interpolate(x, size=(self.INPUT_SIZE, self.INPUT_SIZE), mode="bilinear")
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        x = self.layer1(x)
        x = self.layer2(act(x))
        x = self.layer3(act(x))
        x = self.layer4(act(x))
        x = self.layer5(act(x))
        x = self.layer6(act(x))
        x = act(x).flatten(1)                   # (B, 8ndf*4*4)
        return self.fc_mu(x), self.fc_var(x)
