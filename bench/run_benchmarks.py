"""Re-run the measurements that bench/README.md quotes, writing bench/results/*.json.

    .venv/bin/python bench/run_benchmarks.py            # all of them (about 15 minutes on 2 cores)
    .venv/bin/python bench/run_benchmarks.py coco       # only those whose name contains "coco"

Each entry is one `spade bench` command line; run them on an otherwise idle machine.
"""

from __future__ import annotations

import sys
import time

from model.cli import main

RUNS: dict[str, str] = {
    "coco-ngf64": "--preset coco --ngf 64 --batch 1 --precision fp32,auto --paths plain,fast,fast-dense",
    "coco-ngf64-1thread": "--preset coco --ngf 64 --batch 1 --precision fp32,auto --threads 1",
    "coco-ngf64-noise": "--preset coco --ngf 64 --batch 1 --precision fp32,auto --paths plain,fast,fast-dense "
                        "--labels noise --repeats 2",
    "landscapes-ngf32": "--preset landscapes --ngf 32 --spade-hidden 64 --batch 1,8 --precision fp32,auto "
                        "--paths plain,fast,fast-dense",
    "landscapes-ngf32-1thread": "--preset landscapes --ngf 32 --spade-hidden 64 --batch 1,8 --precision fp32,auto "
                                "--threads 1",
    "landscapes-preset": "--preset landscapes --batch 1,2,8 --precision fp32,auto",
    "landscapes-shipped": "--model weights/landscapes --batch 1,8 --repeats 5",
    "landscapes-preset-1worker": "--preset landscapes --batch 1,2,8 --precision fp32,auto --cpu-workers 1",
}


def run(name_filter: str = "") -> int:
    for name, args in RUNS.items():
        if name_filter not in name:
            continue
        t0 = time.perf_counter()
        print(f"=== {name}: spade bench {args}", flush=True)
        argv = ["bench", *args.split(), "--save", f"bench/results/{name}.json"]
        if "--repeats" not in args:
            argv += ["--repeats", "3"]
        rc = main(argv)
        print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else ""))
