"""Inference Engine: device + precision + fast path + style-code cache.

The server, `spade synth` and `spade bench` all go through `Engine`. A call reads top to
bottom: 1. check inputs (on the CPU, before any device work; ValueError names the problem)
-> 2. encode style (image -> cached (mu, logvar) -> z) -> 3. generate -> 4. post-process.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Large CPU tensors on transparent huge pages: fresh activations cost ~3x less in page faults
# (bench/README.md). torch reads this at its first large allocation, so it is set before any
# model is loaded; THP_MEM_ALLOC_ENABLE=0 in the environment opts out.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from model.config import ModelConfig  # noqa: E402
from model.fast import FastGenerator  # noqa: E402
from model.inputs import instance_edges, semantic_input  # noqa: E402
from model.io import SpadeModel, load_model  # noqa: E402
from model.labels import DONTCARE, Palette  # noqa: E402

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
FIRST_CONV = ("auto", "gather", "conv")
# The noise map's random stream differs from z's (both are drawn from the request's seed)
NOISE_SEED_SALT = 0x5EED_0F_0015E


# ---- CPU batch workers ------------------------------------------------------------------------

def single_thread_pool(n: int) -> ThreadPoolExecutor:
    """n started worker threads that each run torch ops with ONE intra-op thread.

    Why: on CPUs a 256x256 generator pass is a chain of many small ops, so a second intra-op
    thread buys little at batch 1 (bench/README.md), while two single-threaded passes over two
    halves of a batch keep both cores busy. torch.set_num_threads sets the calling thread's
    OpenMP team size and also the default for threads that start later, so the workers set 1
    and the caller's own value is put back once all of them have started.
    """
    caller = torch.get_num_threads()
    started = threading.Barrier(n + 1)
    pool = ThreadPoolExecutor(n, thread_name_prefix="spade-cpu")

    def init() -> None:
        torch.get_num_threads()  # torch's once-per-thread init first, or it would later reset the count
        torch.set_num_threads(1)
        started.wait()  # hold every worker until all n exist, so each submit starts its own thread

    for _ in range(n):
        pool.submit(init)
    started.wait()
    torch.set_num_threads(caller)
    return pool


def split_sizes(batch: int, parts: int) -> list[int]:
    """batch items in min(parts, batch) near-equal contiguous chunks, largest first."""
    n = max(1, min(parts, batch))
    return [batch // n + (i < batch % n) for i in range(n)]


# ---- device and precision --------------------------------------------------------------------

def pick_device(device: str = "auto") -> torch.device:
    """CUDA if present, else MPS, else CPU; anything else is an explicit choice."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return dev


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX (Linux /proc/cpuinfo flags, or torch's own capability probe)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
        if " avx512_bf16" in flags or " amx_bf16" in flags:
            return True
    except OSError:
        pass
    try:
        return "AMX" in torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return False


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """auto: bf16 (or fp16) on CUDA, bf16 on CPUs with bf16 units, else fp32."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {precision!r}")
    return PRECISIONS[precision]


def nearest_resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., H, W) -> (..., h, w) by nearest neighbour, with PyTorch's index rule."""
    H, W = a.shape[-2:]
    h, w = size
    if (H, W) == (h, w):
        return a
    ri = np.minimum(np.floor(np.arange(h, dtype=np.float32) * np.float32(H / h)).astype(np.int64), H - 1)
    ci = np.minimum(np.floor(np.arange(w, dtype=np.float32) * np.float32(W / w)).astype(np.int64), W - 1)
    return a[..., ri[:, None], ci[None, :]]


@dataclass
class Request:
    """One checked request, still on the CPU: what step 2 (style) and step 3 (generate) need."""
    ids: torch.Tensor                # (B, H, W) long at the output size, don't care mapped to its channel
    edges: torch.Tensor | None       # (B, H, W) bool instance edges, or None (all zeros)
    batched: bool                    # whether the caller passed (B, H, W)
    style: object = None             # (H, W, 3) uint8 image, (z_dim,) mu, or None
    z: torch.Tensor | None = None    # explicit (B, z_dim) code
    seed: int | None = None
    mix_style: object = None
    mix: float = 0.0

    @property
    def batch(self) -> int:
        return self.ids.shape[0]


class Engine:
    """A loaded model ready for inference.

    cfg, palette, device, dtype, supports_style (the model has a style encoder), output_size (H, W).
    check_labels(ids) / check_request(**kw): step 1 alone (the server checks before queueing).
    style_code(image) -> (mu, logvar), LRU-cached by image content.
    synthesize(labels, ...) -> uint8 image(s); synthesize_batch([kw, ...]) -> one generator call.
    warmup(): a first forward pass (compiles under compile=True).
    """

    def __init__(self, model: SpadeModel, device: str = "auto", precision: str = "auto", fast: bool = True,
                 compile: bool = False, style_cache_size: int = 128, first_conv: str = "auto",
                 region_skip: bool = True, cpu_workers: int | None = None):
        """Takes ownership of `model`: its networks are moved to the device (and, for the plain
        path, cast to the precision) in place. first_conv and region_skip tune the fast path
        (model/fast.py); the defaults are what bench/README.md measured fastest.

        cpu_workers: on the CPU, a batch of two or more images is split over this many worker
        threads with one intra-op thread each (default: torch's thread count; 1 turns it off).
        Batch 1 keeps all intra-op threads.
        """
        if first_conv not in FIRST_CONV:
            raise ValueError(f"first_conv must be one of {FIRST_CONV}")
        if cpu_workers is not None and cpu_workers < 1:
            raise ValueError(f"cpu_workers must be at least 1, got {cpu_workers}")
        self.cfg: ModelConfig = model.cfg
        self.palette: Palette = model.palette
        self.device = pick_device(device)
        self.dtype = pick_dtype(precision, self.device)
        self.fast = fast
        self.supports_style = bool(self.cfg.use_vae and model.encoder is not None)
        self.output_size: tuple[int, int] = self.cfg.output_size
        self.encoder = model.encoder.to(self.device).eval() if model.encoder is not None else None
        if fast:
            # The first conv over the one-hot map: lookups on CPUs (measured: bench/README.md);
            # elsewhere whichever warmup() measures faster.
            self.first_conv = first_conv if first_conv != "auto" else "gather"
            self._measure_first_conv = first_conv == "auto" and self.device.type != "cpu"
            # Under compile the uniform-region shortcut is off: its pixel lists change size with every
            # label map, and each new size recompiled (25-45 s per map on this CPU). Dense, the shapes
            # are fixed and one graph serves every map.
            self.generator = FastGenerator(model.generator.eval(), self.dtype, self.first_conv,
                                           region_skip=region_skip and not compile).to(self.device)
        else:
            self.first_conv = "conv"
            self._measure_first_conv = False
            self.generator = model.generator.to(self.device, self.dtype).eval()
        self._forward = self._generate
        if compile:
            # For GPUs. On this 2-core CPU the compiled dense path measured 120-131 ms against 89-92 ms
            # for the eager fast path with the region shortcut (shipped model, one thread).
            self._forward = torch.compile(self._generate, dynamic=False)
        self._style_cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._style_cache_size = style_cache_size
        self._lock = threading.Lock()
        # Batch splitting over CPU workers: not with torch.compile (one compiled graph, one caller)
        workers = 1 if self.device.type != "cpu" or compile else (cpu_workers or torch.get_num_threads())
        self.cpu_workers = workers
        self._pool = single_thread_pool(workers) if workers > 1 else None

    def close(self) -> None:
        """Stop the CPU batch workers (the engine still runs, single-threaded per call, afterwards)."""
        pool, self._pool, self.cpu_workers = self._pool, None, 1
        if pool is not None:
            pool.shutdown(wait=True)

    @classmethod
    def from_folder(cls, folder: str | Path, **kw) -> "Engine":
        return cls(load_model(folder, device="cpu"), **kw)

    def __repr__(self) -> str:
        return (f"Engine({self.cfg.name!r}, device={self.device}, dtype={self.dtype}, fast={self.fast}, "
                f"first_conv={self.first_conv!r}, cpu_workers={self.cpu_workers})")

    # ---- 1. input checks -------------------------------------------------------------------------

    def check_labels(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) or (B, H, W) integer ids -> the same rank, int64, at the model's output size.

        255 becomes the don't-care id (label_nc) on models that have it. Raises ValueError
        naming ids that are not classes of this model. Idempotent.
        """
        a = np.asarray(labels)
        if a.ndim not in (2, 3) or a.size == 0:
            raise ValueError(f"labels must be an (H, W) or (B, H, W) array of class ids, got shape {a.shape}")
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"labels must hold integer class ids, got dtype {a.dtype}")
        a = a.astype(np.int64)
        cfg = self.cfg
        if cfg.contain_dontcare_label:
            a = np.where(a == DONTCARE, cfg.label_nc, a)
            valid = (a >= 0) & (a <= cfg.label_nc)
        else:
            valid = (a >= 0) & (a < cfg.label_nc)
        if not valid.all():
            bad = np.unique(a[~valid])
            listed = ", ".join(str(v) for v in bad[:8]) + (f" (+{len(bad) - 8} more)" if len(bad) > 8 else "")
            allowed = f"0..{cfg.label_nc - 1}" + (" or 255 (don't care)" if cfg.contain_dontcare_label else "")
            raise ValueError(f"label ids {listed} are not classes of this model (allowed: {allowed})")
        return nearest_resize(a, self.output_size)

    def check_request(self, labels, instances=None, style=None, z=None, seed=None, mix_style=None,
                      mix: float = 0.0) -> Request:
        """Every input check of one synthesize() request, on the CPU. Raises ValueError."""
        ids = self.check_labels(labels)
        batched = ids.ndim == 3
        ids3 = ids if batched else ids[None]
        b = ids3.shape[0]
        edges = None
        if instances is not None:
            inst = np.asarray(instances)
            if inst.shape != np.shape(labels):
                raise ValueError(f"instances must have the shape of labels {np.shape(labels)}, got {inst.shape}")
            if inst.dtype == np.bool_ or not np.issubdtype(inst.dtype, np.integer):
                raise ValueError(f"instances must hold integer instance ids, got dtype {inst.dtype}")
            if self.cfg.use_instance:
                inst = nearest_resize(inst.astype(np.int64), self.output_size)
                edges = instance_edges(torch.from_numpy(inst if batched else inst[None]))[:, 0].bool()  # (B, H, W)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63 - 1:
                raise ValueError(f"seed must be an integer from 0 to 2**63 - 2, got {seed!r}")
            seed = int(seed)
        try:
            mix = float(mix)
        except (TypeError, ValueError) as e:
            raise ValueError(f"mix must be a number in [0, 1], got {mix!r}") from e
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"mix must be in [0, 1], got {mix}")
        if not self.supports_style:
            for name, given in (("style", style is not None), ("mix_style", mix_style is not None),
                                ("z", z is not None), ("mix", mix > 0)):
                if given:
                    raise ValueError(f"{name}: this model has no style encoder (use_vae is off), so it takes no style")
        if z is not None and style is not None:
            raise ValueError("give a style or an explicit z, not both")
        for name, s in (("style", style), ("mix_style", mix_style)):
            self._check_style(name, s)
        if z is not None:
            z = torch.as_tensor(z, dtype=torch.float32).cpu()
            if z.ndim == 1:
                z = z.expand(b, -1)
            if tuple(z.shape) != (b, self.cfg.z_dim):
                raise ValueError(f"z must have shape ({b}, {self.cfg.z_dim}), got {tuple(z.shape)}")
            if not torch.isfinite(z).all():
                raise ValueError("z contains NaN or Inf")
        return Request(torch.from_numpy(ids3), edges, batched, style, z, seed, mix_style, mix)

    def _check_style(self, name: str, s) -> None:
        if s is None:
            return
        if isinstance(s, torch.Tensor):
            if s.shape != (self.cfg.z_dim,):
                raise ValueError(f"{name}: a style code must have shape ({self.cfg.z_dim},), got {tuple(s.shape)}")
            if not torch.isfinite(s).all():
                raise ValueError(f"{name}: the style code contains NaN or Inf")
            return
        a = np.asarray(s)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or min(a.shape[:2]) < 1:
            raise ValueError(f"{name}: a style image must be (H, W, 3) uint8, got {a.shape} {a.dtype}")

    # ---- 2. style codes ----------------------------------------------------------------------------

    def style_code(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, W, 3) uint8 RGB -> (mu, logvar), each (z_dim,) float32 on the CPU; LRU-cached by content."""
        if not self.supports_style:
            raise ValueError("this model has no style encoder (use_vae is off)")
        self._check_style("style", image)
        img = np.ascontiguousarray(image)
        key = hashlib.blake2b(img.tobytes(), digest_size=16, person=b"spade-style").hexdigest() + str(img.shape)
        with self._lock:
            if key in self._style_cache:
                self._style_cache.move_to_end(key)
                return self._style_cache[key]
        x = torch.tensor(img).permute(2, 0, 1)[None].to(self.device, torch.float32) / 127.5 - 1  # (1, 3, H, W)
        with torch.inference_mode():
            mu, logvar = self.encoder(x)                                                              # (1, z_dim)
        code = (mu[0].float().cpu(), logvar[0].float().cpu())
        with self._lock:
            self._style_cache[key] = code
            while len(self._style_cache) > self._style_cache_size:
                self._style_cache.popitem(last=False)
        return code

    def style_z(self, req: Request) -> torch.Tensor | None:
        """Step 2: the request's z (B, z_dim) float32 on the CPU; None for models without a style code.

        explicit z > style (mu, or mu + eps * std with a seed) > N(0, I) from the seed; then
        mixing: (1 - mix) z + mix z_b, z_b from mix_style or N(0, I) from seed + 1.
        """
        if not self.supports_style:
            return None
        z = req.z if req.z is not None else self._sample_z(req.style, req.batch, req.seed)
        if req.mix > 0:
            z_b = self._sample_z(req.mix_style, req.batch, None if req.seed is None else req.seed + 1)
            z = z_b if req.mix == 1.0 else (1 - req.mix) * z + req.mix * z_b
        return z

    def _sample_z(self, style, b: int, seed: int | None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed if seed is not None else secrets.randbits(63))
        if style is None:  # no style: z ~ N(0, I)
            return torch.randn(b, self.cfg.z_dim, generator=gen)
        if isinstance(style, torch.Tensor):  # a precomputed mu
            return style.detach().float().cpu().expand(b, -1).clone()
        mu, logvar = self.style_code(style)
        if seed is None:  # the style itself, deterministically
            return mu.expand(b, -1).clone()
        eps = torch.randn(b, self.cfg.z_dim, generator=gen)
        return mu + eps * torch.exp(0.5 * logvar)

    def noise(self, req: Request) -> torch.Tensor | None:
        """The request's per-pixel noise (B, 1, H, W) float32 on the CPU, for models with noise inputs
        (cfg.noise_inject), else None. Drawn from the seed (0 without one), so a seed fixes the
        texture too and a picture without a seed keeps its texture while it is being painted."""
        if not self.cfg.noise_inject:
            return None
        gen = torch.Generator().manual_seed((req.seed if req.seed is not None else 0) ^ NOISE_SEED_SALT)
        return torch.randn(req.batch, 1, *self.output_size, generator=gen)

    # ---- 3. generate ---------------------------------------------------------------------------------

    def _generate(self, ids: torch.Tensor, edges: torch.Tensor | None, z: torch.Tensor | None,
                  noise: torch.Tensor | None) -> torch.Tensor:
        """(B, H, W) ids on the device -> (B, 3, H, W) in [-1, 1]."""
        if self.fast:
            return self.generator(ids, edges, z, noise)
        if self.cfg.contain_dontcare_label:  # check_labels mapped 255 to label_nc; semantic_input takes 255
            ids = torch.where(ids == self.cfg.label_nc, DONTCARE, ids)
        seg = semantic_input(ids, self.cfg, dtype=self.dtype)               # (B, semantic_nc, H, W)
        if self.cfg.use_instance and edges is not None:
            seg[:, -1] = edges.to(self.dtype)
        return self.generator(seg, None if z is None else z.to(self.dtype),
                              noise=None if noise is None else noise.to(self.dtype))

    def _run(self, reqs: list[Request], zs: list[torch.Tensor | None]) -> list[np.ndarray]:
        """Steps 3 and 4 for checked requests (one generator call), results split per request."""
        ids = torch.cat([r.ids for r in reqs]).to(self.device)
        edges = None
        if any(r.edges is not None for r in reqs):
            edges = torch.cat([r.edges if r.edges is not None else torch.zeros_like(r.ids, dtype=torch.bool)
                               for r in reqs]).to(self.device)
        z = torch.cat(zs).to(self.device) if self.supports_style else None
        noise = torch.cat([self.noise(r) for r in reqs]).to(self.device) if self.cfg.noise_inject else None
        pool = self._pool
        sizes = split_sizes(ids.shape[0], self.cpu_workers if pool is not None else 1)
        if len(sizes) == 1:
            out = self._generate_uint8(ids, edges, z, noise)
        else:  # one chunk per CPU worker, each single-threaded (see single_thread_pool)
            chunks = [tuple(None if t is None else t.split(sizes)[i] for t in (ids, edges, z, noise))
                      for i in range(len(sizes))]
            out = np.concatenate([f.result() for f in [pool.submit(self._generate_uint8, *c) for c in chunks]])
        results, i = [], 0
        for r in reqs:
            results.append(out[i:i + r.batch] if r.batched else out[i])
            i += r.batch
        return results

    def _generate_uint8(self, ids: torch.Tensor, edges: torch.Tensor | None, z: torch.Tensor | None,
                        noise: torch.Tensor | None) -> np.ndarray:
        """3. generate + 4. post-process: (B, H, W) ids -> (B, H, W, 3) uint8 on the CPU."""
        with torch.inference_mode():  # thread-local: entered here, on whichever thread runs the chunk
            y = self._forward(ids, edges, z, noise)                           # (B, 3, H, W) in [-1, 1]
            y = ((y.float().clamp_(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
            return y.permute(0, 2, 3, 1).cpu().numpy()

    # ---- public entry points ---------------------------------------------------------------------------

    def synthesize(self, labels, instances=None, style=None, z=None, seed=None, mix_style=None,
                   mix: float = 0.0) -> np.ndarray:
        """Label ids (H, W) or (B, H, W) -> (H, W, 3) or (B, H, W, 3) uint8.

        style: an (H, W, 3) uint8 image (z = its mu; with a seed, mu + eps * std) or a (z_dim,) mu.
        z: an explicit (B, z_dim) code. seed: reproducible sampling. mix_style / mix: z = (1 - mix) z_a
        + mix z_b, z_b from mix_style, or a random code from seed + 1 when mix_style is None.
        """
        # 1. check inputs (CPU only; ValueError names the problem)
        req = self.check_request(labels, instances, style, z, seed, mix_style, mix)
        # 2. encode style -> z
        z = self.style_z(req)
        # 3. generate + 4. post-process
        return self._run([req], [z])[0]

    def synthesize_batch(self, requests: list[dict]) -> list[np.ndarray]:
        """Several synthesize() requests (keyword dicts) as one generator call; results in order.

        All requests come out at the model's output size, so they always batch together.
        A bad request raises ValueError naming its index, before any generator work.
        """
        if not requests:
            return []
        reqs = []
        for i, kw in enumerate(requests):
            try:
                reqs.append(self.check_request(**kw))
            except (TypeError, ValueError) as e:
                raise ValueError(f"request {i}: {e}") from e
        return self._run(reqs, [self.style_z(r) for r in reqs])

    def warmup(self) -> None:
        """One forward pass (compiles under compile=True); on GPUs picks the faster first conv."""
        h, w = self.output_size
        blank = np.broadcast_to(np.arange(w) * min(self.cfg.label_nc, 8) // w, (h, w))  # stripes: boundaries too
        self.synthesize(blank, seed=0)
        if self._measure_first_conv:
            times = {}
            for mode in ("gather", "conv"):
                self.generator.first_conv = mode
                self.synthesize(blank, seed=0)
                t0 = time.perf_counter()
                for _ in range(2):
                    self.synthesize(blank, seed=0)
                times[mode] = time.perf_counter() - t0
            self.first_conv = min(times, key=times.get)
            self.generator.first_conv = self.first_conv
            self._measure_first_conv = False
