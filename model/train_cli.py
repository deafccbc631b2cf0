"""`spade train`: options come from TrainConfig (a TOML/YAML file, then command-line overrides)."""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import re
from dataclasses import MISSING, fields
from pathlib import Path

from model.train import TrainConfig


def _field_help() -> dict[str, str]:
    """The comment after each TrainConfig field is its --help text (one source of truth)."""
    out = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=[^#]*#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _parse_value(text: str):
    """Command-line values: JSON/Python literals where they parse (numbers, true/false, dicts), else strings."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Train a SPADE model. Defaults give the paper's recipe on the procedural landscape scenes; "
                     "for several GPUs run the same command under `torchrun --nproc_per_node=N -m model.cli train ...`.")
    p.add_argument("--config", type=Path, help="TOML or YAML file whose keys are the options below")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt: weights, optimisers, EMA, RNG and data position")
    p.add_argument("--init-from", type=Path, metavar="MODEL_DIR",
                   help="start G and E from an exported model folder (fresh optimisers and discriminator)")
    p.add_argument("--export-only", action="store_true", help="do not train: export OUT/checkpoint.pt to --export-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to OUT/log.jsonl)")
    helps = _field_help()
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=_parse_value, default=argparse.SUPPRESS,
                       metavar=type(default).__name__.upper() if default is not None else "VALUE",
                       help=f"{helps.get(f.name, '')} (default: {default!r})")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    data = {}
    if args.config:
        data.update(TrainConfig.from_file(args.config).__dict__)
    for f in fields(TrainConfig):
        if hasattr(args, f.name):  # given on the command line (None included: `--export-dir none`)
            data[f.name] = getattr(args, f.name)
    return TrainConfig.from_dict(data)


def main(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from model.train import Trainer

    tc = config_from_args(args)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        import torch
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend)
    try:
        trainer = Trainer(tc)
        if args.resume or args.export_only:
            if not trainer.ckpt_path.is_file():
                raise ValueError(f"no checkpoint to resume from at {trainer.ckpt_path}")
            trainer.load_checkpoint()
            if trainer.is_main:
                print(f"resumed from {trainer.ckpt_path} at step {trainer.step}")
        elif args.init_from:
            trainer.init_from_model_folder(args.init_from)
        if args.export_only:
            if not tc.export_dir:
                raise ValueError("--export-only needs --export-dir")
            print(f"exported to {trainer.export(tc.export_dir)}")
            return 0
        trainer.fit(progress=not args.no_progress)
        if trainer.is_main:
            print(f"done at step {trainer.step}; checkpoint {trainer.ckpt_path}"
                  + (f"; model folder {tc.export_dir}" if tc.export_dir else ""))
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
