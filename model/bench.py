"""`spade bench`: time the plain and the fast inference paths (ms/image, images/s, GFLOP/s).

Timings are end to end through Engine.synthesize (checks, generator, uint8 conversion).
Configurations are timed interleaved, repeat by repeat, and the best repeat is reported,
so that ratios within one run stay meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as model.engine does; before torch allocates
# (OMP_WAIT_POLICY=PASSIVE is set by model/__init__.py for every entry point.)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from model.blocks import is_noise_weight  # noqa: E402
from model.config import PRESETS, ModelConfig, preset  # noqa: E402
from model.io import SpadeModel, build_networks, load_model  # noqa: E402
from model.labels import LANDSCAPES, Palette, generated_palette  # noqa: E402


# ---- random models and label maps ---------------------------------------------------------------

def scene_labels(cfg: ModelConfig, batch: int = 1, seed: int = 0, cells: int = 16,
                 size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scene-like (B, H, W) class ids + instance ids: jittered Voronoi regions with random classes."""
    rng = np.random.default_rng(seed)
    H, W = size or cfg.output_size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    labels, insts = [], []
    for _ in range(batch):
        py, px = rng.uniform(0, H, cells).astype(np.float32), rng.uniform(0, W, cells).astype(np.float32)
        scale = rng.uniform(0.6, 1.6, cells).astype(np.float32)  # uneven region sizes
        d = ((yy[None] - py[:, None, None]) ** 2 + (xx[None] - px[:, None, None]) ** 2) * scale[:, None, None]
        cell = d.argmin(0)                                            # (H, W)
        cls = rng.integers(0, cfg.label_nc, cells)
        labels.append(cls[cell])
        insts.append(cell)
    return np.stack(labels).astype(np.int64), np.stack(insts).astype(np.int64)


