"""Trainer: generator + encoder + discriminator, on one CPU or many GPUs (torchrun + DDP).

The recipe is the paper's: hinge GAN loss, feature matching (10), KL (0.05), VGG (10, only
with a local weights file), Adam(0, 0.9), G 1e-4 / D 4e-4, optional linear LR decay.
Options for small compute (each off unless set): an L1 reconstruction term through the
encoder path, an EMA of the generator, a smaller SPADE hidden width (a ModelConfig field).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, Sampler

from model.blocks import is_noise_weight
from model.config import ModelConfig, preset
from model.discriminator import MultiscaleDiscriminator
from model.encoder import reparameterize
from model.inputs import semantic_input
from model.io import build_networks, save_model
from model.labels import LANDSCAPES, Palette
from model.losses import VGGLoss, feature_matching_loss, gan_loss, kl_loss, pooled_l1_loss, stripe_loss, band_loss


@dataclass
class TrainConfig:
    preset: str = "landscapes"          # ModelConfig preset to start from
    model: dict = field(default_factory=dict)  # ModelConfig field overrides, e.g. {"ngf": 32}
    dataset: str = "scenes"             # scenes | folder | ade20k | coco | cityscapes
    data_root: str | None = None        # dataset folder (not needed for scenes)
    batch_size: int = 4                 # per process
    num_workers: int = 1                # DataLoader workers generating / decoding data
    steps: int = 100_000                # total optimisation steps (G and D each once per step)
    lr_g: float = 1e-4                  # two-time-scale rule: D learns 4x faster than G
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    lr_decay_start: int | None = None   # step from which both LRs decay linearly to 0 at `steps`
    gan_mode: str = "hinge"             # hinge | ls | original
    lambda_feat: float = 10.0           # feature matching weight
    lambda_kld: float = 0.05            # KL weight (use_vae only)
    lambda_vgg: float = 10.0            # VGG weight, used only when vgg_weights is given
    vgg_weights: str | None = None      # local VGG19 state dict (.safetensors / weights-only .pth)
    lambda_l1: float = 0.0              # L1 reconstruction through the encoder path (small-compute aid)
    l1_pool: int = 1                    # compare for L1 after average pooling by this factor: > 1 keeps
                                        # colour and layout but leaves fine texture to the GAN (losses.py)
    lambda_stripes: float = 0.0         # penalty on row/column stripe energy beyond the real image's (grid artefacts;
                                        # losses.stripe_loss, in grey levels^2: a visible plaid is 5-30)
    lambda_bands: float = 0.0           # texture bands: mean |log ratio| of generated vs real fine-texture energy by
                                        # orientation and scale inside class regions (losses.band_loss)
    lr_noise: float = 1.0               # LR multiplier for the generator's noise weights (noise_inject)
    noise_init: float = 0.0             # --init-from a model without noise weights: they start here. The loss
                                        # is even in each, so at 0 their gradient averages out and they stay
                                        # near 0 (measured: 0.015 after 800 steps); 0 keeps the model's pictures
    ema_decay: float = 0.0              # generator EMA decay (e.g. 0.999); 0 = off
    precision: str = "auto"             # auto | fp32 | bf16 | fp16 (autocast)
    device: str = "auto"                # auto | cpu | cuda | cuda:N | mps
    channels_last: bool = True
    threads: int = 0                    # torch CPU threads; 0 = leave torch's default
    seed: int = 0
    out: str = "runs/landscapes"        # run folder: checkpoints, samples, TensorBoard logs
    log_every: int = 10                 # steps between scalar logs
    sample_every: int = 250             # steps between sample grids
    ckpt_every: int = 250               # steps between checkpoints (an interruption loses at most this many)
    export_dir: str | None = None       # write an inference model folder here at the end

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        """Read a TOML or YAML file whose keys are TrainConfig fields."""
        path = Path(path)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml  # optional: only needed for YAML configs
            data = yaml.safe_load(text) or {}
        else:
            import tomllib
            data = tomllib.loads(text)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training options: {sorted(unknown)}")
        return cls(**data)

    def model_config(self) -> ModelConfig:
        return preset(self.preset, **self.model)


# ---------------------------------------------------------------------------------------
# Data: a resumable index stream, so a resumed run sees exactly the samples it would have.
# ---------------------------------------------------------------------------------------
class StepSampler(Sampler[int | tuple[int, int]]):
    """Yields global sample indices from `start` on: sample k of the run belongs to rank
    (k // batch) % world. Finite datasets are walked in a fresh seeded permutation per epoch and
    get (dataset index, k): k seeds that sample's augmentation, so a resumed run crops and flips
    exactly as the uninterrupted one would have."""

    def __init__(self, length: int | None, batch: int, rank: int, world: int, seed: int, start_step: int):
        self.length, self.batch, self.rank, self.world = length, batch, rank, world
        self.seed, self.start_step = seed, start_step

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
        step = self.start_step
        perm_epoch, perm = -1, None
        while True:
            base = (step * self.world + self.rank) * self.batch
            for k in range(base, base + self.batch):
                if self.length is None:
                    yield k
                else:
                    epoch = k // self.length
                    if epoch != perm_epoch:
                        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
                        perm, perm_epoch = torch.randperm(self.length, generator=g), epoch
                    yield int(perm[k % self.length]), k
            step += 1


class _Indexed(Dataset):
    """Map-style view of a dataset: scenes by index (infinite), or a finite dataset by
    (index, k) from StepSampler, its augmentation seeded by (seed, k)."""

    def __init__(self, ds: Any, seed: int = 0):
        self.ds, self.seed = ds, seed

    def __len__(self) -> int:  # only used by finite datasets
        return len(self.ds)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        if isinstance(key, tuple):
            i, k = key
            if hasattr(self.ds, "item"):
                return self.ds.item(i, np.random.default_rng((self.seed, k)))
            return self.ds[i]
        return self.ds.get(key) if hasattr(self.ds, "get") else self.ds[key]


def make_train_dataset(tc: TrainConfig, size: int) -> tuple[Any, int | None, Palette]:
    if tc.dataset == "scenes":
        from model.scenes import ScenesDataset
        return ScenesDataset(size=size, seed=tc.seed), None, LANDSCAPES
    from model.data import make_dataset
    ds = make_dataset(tc.dataset, tc.data_root, size)
    palette = getattr(ds, "palette", None)
    return ds, len(ds), palette


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------
def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int | None = None) -> None:
    if step is not None:
        # warm-up: early on, average over fewer steps so the random initial weights fade fast
        decay = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)  # BN running stats and spectral-norm u, v follow the live model


@torch.no_grad()
def refresh_spectral_uv(module: nn.Module, iters: int = 20) -> None:
    """Re-estimate spectral-norm u, v for the (EMA) weights with a few power iterations."""
    for m in module.modules():
        if hasattr(m, "weight_orig") and hasattr(m, "weight_u"):
            w = m.weight_orig.flatten(1)
            u, v = m.weight_u, m.weight_v
            for _ in range(iters):
                v.copy_(F.normalize(w.t() @ u, dim=0, eps=1e-12))
                u.copy_(F.normalize(w @ v, dim=0, eps=1e-12))


def unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP) else m


def save_atomic(obj: Any, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------
class Trainer:
    def __init__(self, tc: TrainConfig):
        self.tc = tc
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.is_main = self.rank == 0
        self.device = pick_device(tc.device)
        self.amp = autocast_dtype(tc.precision, self.device)
        if tc.threads > 0:
            torch.set_num_threads(tc.threads)

        # 1. networks (same initial weights on every rank)
        torch.manual_seed(tc.seed)
        self.cfg = tc.model_config()
        g, e = build_networks(self.cfg)
        d = MultiscaleDiscriminator(self.cfg.semantic_nc + 3, self.cfg.ndf, self.cfg.n_layers_D, self.cfg.num_D)
        if self.distributed and self.device.type == "cuda" and self.cfg.param_free_norm == "syncbatch":
            g = nn.SyncBatchNorm.convert_sync_batchnorm(g)  # BN statistics over all GPUs
        mf = torch.channels_last if tc.channels_last else torch.contiguous_format
        self.G = g.to(self.device, memory_format=mf)
        self.E = e.to(self.device, memory_format=mf) if e is not None else None
        self.D = d.to(self.device, memory_format=mf)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if tc.ema_decay > 0 else None
        self.vgg = VGGLoss(tc.vgg_weights).to(self.device) if tc.vgg_weights else None

        # 2. optimisers (G and E share one, as in the release)
        g_params = list(self.G.parameters()) + (list(self.E.parameters()) if self.E is not None else [])
        noise = [p for n, p in self.G.named_parameters() if is_noise_weight(n)]
        noise_ids = {id(p) for p in noise}
        groups = [dict(params=[p for p in g_params if id(p) not in noise_ids], lr_mult=1.0)]
        if noise:  # its own group only when there is one: checkpoints of models without noise still load
            groups.append(dict(params=noise, lr_mult=tc.lr_noise))
        for g_ in groups:
            g_["lr"] = tc.lr_g * g_["lr_mult"]
        self.opt_G = torch.optim.Adam(groups, lr=tc.lr_g, betas=(tc.beta1, tc.beta2))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=tc.lr_d, betas=(tc.beta1, tc.beta2))
        self.step = 0
        self.history: list[dict] = []

        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = DDP(self.G, device_ids=ids)
            self.D = DDP(self.D, device_ids=ids)
            if self.E is not None:
                self.E = DDP(self.E, device_ids=ids)

        self.out = Path(tc.out)
        self.ckpt_path = self.out / "checkpoint.pt"
        self.palette: Palette = LANDSCAPES

    # ---- data ------------------------------------------------------------------------
    def loader(self) -> DataLoader:
        ds, length, palette = make_train_dataset(self.tc, self.cfg.crop_size)
        if palette is not None:
            self.palette = palette
        sampler = StepSampler(length, self.tc.batch_size, self.rank, self.world, self.tc.seed, self.step)
        return DataLoader(_Indexed(ds, self.tc.seed), batch_size=self.tc.batch_size, sampler=sampler,
                          num_workers=self.tc.num_workers, persistent_workers=self.tc.num_workers > 0,
                          pin_memory=self.device.type == "cuda",
                          # its own generator: creating the iterator must not draw from the global
                          # RNG, or a resumed run would sample different noise from then on
                          generator=torch.Generator().manual_seed(self.tc.seed))

    def to_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        mf = torch.channels_last if self.tc.channels_last else torch.contiguous_format
        label = batch["label"].to(self.device)
        inst = batch.get("instance")
        seg = semantic_input(label, self.cfg, inst.to(self.device) if inst is not None else None)
        real = batch["image"].to(self.device)
        return seg.contiguous(memory_format=mf), real.contiguous(memory_format=mf)

    # ---- one step --------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None)

    def set_lr(self) -> None:
        tc = self.tc
        f = 1.0
        if tc.lr_decay_start is not None and self.step >= tc.lr_decay_start:
            f = max(0.0, 1 - (self.step - tc.lr_decay_start) / max(1, tc.steps - tc.lr_decay_start))
        for o, lr in ((self.opt_G, tc.lr_g), (self.opt_D, tc.lr_d)):
            for group in o.param_groups:
                group["lr"] = lr * f * group.get("lr_mult", 1.0)

    def discriminate(self, seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        # one D pass over fake and real together, split afterwards (as the release does)
        x = torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0)
        out = self.D(x)
        n = fake.shape[0]
        return [[f[:n] for f in feats] for feats in out], [[f[n:] for f in feats] for feats in out]

    def train_step(self, seg: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
        tc = self.tc
        self.set_lr()
        losses: dict[str, torch.Tensor] = {}
        # 1. generator (+ encoder) step
        with self.autocast():
            z = None
            if self.E is not None:
                mu, logvar = self.E(real)
                mu, logvar = mu.float(), logvar.float()
                z = reparameterize(mu, logvar)
                losses["KLD"] = kl_loss(mu, logvar, tc.lambda_kld)
            fake = self.G(seg, z)
            pred_fake, pred_real = self.discriminate(seg, fake, real)
            losses["GAN"] = gan_loss(pred_fake, True, for_discriminator=False, mode=tc.gan_mode)
            if tc.lambda_feat > 0:
                losses["GAN_Feat"] = feature_matching_loss(pred_fake, pred_real, tc.lambda_feat)
            if self.vgg is not None:
                losses["VGG"] = self.vgg(fake.float(), real.float()) * tc.lambda_vgg
            if tc.lambda_l1 > 0 and self.E is not None:
                losses["L1"] = pooled_l1_loss(fake, real, tc.l1_pool) * tc.lambda_l1
            if tc.lambda_stripes > 0 or tc.lambda_bands > 0:
                ids = seg[:, :self.cfg.label_nc].argmax(1)  # the texture terms compare within class regions
                if tc.lambda_stripes > 0:
                    losses["Stripes"] = stripe_loss(fake, real, ids) * tc.lambda_stripes
                if tc.lambda_bands > 0:
                    losses["Bands"] = band_loss(fake, real, ids) * tc.lambda_bands
        g_loss = sum(v.float() for v in losses.values())
        self.opt_G.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_G.step()
        if self.G_ema is not None:
            ema_update(self.G_ema, unwrap(self.G), tc.ema_decay, self.step)

        # 2. discriminator step, on the fake made above (detached): saves a third G forward
        with self.autocast():
            pred_fake, pred_real = self.discriminate(seg, fake.detach(), real)
            losses["D_Fake"] = gan_loss(pred_fake, False, for_discriminator=True, mode=tc.gan_mode)
            losses["D_real"] = gan_loss(pred_real, True, for_discriminator=True, mode=tc.gan_mode)
        d_loss = losses["D_Fake"].float() + losses["D_real"].float()
        self.opt_D.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_D.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    # ---- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        """Everything but the RNG states (gathered from all ranks by save_checkpoint)."""
        return {
            "step": self.step,
            "train_config": json.dumps(asdict(self.tc)),
            "model_config": json.dumps(self.cfg.to_dict()),
            "G": unwrap(self.G).state_dict(),
            "E": unwrap(self.E).state_dict() if self.E is not None else {},
            "D": unwrap(self.D).state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else {},
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "history": json.dumps(self.history[-20000:]),
        }

    @torch.no_grad()
    def average_bn_stats(self) -> None:
        """Average BN running statistics over ranks (each rank saw different batches; without
        SyncBatchNorm, e.g. on CPU with gloo, they drift apart). Weights are already identical."""
        if not self.distributed:
            return
        for m in list(unwrap(self.G).modules()) + (list(self.G_ema.modules()) if self.G_ema is not None else []):
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                for b in (m.running_mean, m.running_var):
                    dist.all_reduce(b)
                    b.div_(self.world)

    def rng_states(self) -> list[dict]:
        """Every rank's RNG state (CPU, and CUDA where used), so a resumed run draws the same noise."""
        own = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            own["cuda"] = torch.cuda.get_rng_state(self.device)
        if not self.distributed:
            return [own]
        states: list = [None] * self.world
        dist.all_gather_object(states, {k: v.cpu() for k, v in own.items()})
        return states

    def save_checkpoint(self) -> None:
        self.average_bn_stats()  # collectives: every rank calls them
        rng = self.rng_states()
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_atomic({**self.state(), "rng": rng}, self.ckpt_path)

    def load_checkpoint(self, path: str | Path | None = None, weights_only_init: bool = False) -> None:
        """Resume everything from a checkpoint (weights, optimisers, EMA, RNG, data position).

        With weights_only_init, take only the networks (e.g. continue from shipped weights
        with fresh optimisers)."""
        path = Path(path) if path else self.ckpt_path
        st = torch.load(path, map_location=self.device, weights_only=True)
        unwrap(self.G).load_state_dict(st["G"])
        if self.E is not None and st["E"]:
            unwrap(self.E).load_state_dict(st["E"])
        unwrap(self.D).load_state_dict(st["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(st["G_ema"] or st["G"])
        if weights_only_init:
            return
        self.opt_G.load_state_dict(st["opt_G"])
        self.opt_D.load_state_dict(st["opt_D"])
        states = st["rng"] if "rng" in st else [{"cpu": st["rng_cpu"]}]  # checkpoints of 2026-12-04
        rng = states[self.rank] if self.rank < len(states) else states[0]
        torch.set_rng_state(rng["cpu"].cpu())
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
        self.step = int(st["step"])
        self.history = json.loads(st["history"])

    def init_from_model_folder(self, folder: str | Path) -> None:
        """Start G (and E) from an exported model folder; D starts fresh and re-learns quickly."""
        from model.io import load_state_into
        from safetensors.torch import load_file
        state = load_file(str(Path(folder) / "model.safetensors"))
        g_state = {k[5:]: v.float() for k, v in state.items() if k.startswith("netG.")}
        # A model without noise inputs continues as one with them: its noise weights start at
        # noise_init (0 leaves its pictures unchanged; model/blocks.py).
        for k, v in unwrap(self.G).state_dict().items():
            if is_noise_weight(k) and k not in g_state:
                g_state[k] = torch.full_like(v, self.tc.noise_init)
        load_state_into(unwrap(self.G), g_state, "generator")
        if self.E is not None:
            load_state_into(unwrap(self.E), {k[5:]: v.float() for k, v in state.items() if k.startswith("netE.")}, "encoder")
        if self.G_ema is not None:
            self.G_ema.load_state_dict(unwrap(self.G).state_dict())

    # ---- outputs -----------------------------------------------------------------------
    def inference_generator(self) -> nn.Module:
        return self.G_ema if self.G_ema is not None else unwrap(self.G)

    @torch.no_grad()
    def sample_grid(self, seg: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        """Rows: labels | real | generated (own style) | generated with another image's style."""
        g = self.inference_generator()
        was_training = g.training
        g.eval()
        n = min(4, seg.shape[0])
        seg, real, labels = seg[:n], real[:n], labels[:n]
        with self.autocast():
            if self.E is not None:
                mu, _ = unwrap(self.E)(real)
                fake = g(seg, mu.float())
                other = g(seg, mu.float().roll(1, 0))
            else:
                fake = g(seg)
                other = g(seg)
        g.train(was_training)
        to_np = lambda t: ((t.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()  # noqa: E731
        lab = self.palette.colorize(labels.cpu().numpy().clip(0, 255).astype(np.int64))
        rows = [lab, to_np(real), to_np(fake), to_np(other)]
        return np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)

    def export(self, folder: str | Path, recalibrate: int = 16) -> Path:
        """Inference model folder: EMA generator (if any) + encoder, fp16 safetensors.

        The EMA weights get fresh spectral-norm vectors and BN statistics measured on
        `recalibrate` training batches, since the live model's do not fit them exactly."""
        # a fresh single-process generator: the live one may hold SyncBatchNorm (DDP on GPUs),
        # whose train-mode passes during recalibration would wait for the other ranks
        g, _ = build_networks(self.cfg)
        g.load_state_dict(self.inference_generator().state_dict())
        g = g.to(self.device)
        if self.G_ema is not None:
            refresh_spectral_uv(g)
            if recalibrate > 0:
                batches = []
                for batch in self.loader():
                    batches.append(tuple(t.float().contiguous() for t in self.to_inputs(batch)))
                    if len(batches) == recalibrate:
                        break
                e = copy.deepcopy(unwrap(self.E)).float().eval() if self.E is not None else None
                recalibrate_bn(g, batches, e)
        e = unwrap(self.E) if self.E is not None else None
        return save_model(folder, self.cfg, g.cpu(), copy.deepcopy(e).float().cpu() if e is not None else None,
                          self.palette)

    def plot_losses(self, path: Path) -> None:
        if not self.history:
            return
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        keys = sorted({k for h in self.history for k in h if k not in ("step", "img_s")})
        fig, ax = plt.subplots(figsize=(9, 5))
        steps = [h["step"] for h in self.history]
        for k in keys:
            ys = [h.get(k, float("nan")) for h in self.history]
            ax.plot(steps, ys, label=k, linewidth=1)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.legend(ncol=4, fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    # ---- the loop ----------------------------------------------------------------------
    def _request_stop(self, signum, frame) -> None:  # noqa: ARG002
        self._stop_requested = True

    def stop_requested(self) -> bool:
        """True when any rank got Ctrl-C / SIGTERM (agreed on by all ranks)."""
        if not self.distributed:
            return self._stop_requested
        flag = torch.tensor([int(self._stop_requested)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def fit(self, progress: bool = True) -> None:
        from PIL import Image
        from tqdm import tqdm

        tc = self.tc
        writer = None
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.json").write_text(json.dumps(asdict(tc), indent=2))
            try:
                from torch.utils.tensorboard import SummaryWriter
                writer = SummaryWriter(str(self.out / "tb"), purge_step=self.step)
            except ImportError:  # tensorboard is a dependency; this only guards odd installs
                writer = None
        self.G.train(), self.D.train()
        if self.E is not None:
            self.E.train()
        # Ctrl-C and `kill` (SIGTERM) only set a flag; the loop stops between steps (all ranks
        # together), saves a checkpoint and raises KeyboardInterrupt. Stopping mid-step would
        # save half a step, and ranks stopping at different points would hang DDP.
        self._stop_requested = False
        saved_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                saved_handlers[sig] = signal.signal(sig, self._request_stop)
        bar = tqdm(total=tc.steps, initial=self.step, disable=not (progress and self.is_main),
                   dynamic_ncols=True, unit="step")
        last_t, last_step = time.time(), self.step
        try:
            for batch in self.loader():
                if self.step >= tc.steps:
                    break
                seg, real = self.to_inputs(batch)
                losses = self.train_step(seg, real)
                bar.update(1)
                if self.step % tc.log_every == 0 or self.step == tc.steps:
                    now = time.time()
                    img_s = (self.step - last_step) * tc.batch_size * self.world / max(now - last_t, 1e-9)
                    last_t, last_step = now, self.step
                    rec = {"step": self.step, **{k: round(v, 5) for k, v in losses.items()}, "img_s": round(img_s, 3)}
                    self.history.append(rec)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()} | {"img/s": f"{img_s:.2f}"})
                    if writer is not None:
                        for k, v in losses.items():
                            writer.add_scalar(f"loss/{k}", v, self.step)
                        writer.add_scalar("speed/images_per_s", img_s, self.step)
                    if self.is_main:
                        with open(self.out / "log.jsonl", "a") as f:
                            f.write(json.dumps(rec) + "\n")
                if self.is_main and self.step % tc.sample_every == 0:
                    grid = self.sample_grid(seg, real, batch["label"])
                    (self.out / "samples").mkdir(exist_ok=True)
                    Image.fromarray(grid).save(self.out / "samples" / f"step_{self.step:07d}.png")
                    Image.fromarray(grid).save(self.out / "samples" / "latest.png")
                    if writer is not None:
                        writer.add_image("samples", grid, self.step, dataformats="HWC")
                if self.step % tc.ckpt_every == 0:
                    self.save_checkpoint()
                if self.stop_requested():
                    if self.is_main:
                        print(f"\ninterrupted at step {self.step}: saving a checkpoint")
                    self.save_checkpoint()
                    raise KeyboardInterrupt
        finally:
            for sig, handler in saved_handlers.items():
                signal.signal(sig, handler)
            bar.close()
            if writer is not None:
                writer.close()
        self.save_checkpoint()
        if self.is_main:
            self.plot_losses(self.out / "loss_curve.png")
            if tc.export_dir:
                self.export(tc.export_dir)


@torch.no_grad()
def recalibrate_bn(g: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
                   encoder: nn.Module | None) -> None:
    """Re-estimate BN running statistics of an (EMA) generator on a few batches.

    `batches` are (seg, real) pairs; the EMA weights never produced the live model's
    statistics, so recomputing them makes eval-mode outputs match what the weights expect."""
    bns = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [(m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    g.train()
    # keep spectral norm's u, v fixed during the passes: run in eval for SN by restoring them
    uv = {n: b.clone() for n, b in g.named_buffers() if n.endswith(("weight_u", "weight_v"))}
    for seg, real in batches:
        z = encoder(real)[0] if encoder is not None else None
        g(seg, z)
    for n, b in g.named_buffers():
        if n in uv:
            b.copy_(uv[n])
    for m, mom in zip(bns, saved):
        m.momentum = mom
    g.eval()
