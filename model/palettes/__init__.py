"""Class names and colours of the datasets the NVlabs/SPADE release was trained on.

Each `<dataset>.json` is in labels.json format: a list of {id, name, color, group},
ids 0..N-1 in the order of the release's label channels.

- coco.json: the 182 COCO-Stuff classes (ids 0..181 of the stuffthingmaps PNGs, 11 of
  them unused by the annotations), coloured as the release colours COCO label maps
  (a Pascal-VOC style bit colour map of id+1, with its own colours for sea, sky-other,
  tree, clouds and grass); groups are the COCO / COCO-Stuff supercategories.
- ade20k.json: the 150 classes of the ADE20K scene-parsing benchmark in the benchmark's
  colours; id = annotation value - 1 (the release maps annotation 0, "other", to don't care).
- cityscapes.json: the 35 labelIds (0..33 plus license plate) in the official colours,
  grouped by the official categories. The official colours repeat for a few void classes,
  polegroup and license plate; those get nearby distinct colours, because a palette maps
  colours to ids one-to-one. Same for ADE20K's skyscraper, which shares road's colour.
"""

from __future__ import annotations

import json
from importlib import resources

from model.labels import Palette

DATASETS = ("coco", "ade20k", "cityscapes")


def load_palette(dataset: str) -> Palette:
    """The palette of one of the release's datasets."""
    if dataset not in DATASETS:
        raise ValueError(f"no palette for dataset {dataset!r}; choose from {list(DATASETS)}")
    text = resources.files(__package__).joinpath(f"{dataset}.json").read_text()
    return Palette.from_json(json.loads(text))
