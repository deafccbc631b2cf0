"""The fast inference path: the generator rewritten with exact algebraic fusions.

`FastGenerator(g, dtype)` folds a SPADEGenerator (eval semantics) into plain tensors, once:

1. Spectral norm -> plain conv weights: W = W_orig / sigma with sigma = u . (W_orig v) from
   the stored u, v (what torch's spectral_norm does in eval mode; no power iteration).
2. Batch norm (eval) -> per-channel scale a and shift s, folded into SPADE's modulation:
       (a x + s)(1 + gamma) + beta = x * [a (1 + gamma)] + [s (1 + gamma) + beta]
   Both brackets are linear in the gamma/beta convs' outputs, so they are one conv with 2C
   outputs (mlp_gamma and mlp_beta fused, BN folded into its weights and bias), and the
   modulation is one multiply-add per element. Instance norm: stats in fp32 on the
   low-resolution input, applied as one affine before the multiply-add.
3. SPADE's first conv over the one-hot label map (hundreds of mostly-zero channels) is a sum
   of k*k shifted embedding lookups: out[:, i, j] = bias + sum_t E_t[id(i + dy_t, j + dx_t)].
   The instance-edge channel is binary, so it becomes part of the lookup key (id + (n+1) edge),
   and the bias rides on the centre tap. One `embedding_bag(mode="sum")` per SPADE layer
   replaces the conv ("gather" mode); "conv" mode keeps one fused conv over the one-hot map for
   all SPADE layers of a block. Keys are built once per resolution and shared by every SPADE
   layer there (they all see the same resized label map).
4. Uniform regions (on by default, `region_skip`): SPADE's gamma/beta at a pixel depend only on
   the (2k-1) x (2k-1) label neighbourhood. Where that neighbourhood lies inside the image and
   holds one key, gamma/beta are a per-key constant (precomputed at load); the gamma/beta conv
   is only evaluated, as a matmul over gathered patches, at pixels near a label boundary or the
   image border, and only once per distinct neighbourhood (boundaries repeat a few patterns).
   Exact; it pays off on painted label maps, and a resolution where more than
   `region_max_fraction` of the pixels are near a boundary takes the dense conv instead.
5. Nearest 2x upsampling is never materialised: a block reads its low-resolution input through
   a broadcast view while modulating at full resolution.

Every rewrite is exact up to floating-point rounding; tests/model/test_fast.py checks each
against the plain network. Activations are channels_last in the chosen dtype (bf16 on CPUs
with native bf16 runs the convs ~3x faster than fp32; see bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.blocks import NOISE_WEIGHTS, SPADEResBlock
from model.config import ModelConfig
from model.generator import SPADEGenerator
from model.spade import SPADE

FIRST_CONV_MODES = ("gather", "conv")
CL = torch.channels_last
PATCH_CHUNK = 1 << 21  # elements of gathered patches per matmul: a few MB, so they stay in cache


# ---- 1. folding helpers (run once at load, in float64) ---------------------------------------

def folded_conv(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) in float64 with spectral norm (if any) divided out, as eval mode computes it."""
    if hasattr(conv, "weight_orig"):
        w = conv.weight_orig.detach().double()
        u = conv.weight_u.detach().double()
        v = conv.weight_v.detach().double()
        w = w / torch.dot(u, w.reshape(w.shape[0], -1) @ v)  # sigma = u . (W v)
    else:
        w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else None
    return w, b


