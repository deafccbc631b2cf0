"""Losses of the SPADE recipe: GAN (hinge / least squares / original), feature matching, KL, VGG;
plus our small-compute L1 reconstruction."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def gan_loss(preds: list[list[torch.Tensor]], target_is_real: bool, for_discriminator: bool,
             mode: str = "hinge") -> torch.Tensor:
    """Average over discriminator scales of the loss on each scale's last output."""
    total = 0.0
    for feats in preds:
        p = feats[-1]
        if mode == "hinge":
            if for_discriminator:
                # real: mean(relu(1 - D)); fake: mean(relu(1 + D))
                total = total + (F.relu(1 - p) if target_is_real else F.relu(1 + p)).mean()
            else:
                total = total - p.mean()  # generator: push D(fake) up
        elif mode == "ls":
            total = total + F.mse_loss(p, torch.full_like(p, 1.0 if target_is_real else 0.0))
        elif mode == "original":
            total = total + F.binary_cross_entropy_with_logits(
                p, torch.full_like(p, 1.0 if target_is_real else 0.0))
        else:
            raise ValueError(f"unknown GAN loss mode {mode!r}")
    return total / len(preds)


def pooled_l1_loss(fake: torch.Tensor, real: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """L1 between images average-pooled by `pool` (1: plain pixel L1). Pooled, it still asks for
    the target's colours and layout, but not for its fine texture: a pixel L1 pays for a blur
    over any texture that does not land exactly on the target's."""
    fake, real = fake.float(), real.float()
    if pool > 1:
        fake, real = F.avg_pool2d(fake, pool), F.avg_pool2d(real, pool)
    return F.l1_loss(fake, real)


def fine_texture(images: torch.Tensor, labels: torch.Tensor, margin: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The grey image minus its 5x5 mean (fine texture), zero except at pixels at least `margin`
    from a label boundary and the image border (edges between classes are not texture).

    images (B, 3, H, W), labels (B, H, W) -> texture (B, H, W) and its pixel count (B,)."""
    g = images.float().mean(1, keepdim=True)                                         # (B, 1, H, W)
    fine = g - F.avg_pool2d(F.pad(g, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    lab = labels.float()[:, None]
    k = 2 * margin + 1
    inside = F.max_pool2d(lab, k, 1, margin) == -F.max_pool2d(-lab, k, 1, margin)  # one class around
    inside[..., :margin, :] = inside[..., -margin:, :] = False
    inside[..., :margin] = inside[..., -margin:] = False
    return (fine * inside)[:, 0], inside.sum((1, 2, 3)).clamp(min=1)


def texture_power(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectrum (B, H, W) of fine_texture, scaled to sum to its squared sum (Parseval), and
    the texture's pixel count (B,)."""
    h, count = fine_texture(images, labels)
    spec = torch.fft.fft2(h)
    return (spec.real.square() + spec.imag.square()) / h[0].numel(), count


def stripe_energy(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Grid artefacts: fine-texture energy on row and column stripes inside class regions.

    images (B, 3, H, W) in any scale, labels (B, H, W) class ids -> (B,) in squared image units
    per pixel (grey levels^2 for 0-255 images); differentiable in images. The texture's power
    spectrum's energy on the lines kx = 0, +-1 or ky = 0, +-1 is what a plaid of row and column
    stripes puts there, while random texture (flower speckle, grass) spreads over all frequencies.
    """
    power, count = texture_power(images, labels)
    lines = [0, 1, -1]
    on_axes = (power[:, :, lines].sum((1, 2)) + power[:, lines, :].sum((1, 2))
               - power[:, lines][:, :, lines].sum((1, 2)))
    return on_axes / count


def texture_bands(images: torch.Tensor, labels: torch.Tensor, angles: int = 6,
                  radii: tuple[float, ...] = (0.05, 0.15, 0.3, 0.75)) -> torch.Tensor:
    """Fine-texture energy inside class regions by orientation and scale: (B, angles * (len(radii) - 1))
    in squared image units per pixel. Bands are `angles` equal sectors of orientation (0-180
    degrees) times rings of spatial frequency `radii` (cycles per pixel). Random texture spreads its
    energy over the bands like the real image's does; a hatch or a grid piles it into a few."""
    power, count = texture_power(images, labels)
    H, W = power.shape[1:]
    fy = torch.fft.fftfreq(H, device=power.device)[:, None].expand(H, W)
    fx = torch.fft.fftfreq(W, device=power.device)[None, :].expand(H, W)
    ring = torch.bucketize(torch.sqrt(fx.square() + fy.square()), torch.tensor(radii, device=power.device)) - 1
    sector = (torch.remainder(torch.atan2(fy, fx), torch.pi) / torch.pi * angles).long().clamp(max=angles - 1)
    inside = (ring >= 0) & (ring < len(radii) - 1)
    band = torch.where(inside, ring * angles + sector, 0).flatten()
    n_bands = angles * (len(radii) - 1)
    out = torch.zeros(power.shape[0], n_bands, device=power.device, dtype=power.dtype)
    out.index_add_(1, band[inside.flatten()], power.flatten(1)[:, inside.flatten()])
    return out / count[:, None]


def band_distance(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor, floor: float = 1.0) -> torch.Tensor:
    """Per image (B,), the mean |log ratio| of the generated and the real images' texture bands
    (`floor` added to both; images in grey levels): ~0.03 for a new draw of the same random
    texture; 1.3-1.5 for a hatch, a grid or no texture at all."""
    fb, rb = texture_bands(fake, labels), texture_bands(real, labels)
    return (torch.log(fb + floor) - torch.log(rb + floor)).abs().mean(1)


def band_loss(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """band_distance of images in [-1, 1], averaged: texture missing (soft pictures) and texture
    piled into a few orientations (hatching, grids) both cost; texture like the real one's does not."""
    scale = 127.5  # [-1, 1] -> grey levels
    return band_distance(fake * scale, real.detach() * scale, labels).mean()


def stripe_loss(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Stripe energy of the generated images (in [-1, 1]) beyond their real counterparts', in
    grey levels^2: a plaid the generator draws where the real image has random texture costs,
    texture as isotropic as the real one's does not."""
    scale = 127.5  # [-1, 1] -> grey levels
    excess = stripe_energy(fake * scale, labels) - stripe_energy(real * scale, labels).detach()
    return F.relu(excess).mean()


def feature_matching_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]],
                          weight: float = 10.0) -> torch.Tensor:
    """L1 between D's intermediate features on fake and real, all stages but the last."""
    num_d = len(fake)
    total = 0.0
    for f_feats, r_feats in zip(fake, real):
        for f, r in zip(f_feats[:-1], r_feats[:-1]):
            total = total + F.l1_loss(f, r.detach()) * weight / num_d
    return total


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor, weight: float = 0.05) -> torch.Tensor:
    """KL(N(mu, sigma) || N(0, 1)), summed as in the release, times its weight."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) * weight


# VGG19 "features" layer layout: numbers are conv widths, "M" is a 2x2 max-pool.
_VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
_SLICE_ENDS = [2, 7, 12, 21, 30]   # after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
_SLICE_WEIGHTS = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]


class VGGLoss(nn.Module):
    """Perceptual loss on VGG19 features, from a LOCAL weights file only (never downloaded).

    The file is a torchvision-style state dict (keys features.N.weight / features.N.bias),
    as .safetensors or a weights-only .pth.
    """

    def __init__(self, weights_path: str | Path):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG19:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers[: _SLICE_ENDS[-1]])
        state = _load_state(weights_path)
        state = {k: v for k, v in state.items() if k.startswith("features.")
                 and int(k.split(".")[1]) < _SLICE_ENDS[-1]}
        self.load_state_dict(state, strict=True)
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std  # [-1, 1] -> ImageNet normalisation
        out, start = [], 0
        for end in _SLICE_ENDS:
            x = self.features[start:end](x)
            out.append(x)
            start = end
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        loss = 0.0
        for w, f, r in zip(_SLICE_WEIGHTS, self._feats(fake), self._feats(real)):
            loss = loss + w * F.l1_loss(f, r.detach())
        return loss


def _load_state(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"VGG19 weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)
