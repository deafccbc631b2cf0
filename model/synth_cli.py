"""`spade synth`: one image from a label-map PNG (and an optional style image)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="model folder (config.json + model.safetensors)")
    p.add_argument("--labels", required=True, metavar="LABELS.png",
                   help="class ids in an 8/16-bit grey PNG (255 = don't care), or palette colours in an RGB PNG")
    p.add_argument("--instances", metavar="INST.png", help="instance ids (grey PNG) for the edge channel")
    p.add_argument("--style", metavar="STYLE.jpg", help="style image (models with an encoder only)")
    p.add_argument("--seed", type=int, help="seed for sampling z (reproducible output)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--plain", action="store_true", help="use the plain network instead of the fused fast path")
    p.add_argument("--out", required=True, metavar="OUT.png", help="output image (.png, .jpg or .webp)")


def main(args: argparse.Namespace) -> int:
    from model.engine import Engine
    from model.imageio import read_image, read_instance_png, read_label_png, write_image

    # 1. load the model and read the inputs (all checks raise ValueError: one line, exit 2)
    if args.seed is not None and args.seed < 0:
        raise ValueError("--seed must be a non-negative integer")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise ValueError(f"--out {out}: use a .png, .jpg or .webp file name")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist")
    engine = Engine.from_folder(args.model, device=args.device, precision=args.precision, fast=not args.plain)
    if args.style is not None and not engine.supports_style:
        raise ValueError(f"--style: model {engine.cfg.name!r} has no style encoder (use_vae is off)")
    labels = read_label_png(args.labels, engine.palette, allow_dontcare=engine.cfg.contain_dontcare_label)
    instances = None
    if args.instances is not None:
        instances = read_instance_png(args.instances)
        if instances.shape != labels.shape:
            raise ValueError(f"--instances is {instances.shape[1]}x{instances.shape[0]}, "
                             f"--labels is {labels.shape[1]}x{labels.shape[0]}")
    style = read_image(args.style, what="style") if args.style is not None else None

    # 2. synthesize
    t0 = time.perf_counter()
    image = engine.synthesize(labels, instances=instances, style=style, seed=args.seed)
    dt = time.perf_counter() - t0

    # 3. write
    write_image(out, image)
    h, w = image.shape[:2]
    dtype = str(engine.dtype).replace("torch.", "")
    print(f"wrote {out} ({w}x{h}) in {dt * 1000:.0f} ms on {engine.device} ({dtype}; "
          "a first call includes one-time setup)")
    return 0
