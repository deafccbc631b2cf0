"""Time the procedural scene renderer on one core: layout + render per scene.

    .venv/bin/python bench/scenes_speed.py --size 256 --n 50

Reports CPU time (robust on a shared machine) and wall time per scene.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from model.scenes import render_image, render_layout  # noqa: E402
from model.scenes.render import Style  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--n", type=int, default=50)
    a = p.parse_args()
    render_image(render_layout(0, a.size, a.size), 0, Style.all_presets()[0])  # warm caches
    c0, w0 = time.process_time(), time.perf_counter()
    for seed in range(1, a.n + 1):
        render_image(render_layout(seed, a.size, a.size), seed, Style.all_presets()[seed % 9])
    c1, w1 = time.process_time(), time.perf_counter()
    print(f"{a.size}x{a.size}: {1000 * (c1 - c0) / a.n:.1f} ms CPU, {1000 * (w1 - w0) / a.n:.1f} ms wall per scene ({a.n} scenes)")


if __name__ == "__main__":
    main()
