"""Procedural landscapes in the LANDSCAPES palette: label maps, renders and datasets.

    scene = render_scene(seed, 256, 256)                 # image + labels + style
    labels = render_layout(seed, 256, 256)               # just the label map
    image = render_image(labels, seed, Style("golden", "autumn", "clear"))

The shipped landscapes model is trained on these, so they are built to be learnable
(each class looks like itself in every style), fast (numpy only, one core) and
deterministic by seed. `ScenesDataset` (torch) is imported on first use, so rendering
and `spade scenes` do not pay for importing torch.
"""

from model.scenes.layout import render_layout
from model.scenes.render import Scene, Style, render_image, render_scene

__all__ = ["Scene", "ScenesDataset", "Style", "render_image", "render_layout", "render_scene"]


def __getattr__(name: str):
    if name == "ScenesDataset":
        from model.scenes.dataset import ScenesDataset
        return ScenesDataset
    raise AttributeError(f"module 'model.scenes' has no attribute {name!r}")