def norm_affine(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-channel (scale, shift) of an eval-mode batch norm; None for instance norm (input-dependent)."""
    if isinstance(norm, nn.modules.batchnorm._BatchNorm):
        if norm.running_var is None:
            raise ValueError("batch norm without running statistics cannot be folded")
        a = (norm.running_var.double() + norm.eps).rsqrt()
        return a, -norm.running_mean.double() * a
    if isinstance(norm, nn.InstanceNorm2d):
        if norm.affine or norm.track_running_stats:
            raise ValueError("only parameter-free instance norm is supported")
        return None
    raise ValueError(f"unsupported normalisation {type(norm).__name__}")


def first_conv_table(weight: torch.Tensor, bias: torch.Tensor | None, num_ids: int,
                     has_edge: bool) -> torch.Tensor:
    """Embedding table for a conv over [one-hot(num_ids), edge] as k*k shifted lookups.

    weight: (hidden, num_ids + has_edge, k, k). Returns (k*k * R, hidden) with R = 2 (num_ids + 1)
    (num_ids + 1 without an edge channel): row t*R + e*(num_ids+1) + id holds tap t's weights
    for class `id` plus, when e = 1, the edge weights. id == num_ids is the zero-padding row.
    """
    hidden, cin, k, _ = weight.shape
    assert cin == num_ids + int(has_edge)
    taps = weight.permute(2, 3, 1, 0).reshape(k * k, cin, hidden)          # (k*k, cin, hidden)
    zero = torch.zeros(k * k, 1, hidden, dtype=weight.dtype)
    base = torch.cat([taps[:, :num_ids], zero], 1)                          # (k*k, num_ids+1, hidden)
    if has_edge:
        with_edge = base + taps[:, num_ids:num_ids + 1]
        with_edge[:, num_ids] = 0  # padding is outside the image: no edge there either
        base = torch.cat([base, with_edge], 1)                              # (k*k, R, hidden)
    if bias is not None:
        base[(k * k) // 2] += bias  # the centre tap is never padding
    return base.reshape(-1, hidden)


def key_rows(num_ids: int, has_edge: bool) -> int:
    """R: lookup keys per tap (ids + padding, times two with an edge channel)."""
    return 2 * (num_ids + 1) if has_edge else num_ids + 1


# ---- 2. label keys per resolution ----------------------------------------------------------

@dataclass
class Regions:
    """Pixels of one resolution whose gamma/beta must be computed (near a boundary or the border)."""
    center: torch.Tensor    # (B*h*w,) key of every pixel: the constant table's row
    P: torch.Tensor         # (p,) flat indices of boundary pixels
    inverse: torch.Tensor   # (p,) which distinct neighbourhood each boundary pixel has
    D_keys: torch.Tensor    # (d+1, k*k) lookup keys of the pixels the patches read, + one all-zero bag
    patch: torch.Tensor     # (u, k*k) per distinct neighbourhood: rows of its patch in the D activations


class LabelKeys:
    """Per-forward cache of what the SPADE layers of each resolution read from the label map.

    ids: (B, H, W) long class ids (don't care already mapped to its channel), edges: (B, H, W)
    bool or None. Resizing is nearest neighbour with PyTorch's index rule, so it matches
    F.interpolate(seg, size) in the plain network exactly.
    """

    def __init__(self, ids: torch.Tensor, edges: torch.Tensor | None, num_ids: int, has_edge: bool,
                 dtype: torch.dtype, region_max_fraction: float = 0.0):
        self.ids, self.edges = ids, edges
        self.num_ids, self.has_edge, self.dtype = num_ids, has_edge, dtype
        self.rows = key_rows(num_ids, has_edge)
        self.region_max_fraction = region_max_fraction
        self._cache: dict[tuple, object] = {}

    def zero_key(self, k: int) -> int:
        """Index of the all-zero row appended to every k x k lookup table."""
        return k * k * self.rows

    def _memo(self, key: tuple, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def resized(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        def make():
            H, W = self.ids.shape[1:]
            h, w = size
            dev = self.ids.device
            # PyTorch's "nearest": src = min(floor(dst * (in / out)), in - 1), computed in float32
            ri = (torch.arange(h, device=dev, dtype=torch.float32) * (H / h)).floor().long().clamp_(max=H - 1)
            ci = (torch.arange(w, device=dev, dtype=torch.float32) * (W / w)).floor().long().clamp_(max=W - 1)
            if (h, w) == (H, W):
                return self.ids, self.edges
            ri, ci = ri[:, None], ci[None, :]
            return self.ids[:, ri, ci], (self.edges[:, ri, ci] if self.edges is not None else None)
        return self._memo(("resized", size), make)

    def key_map(self, size: tuple[int, int]) -> torch.Tensor:
        """(B, h, w) long: id + (num_ids + 1) * edge."""
        def make():
            ids, edges = self.resized(size)
            if self.has_edge and edges is not None:
                return ids + (self.num_ids + 1) * edges.long()
            return ids
        return self._memo(("key_map", size), make)

    def padded_keys(self, size: tuple[int, int], k: int) -> torch.Tensor:
        """(B, h+2p, w+2p) key map padded with the padding id."""
        p = k // 2
        return self._memo(("padded", size, k), lambda: F.pad(self.key_map(size), (p, p, p, p), value=self.num_ids))

    def keys(self, size: tuple[int, int], k: int) -> torch.Tensor:
        """(B*h*w, k*k) embedding-bag indices into a first_conv_table of a k x k conv."""
        def make():
            h, w = size
            key = self.padded_keys(size, k)
            taps = [key[:, dy:dy + h, dx:dx + w] + (dy * k + dx) * self.rows for dy in range(k) for dx in range(k)]
            return torch.stack(taps, -1).reshape(-1, k * k)
        return self._memo(("keys", size, k), make)

    @staticmethod
    def _neighbours(flat: torch.Tensor, shape: tuple[int, int, int], k: int) -> torch.Tensor:
        """Flat pixel indices of a (B, h, w) map -> (n, k*k) flat indices of their k x k windows in
        the map padded by k // 2 (window t = dy*k + dx starts at the pixel's own padded position)."""
        B, h, w = shape
        p = k // 2
        hp, wp = h + 2 * p, w + 2 * p
        b, rest = flat // (h * w), flat % (h * w)
        base = b * (hp * wp) + (rest // w) * wp + rest % w                  # top-left of the window
        dy, dx = torch.meshgrid(torch.arange(k, device=flat.device), torch.arange(k, device=flat.device),
                                indexing="ij")
        return base[:, None] + (dy * wp + dx).reshape(1, -1)

    def onehot(self, size: tuple[int, int]) -> torch.Tensor:
        """(B, num_ids + has_edge, h, w) channels_last one-hot map, for "conv" mode."""
        def make():
            ids, edges = self.resized(size)
            oh = F.one_hot(ids, self.num_ids).to(self.dtype)                # (B, h, w, n)
            if self.has_edge:
                e = edges.to(self.dtype) if edges is not None else torch.zeros_like(oh[..., 0])
                oh = torch.cat([oh, e.unsqueeze(-1)], -1)
            return oh.permute(0, 3, 1, 2)                                   # NHWC memory = channels_last
        return self._memo(("onehot", size), make)

    def regions(self, size: tuple[int, int], k: int) -> Regions | None:
        """Boundary pixels for uniform-region skipping, or None when (nearly) all pixels are boundary."""
        return self._memo(("regions", size, k), lambda: self._regions(size, k))

    def _regions(self, size: tuple[int, int], k: int) -> Regions | None:
        h, w = size
        p = k // 2
        r = 2 * p  # gamma/beta at a pixel read keys up to 2p away (two k x k convs)
        if self.region_max_fraction <= 0 or h <= 2 * r or w <= 2 * r:
            return None
        key = self.key_map(size)
        B = key.shape[0]
        interior = torch.zeros(B, h, w, dtype=torch.bool, device=key.device)
        if r == 0:
            interior[:] = True
        else:
            kf = key[:, None].float()                                      # keys < 2^24: exact in float32
            hi = F.max_pool2d(kf, 2 * r + 1, stride=1)
            lo = -F.max_pool2d(-kf, 2 * r + 1, stride=1)
            interior[:, r:h - r, r:w - r] = (hi == lo)[:, 0]
        boundary = ~interior
        P = boundary.reshape(-1).nonzero()[:, 0]
        if P.numel() > self.region_max_fraction * boundary.numel():
            return None
        # Boundary pixels with the same neighbourhood of keys have the same gamma/beta: along a
        # boundary only a few patterns repeat, so each distinct one is computed once.
        first, inverse = self._distinct_windows(key, P, r)
        reps = P[first]
        # D: pixels whose first-conv activations the representatives' patches read
        hp, wp = h + 2 * p, w + 2 * p
        nb = self._neighbours(reps, (B, h, w), k)                           # (u, k*k) in the padded map
        near = torch.zeros(B * hp * wp, dtype=torch.bool, device=key.device)
        near[nb.reshape(-1)] = True
        D = near.view(B, hp, wp)[:, p:p + h, p:p + w].reshape(-1).nonzero()[:, 0]
        d = D.numel()
        row = torch.full((B * h * w,), d, dtype=torch.long, device=key.device)
        row[D] = torch.arange(d, device=key.device)
        row = F.pad(row.view(B, h, w), (p, p, p, p), value=d)               # outside the image: the zero row
        patch = row.reshape(-1)[nb]                                         # (u, k*k)
        taps = torch.arange(k * k, device=key.device) * self.rows
        D_keys = torch.empty(d + 1, k * k, dtype=torch.long, device=key.device)
        D_keys[:d] = self.padded_keys(size, k).reshape(-1)[self._neighbours(D, (B, h, w), k)] + taps
        D_keys[d] = self.zero_key(k)                                        # one bag of zero rows
        return Regions(key.reshape(-1), P, inverse, D_keys, patch)

    def _distinct_windows(self, key: torch.Tensor, P: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Group boundary pixels by their (2r+1)^2 window of keys (-1 outside the image, where both
        the keys and the first conv's output are padding). Returns (first, inverse): an index into P
        of one pixel per distinct window, and each pixel's window number. Windows are hashed by an
        exact integer dot product and the grouping is verified, so a hash collision only costs
        speed (no grouping), never correctness."""
        n = P.numel()
        everyone = torch.arange(n, device=P.device)
        if n == 0:
            return everyone, everyone
        win = F.pad(key, (r, r, r, r), value=-1).reshape(-1)[self._neighbours(P, tuple(key.shape), 2 * r + 1)] + 1
        size = win.shape[1]
        bound = max(2, (1 << 62) // ((self.rows + 2) * size))  # no int64 overflow in the sum below
        mult = torch.randint(1, bound, (size,), generator=torch.Generator().manual_seed(size)).to(P.device)
        uniq, inverse = torch.unique((win * mult).sum(1), return_inverse=True)
        first = torch.empty(uniq.numel(), dtype=torch.long, device=P.device).scatter_(0, inverse, everyone)
        if not torch.equal(win[first][inverse], win):
            return everyone, everyone
        return first, inverse


# ---- 3. convs over the label map ---------------------------------------------------------------

class LabelConv(nn.Module):
    """One conv over [one-hot, edge] held as a lookup table (+ its plain weights for conv mode)."""

    def __init__(self, conv: nn.Conv2d, num_ids: int, has_edge: bool, dtype: torch.dtype):
        super().__init__()
        w, b = folded_conv(conv)
        self.hidden, self.k = w.shape[0], w.shape[-1]
        table = first_conv_table(w, b, num_ids, has_edge)
        self.table64 = table  # float64 copy for precomputing constants; dropped after init
        # fp32 tables for fp32, else the activation dtype: half the memory traffic, and the k*k-term
        # sum is still rounded once (measured: error within half an ulp of the exact sum)
        tdtype = torch.float32 if dtype == torch.float32 else dtype
        zero = torch.zeros(1, self.hidden, dtype=table.dtype)
        self.register_buffer("table", torch.cat([table, zero]).to(tdtype), persistent=False)
        self.w, self.b = w, b if b is not None else torch.zeros(self.hidden, dtype=w.dtype)


class FirstConv(nn.Module):
    """The label-map convs of one block (or the generator's fc): by lookup ("gather") or one fused conv.

    forward returns one activation per conv, each (B, hidden_i, h, w) channels_last; rows()
    returns them only at the pixels a Regions needs, as (d+1, hidden_i) with a zero last row
    (always by lookup: the mode only chooses how resolutions without a region shortcut run).
    """

    def __init__(self, convs: list[LabelConv], mode: str, relu: bool, dtype: torch.dtype):
        super().__init__()
        self.convs = convs  # owned by the FastSPADEs (not registered twice)
        self.k, self.relu, self.mode = convs[0].k, relu, mode
        self.splits = [c.hidden for c in convs]
        w = torch.cat([c.w for c in convs], 0)
        self.register_buffer("weight", w.to(dtype).contiguous(memory_format=CL), persistent=False)
        self.register_buffer("bias", torch.cat([c.b for c in convs]).to(dtype), persistent=False)
        for c in convs:
            del c.w, c.b

    def _act(self, a: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        a = torch.relu_(a) if self.relu else a
        return a.to(dtype)

    def forward(self, labels: LabelKeys, size: tuple[int, int]) -> list[torch.Tensor]:
        B, (h, w) = labels.ids.shape[0], size
        if self.mode == "gather":
            keys = labels.keys(size, self.k)
            return [self._act(F.embedding_bag(keys, c.table, mode="sum"), labels.dtype)    # (B*h*w, c)
                    .view(B, h, w, c.hidden).permute(0, 3, 1, 2) for c in self.convs]       # channels_last
        a = F.conv2d(labels.onehot(size), self.weight, self.bias, padding=self.k // 2)
        if self.relu:
            a = torch.relu_(a)
        return list(torch.split(a, self.splits, 1)) if len(self.splits) > 1 else [a]

    def rows(self, labels: LabelKeys, regions: Regions) -> list[torch.Tensor]:
        return [self._act(F.embedding_bag(regions.D_keys, c.table, mode="sum"), labels.dtype)
                for c in self.convs]                                                         # (d+1, c)


# ---- 4. SPADE and residual block -------------------------------------------------------------

class FastSPADE(nn.Module):
    """SPADE as (label conv table) + one fused gamma/beta conv with the norm folded in."""

    def __init__(self, spade: SPADE, num_ids: int, has_edge: bool, dtype: torch.dtype):
        super().__init__()
        C = spade.mlp_gamma.out_channels
        self.C, self.pad = C, spade.mlp_gamma.padding
        wg, bg = spade.mlp_gamma.weight.detach().double(), spade.mlp_gamma.bias.detach().double()
        wb, bb = spade.mlp_beta.weight.detach().double(), spade.mlp_beta.bias.detach().double()
        aff = norm_affine(spade.param_free_norm)
        if aff is None:
            # instance norm: the conv yields (1 + gamma, beta); stats are applied at run time
            self.instance_eps = spade.param_free_norm.eps
            w_mul, b_mul, w_add, b_add = wg, bg + 1, wb, bb
        else:
            self.instance_eps = None
            a, s = aff
            w_mul, b_mul = a[:, None, None, None] * wg, a * (1 + bg)            # a (1 + gamma)
            w_add, b_add = s[:, None, None, None] * wg + wb, s * (1 + bg) + bb  # s (1 + gamma) + beta
        w = torch.cat([w_mul, w_add], 0)                                        # (2C, hidden, k, k)
        bias = torch.cat([b_mul, b_add])
        self.register_buffer("weight", w.to(dtype).contiguous(memory_format=CL), persistent=False)
        self.register_buffer("bias", bias.to(dtype), persistent=False)
        # the same conv as a matmul over gathered (k*k*hidden) patches, for boundary pixels
        hidden, k = w.shape[1], w.shape[-1]
        self.register_buffer("wmat", w.permute(2, 3, 1, 0).reshape(k * k * hidden, 2 * C).to(dtype),
                             persistent=False)
        self.shared = LabelConv(spade.mlp_shared[0], num_ids, has_edge, dtype)
        # gamma/beta where the whole neighbourhood holds one key: relu(sum of the taps) through W summed over taps
        R = key_rows(num_ids, has_edge)
        actv = self.shared.table64.view(-1, R, self.shared.hidden).sum(0).relu()   # (R, hidden)
        const = (actv @ w.sum((2, 3)).t() + bias).to(dtype)                          # (R, 2C)
        self.register_buffer("const_mul", const[:, :C].contiguous(), persistent=False)
        self.register_buffer("const_add", const[:, C:].contiguous(), persistent=False)
        del self.shared.table64

    def gamma_beta(self, actv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, hidden, h, w) -> the modulation's (scale, shift), each (B, C, h, w)."""
        gb = F.conv2d(actv, self.weight, self.bias, padding=self.pad)              # (B, 2C, h, w)
        return gb[:, :self.C], gb[:, self.C:]

    def gamma_beta_regions(self, rows: torch.Tensor, regions: Regions,
                           shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-key constants everywhere, then the conv (a matmul over gathered patches) at boundary pixels.

        Patches are gathered in chunks that stay in cache. Returns contiguous (scale, shift)
        buffers that the modulation may overwrite.
        """
        B, h, w = shape
        mul = F.embedding(regions.center, self.const_mul)                          # (B*h*w, C)
        add = F.embedding(regions.center, self.const_add)
        n, kk = regions.patch.shape                                                 # distinct neighbourhoods
        if regions.P.numel():
            K = self.wmat.shape[0]                                                  # k*k*hidden
            chunk = max(1, min(n, PATCH_CHUNK // K))
            buf = rows.new_empty(chunk * kk, rows.shape[1])
            y = rows.new_empty(n, 2 * self.C)
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                patches = torch.index_select(rows, 0, regions.patch[s:e].reshape(-1), out=buf[:(e - s) * kk])
                torch.addmm(self.bias, patches.view(e - s, K), self.wmat, out=y[s:e])   # (e-s, 2C)
            y = y.index_select(0, regions.inverse)                                  # (p, 2C)
            mul.index_copy_(0, regions.P, y[:, :self.C])
            add.index_copy_(0, regions.P, y[:, self.C:])
        return tuple(t.view(B, h, w, self.C).permute(0, 3, 1, 2) for t in (mul, add))  # channels_last views

    def forward(self, x: torch.Tensor, mul: torch.Tensor, add: torch.Tensor, up: bool, act: bool,
                reuse: bool = False) -> torch.Tensor:
        """x: (B, C, h, w), or (B, C, h/2, w/2) read as nearest-upsampled when up; mul, add: (B, C, h, w).

        With reuse, the result is written into mul's storage (mul must be a dense channels_last buffer).
        """
        if self.instance_eps is not None:
            # stats in fp32 on the (possibly low-resolution) input: nearest upsampling keeps them
            var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
            rstd = (var + self.instance_eps).rsqrt()
            x = torch.addcmul((-mean * rstd).to(x.dtype), x, rstd.to(x.dtype))
        out = mul if reuse else torch.empty_like(mul, memory_format=CL)
        if up:
            B, C, h, w = out.shape
            v = lambda t: t.view(B, C, h // 2, 2, w // 2, 2)  # noqa: E731  (views of channels_last tensors)
            torch.addcmul(v(add), x.view(B, C, h // 2, 1, w // 2, 1), v(mul), out=v(out))
        else:
            torch.addcmul(add, x, mul, out=out)
        return F.leaky_relu_(out, 0.2) if act else out


class FastResBlock(nn.Module):
    def __init__(self, block: SPADEResBlock, num_ids: int, has_edge: bool, mode: str, dtype: torch.dtype):
        super().__init__()
        self.learned_shortcut = block.learned_shortcut
        spade = dict(num_ids=num_ids, has_edge=has_edge, dtype=dtype)
        self.norm_0 = FastSPADE(block.norm_0, **spade)
        self.norm_1 = FastSPADE(block.norm_1, **spade)
        self.spades = [self.norm_0, self.norm_1]
        if self.learned_shortcut:
            self.norm_s = FastSPADE(block.norm_s, **spade)
            self.spades.append(self.norm_s)
        for name in ("conv_0", "conv_1") + (("conv_s",) if self.learned_shortcut else ()):
            w, b = folded_conv(getattr(block, name))
            self.register_buffer(f"{name}_w", w.to(dtype).contiguous(memory_format=CL), persistent=False)
            self.register_buffer(f"{name}_b", b.to(dtype) if b is not None else None, persistent=False)
        self.noise = block.noise
        for name in NOISE_WEIGHTS if self.noise else ():
            self.register_buffer(f"{name}_w", getattr(block, name).detach().to(dtype), persistent=False)  # (1, C, 1, 1)
        # the mlp_shared convs of norm_0, norm_1 (and norm_s) all read the same label map
        self.first = FirstConv([s.shared for s in self.spades], mode, relu=True, dtype=dtype)
        self.k = self.first.k

    def forward(self, x: torch.Tensor, labels: LabelKeys, up: bool, noise: torch.Tensor | None = None) -> torch.Tensor:
        """noise: (B, 1, h, w) at the block's output size, for a block with noise inputs."""
        B = x.shape[0]
        size = (x.shape[2] * 2, x.shape[3] * 2) if up else tuple(x.shape[2:])
        regions = labels.regions(size, self.k)
        if regions is None:
            gbs = [s.gamma_beta(a) for s, a in zip(self.spades, self.first(labels, size))]
        else:
            rows = self.first.rows(labels, regions)
            gbs = [s.gamma_beta_regions(r, regions, (B, *size)) for s, r in zip(self.spades, rows)]
        reuse = regions is not None  # the region path's (scale, shift) are fresh buffers: write into them
        if self.learned_shortcut:
            x_s = F.conv2d(self.norm_s(x, *gbs[2], up, act=False, reuse=reuse), self.conv_s_w, self.conv_s_b)
        dx = F.conv2d(self.norm_0(x, *gbs[0], up, act=True, reuse=reuse), self.conv_0_w, self.conv_0_b, padding=1)
        if self.noise:
            dx.addcmul_(noise, self.noise_0_w)
        dx = F.conv2d(self.norm_1(dx, *gbs[1], False, act=True, reuse=reuse), self.conv_1_w, self.conv_1_b,
                      padding=1)
        if self.noise:
            dx.addcmul_(noise, self.noise_1_w)
        if self.learned_shortcut:
            return dx.add_(x_s)
        if up:
            B, C, h, w = dx.shape
            dx.view(B, C, h // 2, 2, w // 2, 2).add_(x.view(B, C, h // 2, 1, w // 2, 1))
            return dx
        return dx.add_(x)


# ---- 5. generator ----------------------------------------------------------------------------

class FastGenerator(nn.Module):
    """Inference-only SPADEGenerator on class ids: forward(ids, edges, z, noise) -> (B, 3, H, W) in [-1, 1]."""

    def __init__(self, g: SPADEGenerator, dtype: torch.dtype = torch.float32, first_conv: str = "gather",
                 region_skip: bool = True, region_max_fraction: float = 0.9):
        super().__init__()
        if first_conv not in FIRST_CONV_MODES:
            raise ValueError(f"first_conv must be one of {FIRST_CONV_MODES}")
        cfg: ModelConfig = g.cfg
        self.cfg, self.dtype = cfg, dtype
        self.region_max_fraction = region_max_fraction if region_skip else 0.0
        self.sh, self.sw = cfg.latent_size
        self.num_ids = cfg.label_nc + int(cfg.contain_dontcare_label)
        self.has_edge = cfg.use_instance
        if cfg.use_vae:
            self.register_buffer("fc_w", g.fc.weight.detach().to(dtype), persistent=False)
            self.register_buffer("fc_b", g.fc.bias.detach().to(dtype), persistent=False)
        else:
            self.fc = LabelConv(g.fc, self.num_ids, self.has_edge, dtype)
            self.fc_first = FirstConv([self.fc], first_conv, relu=False, dtype=dtype)
        names = ["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"]
        if cfg.num_upsampling_layers == "most":
            names.append("up_4")
        more = cfg.num_upsampling_layers in ("more", "most")
        # which blocks start with a 2x upsampling, exactly as SPADEGenerator.forward does it
        self.ups = [False, True, more] + [True] * (len(names) - 3)
        self.blocks = nn.ModuleList([FastResBlock(getattr(g, n), self.num_ids, self.has_edge, first_conv, dtype)
                                     for n in names])
        w, b = folded_conv(g.conv_img)
        self.register_buffer("img_w", w.to(dtype).contiguous(memory_format=CL), persistent=False)
        self.register_buffer("img_b", b.to(dtype), persistent=False)
        self.eval()

    @property
    def first_conv(self) -> str:
        return self.blocks[0].first.mode

    @first_conv.setter
    def first_conv(self, mode: str) -> None:
        if mode not in FIRST_CONV_MODES:
            raise ValueError(f"first_conv must be one of {FIRST_CONV_MODES}")
        for m in self.modules():
            if isinstance(m, FirstConv):
                m.mode = mode

    def forward(self, ids: torch.Tensor, edges: torch.Tensor | None = None,
                z: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """ids: (B, H, W) long in 0..num_ids-1; edges: (B, H, W) bool or None (zeros); z: (B, z_dim);
        noise: (B, 1, H, W) for a generator with noise inputs (None: sampled)."""
        cfg, b = self.cfg, ids.shape[0]
        if cfg.noise_inject:
            if noise is None:
                noise = torch.randn(b, 1, *ids.shape[1:], device=ids.device)
            noise = noise.to(self.dtype)
        labels = LabelKeys(ids, edges, self.num_ids, self.has_edge, self.dtype, self.region_max_fraction)
        if cfg.use_vae:
            if z is None:
                raise ValueError("this generator needs a style code z")
            x = F.linear(z.to(self.dtype), self.fc_w, self.fc_b)
            x = x.view(b, 16 * cfg.ngf, self.sh, self.sw).contiguous(memory_format=CL)  # (B, 16nf, sh, sw)
        else:
            x = self.fc_first(labels, (self.sh, self.sw))[0]                            # (B, 16nf, sh, sw)
        H, W = ids.shape[1:]
        for block, up in zip(self.blocks, self.ups):
            f = H // (x.shape[2] * (2 if up else 1))  # the block's output is 1/f of the image: every f-th pixel
            x = block(x, labels, up, None if noise is None else noise[:, :, ::f, ::f])
        x = F.conv2d(F.leaky_relu(x, 0.2), self.img_w, self.img_b, padding=1)         # (B, 3, H, W)
        return torch.tanh_(x)
