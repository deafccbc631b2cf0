"""Procedural scenes as a torch dataset: an endless (or fixed-length) stream of renders.

Every item is a pure function of (dataset seed, item index), so a stream can be split
between DataLoader workers and DDP ranks without two of them ever rendering the same
scene, and `get(index)` gives a fixed held-out set for evaluation.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from model.scenes.render import Style, render_scene, scene_seed


def to_tensors(image: np.ndarray, labels: np.ndarray) -> dict[str, torch.Tensor]:
    """uint8 (H, W, 3) image and (H, W) ids -> {"image": (3, H, W) float32 in [-1, 1], "label": (H, W) int64}."""
    img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
    return {"image": img, "label": torch.from_numpy(labels.astype(np.int64))}


class ScenesDataset(IterableDataset):
    """Renders of random landscapes: {"image": (3, H, W) float32 in [-1, 1], "label": (H, W) int64}.

    size: output width (height = size / aspect_ratio), or an explicit (height, width).
    length: None for an endless stream, else items 0..length-1 split over workers and ranks.
    rank / world_size: this process's DDP rank and the number of ranks.
    style: render every item in this Style (None: each item draws its own).
    """

    def __init__(self, size: int | tuple[int, int] = 256, seed: int = 0, length: int | None = None,
                 rank: int = 0, world_size: int = 1, style: Style | None = None, aspect_ratio: float = 1.0):
        super().__init__()
        if isinstance(size, (tuple, list)):
            self.height, self.width = int(size[0]), int(size[1])
        else:
            self.width = int(size)
            self.height = int(round(int(size) / float(aspect_ratio)))
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        if length is not None and length < 0:
            raise ValueError(f"length must be >= 0 or None, got {length}")
        self.seed, self.length = int(seed), length
        self.rank, self.world_size = int(rank), int(world_size)
        self.style = style

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("an endless ScenesDataset (length=None) has no len()")
        return self.length

    def get(self, index: int) -> dict[str, torch.Tensor]:
        """Item `index`, the same in every process (used for held-out evaluation sets)."""
        scene = render_scene(scene_seed(self.seed, index), self.height, self.width, self.style)
        return to_tensors(scene.image, scene.labels)

    def stream_indices(self, worker_id: int = 0, num_workers: int = 1) -> Iterator[int]:
        """The item indices one worker of one rank renders: every `total`-th, from its own offset."""
        total = self.world_size * num_workers
        i = self.rank * num_workers + worker_id
        while self.length is None or i < self.length:
            yield i
            i += total

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker_id, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        for i in self.stream_indices(worker_id, num_workers):
            yield self.get(i)
