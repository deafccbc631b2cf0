"""What the noise inputs cost at inference: one model folder with noise_inject, timed against the
same weights without the noise (noise weights dropped), interleaved in one run so the ratio holds
on a shared machine.

    .venv/bin/python bench/noise_cost.py --model weights/landscapes --repeats 20

Prints median ms per image for each and the ratio (fast path, auto precision, batch 1).
"""

import argparse
import statistics
import time

import numpy as np

from model.bench import scene_labels
from model.blocks import is_noise_weight
from model.engine import Engine
from model.io import SpadeModel, load_model


def without_noise(m: SpadeModel) -> SpadeModel:
    from model.generator import SPADEGenerator
    cfg = m.cfg.replace(noise_inject=False)
    g = SPADEGenerator(cfg)
    g.load_state_dict({k: v for k, v in m.generator.state_dict().items() if not is_noise_weight(k)})
    return SpadeModel(cfg, g.eval(), m.encoder, m.palette)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--repeats", type=int, default=20)
    a = p.parse_args()
    noisy = load_model(a.model)
    if not noisy.cfg.noise_inject:
        raise SystemExit(f"{a.model}: this model has no noise inputs")
    engines = {"with noise": Engine(noisy), "without": Engine(without_noise(load_model(a.model)))}
    labels = scene_labels(noisy.cfg, 1, seed=0)[0][0]
    times: dict[str, list[float]] = {k: [] for k in engines}
    for e in engines.values():
        e.synthesize(labels, seed=0)  # warm-up
    for i in range(a.repeats):
        for name, e in engines.items():
            t0 = time.perf_counter()
            e.synthesize(labels, seed=i)
            times[name].append(1000 * (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:>10}: {v:6.1f} ms/image (median of {a.repeats})")
    print(f"ratio with / without noise: {med['with noise'] / med['without']:.3f}")
    a_img = engines["with noise"].synthesize(labels, seed=1)
    b_img = engines["without"].synthesize(labels, seed=1)
    print(f"mean |difference| the noise makes: {np.abs(a_img.astype(int) - b_img.astype(int)).mean():.2f} / 255")


if __name__ == "__main__":
    main()
