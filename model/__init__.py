"""SPADE (GauGAN) semantic image synthesis: networks, data, training and inference."""

import os

# OpenMP threads that spin while waiting are very slow whenever another process holds a core
# (measured through the server with a training job on the other core: 2.3 s -> 0.11 s per
# 256x256 image). Must be set before torch loads its OpenMP runtime; an explicit value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from model.config import ModelConfig, PRESETS, preset  # noqa: E402

__all__ = ["ModelConfig", "PRESETS", "preset"]
