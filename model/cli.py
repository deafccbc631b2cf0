"""The `spade` command: one entry point, one module per subcommand.

Each subcommand module provides `add_arguments(parser)` and `main(args) -> int`;
modules are imported only when their subcommand runs (or for --help), so
`spade synth` does not pay for the training stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Keep in the order a newcomer meets them.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("app.cli", "start the painting server (web page + REST /synthesize) with uvicorn"),
    "synth": ("model.synth_cli", "synthesize one image from a label-map PNG (and optional style image)"),
    "scenes": ("model.scenes.cli", "render a procedural landscape dataset (images/, labels/, labels.json)"),
    "train": ("model.train_cli", "train generator, encoder and discriminator (one CPU, or many GPUs with torchrun)"),
    "eval": ("model.evaluate", "measure a model: segmentation mIoU vs real renders, style fidelity, diversity, FID"),
    "bench": ("model.bench", "time the plain and the fast inference paths (ms/image, images/s, GFLOP/s)"),
    "import-nvlabs": ("model.nvlabs", "convert an official NVlabs/SPADE latest_net_G.pth into a model folder"),
}


def build_parser(load: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spade",
        description="SPADE / GauGAN semantic image synthesis: paint class maps, get photo-like pictures.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `spade <command> --help` for the options of one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if load is None or name in load:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Only import the module of the command being run; `spade --help` imports none.
    wanted = [a for a in argv if a in SUBCOMMANDS][:1]
    parser = build_parser(load=wanted)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except ValueError as e:  # input errors: one clear line, no traceback
        print(f"spade {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
