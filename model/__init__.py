"""SPADE (GauGAN) semantic image synthesis: networks, data, training and inference."""

from model.config import ModelConfig, PRESETS, preset

__all__ = ["ModelConfig", "PRESETS", "preset"]