def bench_labels(cfg: ModelConfig, batch: int, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(labels, instances, description) for a benchmark.

    scene: for the landscape palette, the procedural layouts the model is trained on
    (model.scenes); otherwise jittered Voronoi regions. noise: an independent id per pixel.
    """
    if kind == "noise":
        return (*noise_labels(cfg, batch, seed), "noise (random id per pixel)")
    if cfg.dataset == "landscapes" and cfg.label_nc == len(LANDSCAPES):
        try:
            from model.scenes import render_layout
            h, w = cfg.output_size
            labels = np.stack([np.asarray(render_layout(seed + i, h, w), np.int64) for i in range(batch)])
            return labels, np.zeros_like(labels), "scene (procedural landscape layouts)"
        except ImportError:
            pass
    return (*scene_labels(cfg, batch, seed), "scene (16 Voronoi regions, instance per region)")


def region_stats(cfg: ModelConfig, labels: np.ndarray, inst: np.ndarray | None) -> dict[str, dict]:
    """Per resolution: share of pixels near a label boundary, and distinct neighbourhoods among them."""
    from model.engine import nearest_resize
    from model.fast import LabelKeys
    from model.inputs import check_label_ids, instance_edges
    ids = check_label_ids(torch.from_numpy(nearest_resize(labels[:1], cfg.output_size)), cfg)
    edges = instance_edges(torch.from_numpy(inst[:1]))[:, 0].bool() if inst is not None else None
    keys = LabelKeys(ids, edges, cfg.label_nc + int(cfg.contain_dontcare_label), cfg.use_instance,
                     torch.float32, region_max_fraction=1.0)
    h, w = cfg.output_size
    out = {}
    while h >= 8:
        reg = keys.regions((h, w), cfg.spade_kernel)
        if reg is not None:
            out[f"{h}x{w}"] = {"boundary": round(reg.P.numel() / (h * w), 3),
                               "distinct": round(reg.patch.shape[0] / (h * w), 3)}
        h, w = h // 2, w // 2
    return out


def noise_labels(cfg: ModelConfig, batch: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Worst case for nothing in particular: independent random ids per pixel."""
    rng = np.random.default_rng(seed)
    H, W = cfg.output_size
    return (rng.integers(0, cfg.label_nc, (batch, H, W)).astype(np.int64),
            rng.integers(0, 4, (batch, H, W)).astype(np.int64))


def default_palette(cfg: ModelConfig) -> Palette:
    if cfg.dataset == "landscapes" and cfg.label_nc == len(LANDSCAPES):
        return LANDSCAPES
    try:
        from model.palettes import DATASETS, load_palette
        if cfg.dataset in DATASETS:
            p = load_palette(cfg.dataset)
            if len(p) == cfg.label_nc:
                return p
    except ImportError:
        pass
    return generated_palette([f"class {i}" for i in range(cfg.label_nc)])


def random_model(cfg: ModelConfig, seed: int = 0, calibrate: bool = True) -> SpadeModel:
    """A model with random weights that exercises every fold of the fast path.

    Spectral-norm u, v come from a few power iterations (so sigma is not the converged one), and the
    batch-norm running statistics are those of a scene-like input (perturbed), so activations
    keep a sane scale; conv_img is rescaled so that tanh is not saturated everywhere.
    """
    torch.manual_seed(seed)
    g, e = build_networks(cfg)
    with torch.no_grad():
        for m in list(g.modules()) + (list(e.modules()) if e is not None else []):
            if hasattr(m, "weight_u"):
                # a few power iterations from a random start: close to, not at, the top singular pair
                w = m.weight_orig.flatten(1)
                v = F.normalize(torch.randn(w.shape[1]), dim=0)
                for _ in range(3):
                    u = F.normalize(w @ v, dim=0)
                    v = F.normalize(w.t() @ u, dim=0)
                m.weight_u.copy_(u)
                m.weight_v.copy_(v)
        for name, p in g.named_parameters():
            if is_noise_weight(name):  # trained ones are not zero
                p.normal_(0.0, 0.3)
        g.eval()
        if calibrate:
            from model.inputs import semantic_input
            labels, inst = scene_labels(cfg, batch=2, seed=seed)
            seg = semantic_input(torch.from_numpy(labels), cfg, torch.from_numpy(inst))
            z = torch.randn(2, cfg.z_dim) if cfg.use_vae else None
            bns = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            for m in bns:
                m.train()
                m.momentum = 1.0  # running stats := this batch's stats
            feats = []
            hook = g.conv_img.register_forward_hook(lambda mod, inp, out: feats.append(out))
            g(seg, z)
            hook.remove()
            for m in bns:
                m.eval()
                m.momentum = 0.1
                m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn_like(m.running_mean))
                m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
            std = float(feats[0].std())
            if std > 0:
                g.conv_img.weight.mul_(0.5 / std)
                g.conv_img.bias.mul_(0.5 / std)
    if e is not None:
        e.eval()
    return SpadeModel(cfg, g, e, default_palette(cfg))


# ---- measuring ---------------------------------------------------------------------------------------

def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def count_flops(engine, labels: np.ndarray, instances: np.ndarray | None) -> float:
    """FLOPs (2 x multiply-adds of convs and matmuls) of one forward pass, per image."""
    req = engine.check_request(labels[:1], None if instances is None else instances[:1], seed=0)
    z = engine.style_z(req)
    with FlopCounterMode(display=False) as fc:
        engine._run([req], [z])
    return float(fc.get_total_flops())


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_bench(model: SpadeModel, batches: list[int], precisions: list[str], paths: list[str],
              repeats: int = 3, device: str = "auto", label_kind: str = "scene", seed: int = 0,
              log=print, cpu_workers: int | None = None) -> dict:
    cfg = model.cfg
    labels, inst, label_kind = bench_labels(cfg, max(batches), seed, label_kind)
    inst = inst if cfg.use_instance else None
    from model.engine import Engine

    # Engines: the fast ones fold their own copies; each plain one gets its own copy of the model.
    engines = {}
    for path in paths:
        for prec in precisions:
            m = copy.deepcopy(model) if path == "plain" else model
            eng = Engine(m, device=device, precision=prec, fast=path != "plain", region_skip=path == "fast",
                         cpu_workers=cpu_workers)
            key = f"{path}-{str(eng.dtype).replace('torch.', '')}"
            if key not in engines:
                engines[key] = eng
            else:
                eng.close()  # same config as one already built (e.g. auto = fp32 on this CPU)
    reference = engines.get("plain-float32") or Engine(copy.deepcopy(model), device=device, precision="fp32",
                                                       fast=False)
    any_engine = next(iter(engines.values()))
    gflop = count_flops(reference, labels, inst) / 1e9
    fast_gflop = {k: count_flops(e, labels, inst) / 1e9 for k, e in engines.items() if k.startswith("fast")}
    regions = region_stats(cfg, labels, inst)
    log(f"model {cfg.name}: ngf {cfg.ngf}, spade_hidden {cfg.spade_hidden}, {cfg.semantic_nc} input channels, "
        f"{cfg.output_size[0]}x{cfg.output_size[1]}, {gflop:.1f} GFLOP/image (plain); device {any_engine.device}, "
        f"{torch.get_num_threads()} threads, {any_engine.cpu_workers} CPU batch workers; labels: {label_kind}")
    log("pixels near a boundary (distinct neighbourhoods): "
        + ", ".join(f"{k} {v['boundary']:.0%} ({v['distinct']:.0%})" for k, v in regions.items()))

    # PSNR of every configuration vs the plain fp32 output (same inputs, same z)
    b0 = min(batches)
    ref_img = reference.synthesize(labels[:b0], instances=None if inst is None else inst[:b0], seed=seed)
    quality = {k: psnr(e.synthesize(labels[:b0], instances=None if inst is None else inst[:b0], seed=seed), ref_img)
               for k, e in engines.items()}

    # Every (batch, config) is timed once per repeat, interleaved, so that load changes on a shared
    # machine hit all of them alike; the best repeat counts.
    def inputs(b):
        return labels[:b], None if inst is None else inst[:b]

    times: dict[tuple[int, str], list[float]] = {(b, k): [] for b in batches for k in engines}
    for b in batches:
        for eng in engines.values():
            eng.synthesize(inputs(b)[0], instances=inputs(b)[1], seed=seed)  # warm
    for _ in range(repeats):
        for b in batches:
            lab, ins = inputs(b)
            for k, eng in engines.items():
                times[(b, k)].append(_time(lambda: eng.synthesize(lab, instances=ins, seed=seed)))
    results = []
    for (b, k), ts in times.items():
        best = min(ts)
        results.append({"config": k, "batch": b, "ms_per_image": 1000 * best / b, "images_per_s": b / best,
                        "gflop_per_s": gflop * b / best, "times_s": ts, "psnr_vs_plain_fp32": quality[k]})
    base = {r["batch"]: r["ms_per_image"] for r in results if r["config"] == "plain-float32"}
    one = {r["config"]: r["ms_per_image"] for r in results if r["batch"] == b0}
    for r in results:
        if r["batch"] in base:
            r["speedup_vs_plain_fp32"] = base[r["batch"]] / r["ms_per_image"]
        r["throughput_vs_batch_%d" % b0] = one[r["config"]] / r["ms_per_image"]
    workers = any_engine.cpu_workers
    for eng in {id(e): e for e in [*engines.values(), reference]}.values():
        eng.close()  # their CPU worker threads
    return {
        "model": cfg.name, "config": cfg.to_dict(), "gflop_per_image": gflop,
        "fast_path_gflop_per_image": fast_gflop, "device": str(any_engine.device),
        "threads": torch.get_num_threads(), "cpu_workers": workers, "cpu": _cpu_name(), "torch": torch.__version__,
        "labels": label_kind, "region_stats": regions, "repeats": repeats, "results": results,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def format_table(report: dict) -> str:
    lines = [f"{'config':<22}{'batch':>6}{'ms/image':>11}{'images/s':>10}{'GFLOP/s':>9}"
             f"{'x plain32':>10}{'x batch1':>9}{'PSNR dB':>9}"]
    b0 = min(r["batch"] for r in report["results"])
    for r in sorted(report["results"], key=lambda r: (r["batch"], r["config"])):
        sp = r.get("speedup_vs_plain_fp32")
        lines.append(f"{r['config']:<22}{r['batch']:>6}{r['ms_per_image']:>11.1f}{r['images_per_s']:>10.2f}"
                     f"{r['gflop_per_s']:>9.0f}{(f'{sp:.2f}' if sp else '-'):>10}"
                     f"{r['throughput_vs_batch_%d' % b0]:>9.2f}{r['psnr_vs_plain_fp32']:>9.1f}")
    fg = ", ".join(f"{k} {v:.1f}" for k, v in report["fast_path_gflop_per_image"].items())
    lines.append(f"GFLOP/image: plain {report['gflop_per_image']:.1f}" + (f"; work done by {fg}" if fg else ""))
    return "\n".join(lines)


# ---- command line ------------------------------------------------------------------------------------

def _int_list(s: str) -> list[int]:
    try:
        out = [int(v) for v in s.split(",") if v.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from e
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive")
    return out


def _str_list(s: str) -> list[str]:
    return [v.strip() for v in s.split(",") if v.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="DIR", help="model folder to time")
    src.add_argument("--preset", choices=sorted(PRESETS), help="time a random model built from a preset")
    p.add_argument("--ngf", type=int, help="generator width of the random model (official size: 64)")
    p.add_argument("--spade-hidden", type=int, help="SPADE hidden channels of the random model")
    p.add_argument("--size", type=int, default=256, help="output width (crop_size) of a random model")
    p.add_argument("--batch", type=_int_list, default=[1, 8], help="batch sizes, comma-separated")
    p.add_argument("--precision", type=_str_list, default=["fp32", "auto"], help="precisions, comma-separated")
    p.add_argument("--paths", type=_str_list, default=["plain", "fast"],
                   help="plain, fast, fast-dense (the fast path without the uniform-region shortcut)")
    p.add_argument("--labels", choices=["scene", "noise"], default="scene",
                   help="scene: Voronoi regions with random classes; noise: a random id per pixel")
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (best is reported)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--cpu-workers", type=int, help="CPU: split batches over N single-threaded workers "
                                                     "(default: the thread count; 1: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--save", metavar="FILE.json", help="also write the JSON report here (e.g. bench/results/x.json)")


def main(args: argparse.Namespace) -> int:
    threads = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        return _main(args)
    finally:
        torch.set_num_threads(threads)


def _main(args: argparse.Namespace) -> int:
    for path in args.paths:
        if path not in ("plain", "fast", "fast-dense"):
            raise ValueError(f"--paths: unknown path {path!r} (plain, fast, fast-dense)")
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    if args.model:
        model = load_model(args.model)
        if args.size != 256 and args.size != model.cfg.crop_size:
            raise ValueError(f"--size {args.size}: the model's size is fixed ({model.cfg.crop_size})")
    else:
        over = {"crop_size": args.size}
        if args.ngf:
            over["ngf"] = args.ngf
        if args.spade_hidden:
            over["spade_hidden"] = args.spade_hidden
        model = random_model(preset(args.preset, **over), seed=args.seed)
    log = (lambda *a, **k: None) if args.json else print
    report = run_bench(model, args.batch, args.precision, args.paths, args.repeats, args.device,
                       args.labels, args.seed, log=log, cpu_workers=args.cpu_workers)
    report["command"] = "spade bench " + " ".join(_argv_of(args))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_table(report))
    if args.save:
        out = Path(args.save)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        log(f"wrote {out}")
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    out = []
    for k, v in vars(args).items():
        if k == "command" or v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        if v is True:
            out.append(flag)
        else:
            out.append(f"{flag} {','.join(map(str, v)) if isinstance(v, list) else v}")
    return out
