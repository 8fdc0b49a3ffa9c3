"""Small PyTorch modules, one per construct a user writes, whose exported graphs must be
covered by jaxdl.aten (tests/aten/collect_ops.py collects their ops; the port stream may
port them too).

``CONSTRUCTS`` maps a name to ``(build, inputs)``: ``build()`` returns the module,
``inputs(generator)`` a tuple of example inputs drawn from a ``torch.Generator``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def _randn(g, *shape):
    return torch.randn(*shape, generator=g)


class Conv1dNet(nn.Module):
    """Conv1d (stride, dilation, groups), the 1-d pools and adaptive pools."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, stride=2, padding=2, dilation=2, groups=2)
        self.pool = nn.MaxPool1d(3, stride=2, ceil_mode=True)
        self.avg = nn.AvgPool1d(2, count_include_pad=False, padding=1)
        self.amax = nn.AdaptiveMaxPool1d(3)
        self.aavg = nn.AdaptiveAvgPool1d(5)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return torch.cat([self.amax(self.pool(y)), self.aavg(self.avg(y))], dim=-1)


class ConvTranspose(nn.Module):
    """ConvTranspose1d and ConvTranspose2d with stride, padding, output_padding, groups."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.up2 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1)
        self.up3 = nn.ConvTranspose2d(6, 2, (2, 3), stride=(2, 1), padding=(0, 1), bias=False)

    def forward(self, x):
        seq = self.up1(x.mean(dim=2))
        img = self.up3(torch.relu(self.up2(x)))
        return seq.sum(dim=(1, 2)) + img.sum(dim=(1, 2, 3))


class DiffusionBlock(nn.Module):
    """A diffusion-style residual block: GroupNorm, SiLU, a time embedding, a skip conv."""

    def __init__(self):
        super().__init__()
        self.norm1 = nn.GroupNorm(2, 4)
        self.conv1 = nn.Conv2d(4, 8, 3, padding=1)
        self.time = nn.Linear(6, 8)
        self.norm2 = nn.GroupNorm(4, 8, eps=1e-6)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.skip = nn.Conv2d(4, 8, 1)

    def forward(self, x, t):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(t))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class InstanceNorms(nn.Module):
    """InstanceNorm2d plain and with affine + running statistics, InstanceNorm1d."""

    def __init__(self):
        super().__init__()
        self.plain = nn.InstanceNorm2d(4)
        self.tracked = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
        self.seq = nn.InstanceNorm1d(4, affine=True)

    def forward(self, x):
        return self.plain(x) + self.tracked(x) + self.seq(x.flatten(2)).view_as(x)


class LayerNorm2d(nn.Module):
    """convnext's LayerNorm over channels of an NCHW image via ``F.layer_norm``."""

    def __init__(self, channels=4):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, channels))
        self.bias = nn.Parameter(torch.linspace(-0.2, 0.2, channels))

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, 1e-6)
        return x.permute(0, 3, 1, 2)


class BatchNormCumulative(nn.Module):
    """BatchNorm with ``momentum=None`` (cumulative average). torch.export cannot capture it
    in train mode: torch computes the factor as ``1 / float(num_batches_tracked)``, a
    data-dependent value (GuardOnDataDependentSymNode)."""

    def __init__(self):
        super().__init__()
        self.cumulative = nn.BatchNorm2d(4, momentum=None)

    def forward(self, x):
        return self.cumulative(x)


class BatchNormVariants(nn.Module):
    """BatchNorm with ``affine=False``, ``track_running_stats=False``, BatchNorm1d on
    (N, C, L), and ``F.batch_norm`` on the module's own buffers."""

    def __init__(self):
        super().__init__()
        self.plain = nn.BatchNorm2d(4, affine=False)
        self.untracked = nn.BatchNorm1d(4, track_running_stats=False)
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, 4))
        self.register_buffer("mean", torch.zeros(4))
        self.register_buffer("var", torch.ones(4))

    def forward(self, x):
        y = self.plain(x)
        y = y + self.untracked(x.flatten(2)).view_as(x)
        return F.batch_norm(y, self.mean, self.var, self.weight, None, self.training, 0.2, 1e-3)


class Recurrent(nn.Module):
    """GRU, LSTM and RNN with two layers, both directions, dropout between layers."""

    def __init__(self, batch_first):
        super().__init__()
        kw = {"num_layers": 2, "bidirectional": True, "dropout": 0.25, "batch_first": batch_first}
        self.gru = nn.GRU(3, 5, **kw)
        self.lstm = nn.LSTM(10, 4, **kw)
        self.rnn = nn.RNN(8, 3, nonlinearity="relu", **kw)
        self.tanh = nn.RNN(6, 2, num_layers=1, batch_first=batch_first, bias=False)
        self.proj = nn.LSTM(3, 6, proj_size=2, batch_first=batch_first)

    def forward(self, x):
        y, h = self.gru(x)
        y, (h2, c2) = self.lstm(y)
        y, _ = self.rnn(y)
        y, _ = self.tanh(y)
        p, _ = self.proj(x)
        return y.sum() + h.sum() + h2.sum() + c2.sum() + p.sum()


class Attention(nn.Module):
    """nn.MultiheadAttention with key_padding_mask, attn_mask and need_weights."""

    def __init__(self, batch_first):
        super().__init__()
        self.batch_first = batch_first
        self.mha = nn.MultiheadAttention(8, 2, dropout=0.1, batch_first=batch_first)
        self.cross = nn.MultiheadAttention(8, 4, kdim=6, vdim=5, batch_first=batch_first)

    def forward(self, x, mem_k, mem_v, pad):
        t = x.shape[1] if self.batch_first else x.shape[0]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        y, w = self.mha(x, x, x, key_padding_mask=pad, attn_mask=causal, need_weights=True)
        z, _ = self.cross(y, mem_k, mem_v, need_weights=False)
        return z, w


class Transformer(nn.Module):
    """TransformerEncoderLayer (norm_first, gelu) and TransformerDecoderLayer with masks."""

    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation="gelu", batch_first=True,
                                       norm_first=True), num_layers=2, enable_nested_tensor=False)
        self.dec = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.1, batch_first=True)

    def forward(self, src, tgt):
        t = tgt.shape[1]
        mem = self.enc(src)
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        return self.dec(tgt, mem, tgt_mask=mask, tgt_is_causal=True)


class SDPA(nn.Module):
    """F.scaled_dot_product_attention: is_causal, a boolean mask, a float additive mask, scale."""

    def forward(self, q, k, v):
        causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        masked = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=0.3)
        bias = torch.zeros(q.shape[-2], k.shape[-2]).masked_fill(~keep, float("-inf"))
        additive = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=0.0)
        return causal + masked + additive


class Resize(nn.Module):
    """F.interpolate / nn.Upsample: nearest, nearest-exact, bilinear, bicubic, 1-d linear,
    trilinear, align_corners either way, sizes and scale factors."""

    def __init__(self):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")

    def forward(self, x):
        a = F.interpolate(x, scale_factor=2, mode="nearest")
        b = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=True)
        c = F.interpolate(x, size=(8, 8), mode="bicubic", align_corners=False)
        d = F.interpolate(x, scale_factor=2, mode="nearest-exact")
        e = F.interpolate(x.flatten(2), size=64, mode="linear").view_as(a)
        f = F.interpolate(x[:, None], size=(3, 8, 8), mode="trilinear")[:, 0]
        g = F.interpolate(x, size=(5, 7), mode="nearest")
        return a + b + c + d + e + f + self.up(x), g


class PixelShuffles(nn.Module):
    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)
        self.unshuffle = nn.PixelUnshuffle(2)

    def forward(self, x):
        return self.unshuffle(self.shuffle(x)) + x


class TiedLM(nn.Module):
    """Embedding(padding_idx), learned positions, a tied output head through F.linear."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6, padding_idx=0)
        self.pos = nn.Parameter(torch.linspace(-1, 1, 5 * 6).view(1, 5, 6))
        self.register_buffer("position_ids", torch.arange(5)[None], persistent=False)
        self.pos_emb = nn.Embedding(5, 6)

    def forward(self, tokens):
        h = self.emb(tokens) + self.pos[:, : tokens.shape[1]] + self.pos_emb(self.position_ids)
        return F.linear(h, self.emb.weight)


class Activations(nn.Module):
    """The activation layers, each once."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.PReLU(), nn.PReLU(4), nn.SELU(), nn.Mish(), nn.Hardswish(), nn.Hardsigmoid(),
            nn.ELU(0.5), nn.CELU(1.5), nn.GELU(), nn.GELU("tanh"), nn.Softplus(2.0, 3.0),
            nn.LogSigmoid(), nn.Hardtanh(-0.5, 0.5), nn.LeakyReLU(0.2), nn.ReLU6(), nn.Softsign(),
            nn.Tanhshrink(), nn.Softshrink(0.3), nn.Hardshrink(0.3), nn.Threshold(0.1, -1.0),
            nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.RReLU(), nn.Softmax(dim=1), nn.LogSoftmax(dim=1),
            nn.Softmin(dim=1),
        ])
        self.glu = nn.GLU(dim=1)

    def forward(self, x):
        out = self.glu(x).sum(dim=1, keepdim=True)
        for layer in self.layers:
            out = out + layer(x).sum(dim=1, keepdim=True)
        return out + torch.softmax(x, dim=-1, dtype=torch.float32) + F.relu6(x, inplace=False)


class StochasticDepth(nn.Module):
    """torchvision-style stochastic depth: a per-sample Bernoulli mask in training."""

    def __init__(self, p=0.25):
        super().__init__()
        self.p = p
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        if self.training:
            survival = 1.0 - self.p
            noise = torch.empty([x.shape[0], 1, 1, 1], dtype=x.dtype, device=x.device)
            noise = noise.bernoulli_(survival).div_(survival)
            y = y * noise
        return x + y


class IndexOps(nn.Module):
    """cumsum, gather, index_select, triu/tril, boolean masks, where with broadcasting,
    sort/topk/argsort, one_hot, clamp, cumprod."""

    def forward(self, x, idx):
        c = torch.cumsum(x, dim=1) + torch.cumprod(x.clamp(0.5, 1.5), dim=-1)
        g = torch.gather(x, 1, idx)
        s = torch.index_select(x, 0, idx[:, 0])
        t = torch.triu(x, diagonal=1) - torch.tril(x, -1)
        mask = x > 0
        w = torch.where(mask, x, torch.zeros(1, x.shape[1]))
        w = torch.where(x[:, :1] > 0, w, 0.5)
        values, order = torch.sort(x, dim=1, descending=True)
        top, top_i = torch.topk(x, 2, dim=1)
        hot = F.one_hot(idx[:, 0], x.shape[1]).to(x.dtype)
        rank = torch.argsort(x, dim=0).float()
        picked = x.masked_fill(~mask, 0.0) * mask.float()
        return (c + t + w + values + hot + rank + picked + order.float()).sum(dim=1) + g.sum(1) \
            + s.sum(1) + top.sum(1) + top_i.float().sum(1)


class Rotary(nn.Module):
    """Rotary position embedding: an ``inv_freq`` buffer, arange, outer product, sin/cos,
    and half-slicing with a negated cat."""

    def __init__(self, dim=8):
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @staticmethod
    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def forward(self, x):
        t = torch.arange(x.shape[-2], dtype=self.inv_freq.dtype)
        freqs = torch.einsum("i,j->ij", t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        return x * cos + self.rotate_half(x) * sin


class Masks(nn.Module):
    """Masks built in forward from arange, comparisons, diff, cumsum, masked_fill, expand."""

    def forward(self, scores, lengths, ids):
        b, t, _ = scores.shape
        pos = torch.arange(t)
        pad = pos[None, :] >= lengths[:, None]
        causal = pos[:, None] < pos[None, :]
        mask = pad[:, None, :].expand(b, t, t) | causal
        scores = scores.masked_fill(mask, float("-inf")).softmax(-1)
        starts = torch.diff(ids, dim=1, prepend=ids[:, :1]) != 0
        segment = torch.cumsum(starts.long(), dim=1)
        same = segment[:, :, None] == segment[:, None, :]
        return scores * same, (~pad).sum(dim=1), pad.any(dim=1) & (lengths > 1)


class InPlaceViews(nn.Module):
    """In-place ops on views: ``x[:, :k].fill_``, ``copy_``, ``add_``, ``index_put_``,
    ``masked_fill_``, boolean-mask assignment, ``zero_``, ``mul_`` on a select."""

    def forward(self, x, src, idx):
        x = x.clone()
        x[:, :2].fill_(0.5)
        x[:, 2:4].copy_(src)
        x[:, 4:].add_(1.0)
        x[:, 1].mul_(2.0)
        x[idx] = 0.0
        x.index_put_((idx,), torch.ones(x.shape[1]), accumulate=True)
        x.masked_fill_(x > 3.0, 3.0)
        x[x < -1.0] = -1.0
        y = torch.zeros_like(x)
        y[:, -1:].zero_()
        y[0] = x[0]
        return x + y


class OwnWeights(nn.Module):
    """Functional ops on the module's own parameters (class token, layer scale, F.conv2d,
    F.linear, F.embedding, F.layer_norm, F.normalize, F.dropout)."""

    def __init__(self):
        super().__init__()
        self.conv_w = nn.Parameter(torch.randn(6, 3, 2, 2) * 0.3)
        self.conv_b = nn.Parameter(torch.zeros(6))
        self.cls = nn.Parameter(torch.zeros(1, 1, 6))
        self.scale = nn.Parameter(torch.full((6,), 0.1))
        self.norm_w = nn.Parameter(torch.ones(6))
        self.table = nn.Parameter(torch.randn(4, 6))
        self.fc_w = nn.Parameter(torch.randn(3, 6) / math.sqrt(6))

    def forward(self, x, ids):
        y = F.conv2d(x, self.conv_w, self.conv_b, stride=2)
        tokens = y.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + F.embedding(ids, self.table)[:, :1]
        tokens = F.layer_norm(tokens, (6,), self.norm_w, None)
        tokens = tokens + self.scale * F.dropout(tokens, 0.1, self.training)
        return F.linear(F.normalize(tokens, dim=-1), self.fc_w)


class Misc(nn.Module):
    """The rest of what models write: bmm/baddbmm/addmm, einsum, chunk/unbind/stack, flip,
    roll, norms, reductions, logsumexp, F.grid_sample, cross_entropy inside forward."""

    def forward(self, x, grid, target):
        b = x.shape[0]
        m = x.flatten(2)
        a = torch.bmm(m, m.transpose(1, 2)) + torch.baddbmm(m[:, :, :2], m, m.transpose(1, 2)[:, :, :2])[..., :1]
        p = torch.addmm(torch.ones(4), m[0].T[:4], m[0][:, :4]).sum()
        q, r = m.chunk(2, dim=-1)
        u = torch.stack(torch.unbind(m, dim=1), dim=-1).flip(1).roll(1, dims=2)
        n = torch.linalg.vector_norm(m, dim=-1) + m.norm(dim=-1) + m.abs().max(dim=-1).values
        s = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        s2 = F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=True)
        lse = torch.logsumexp(m, dim=-1)
        loss = F.cross_entropy(m.mean(-1), target, label_smoothing=0.1)
        return (a.sum() + p + (q * r).sum() + u.sum() + n.sum() + s.sum() + s2.mean() + lse.sum()
                + loss + b)


def _x(shape):
    return lambda g: (_randn(g, *shape),)


CONSTRUCTS = {
    "conv1d": (Conv1dNet, _x((2, 4, 17))),
    "conv_transpose": (ConvTranspose, _x((2, 4, 5, 6))),
    "diffusion_block": (DiffusionBlock, lambda g: (_randn(g, 2, 4, 6, 6), _randn(g, 2, 6))),
    "instance_norm": (InstanceNorms, _x((2, 4, 5, 6))),
    "layer_norm2d": (LayerNorm2d, _x((2, 4, 5, 6))),
    "batch_norm_variants": (BatchNormVariants, _x((3, 4, 5, 6))),
    "batch_norm_cumulative": (BatchNormCumulative, _x((3, 4, 5, 6))),
    "recurrent_batch_first": (lambda: Recurrent(True), _x((2, 7, 3))),
    "recurrent_seq_first": (lambda: Recurrent(False), _x((7, 2, 3))),
    "attention_batch_first": (lambda: Attention(True), lambda g: (
        _randn(g, 2, 5, 8), _randn(g, 2, 4, 6), _randn(g, 2, 4, 5),
        torch.tensor([[False] * 4 + [True], [False] * 5]))),
    "attention_seq_first": (lambda: Attention(False), lambda g: (
        _randn(g, 5, 2, 8), _randn(g, 4, 2, 6), _randn(g, 4, 2, 5),
        torch.tensor([[False] * 4 + [True], [False] * 5]))),
    "transformer": (Transformer, lambda g: (_randn(g, 2, 6, 8), _randn(g, 2, 5, 8))),
    "sdpa": (SDPA, lambda g: (_randn(g, 2, 2, 5, 4), _randn(g, 2, 2, 5, 4), _randn(g, 2, 2, 5, 4))),
    "resize": (Resize, _x((2, 3, 4, 4))),
    "pixel_shuffle": (PixelShuffles, _x((2, 8, 3, 4))),
    "tied_lm": (TiedLM, lambda g: (torch.randint(0, 11, (2, 5), generator=g),)),
    "activations": (Activations, _x((2, 4, 3, 3))),
    "stochastic_depth": (StochasticDepth, _x((3, 4, 5, 5))),
    "index_ops": (IndexOps, lambda g: (_randn(g, 4, 4), torch.randint(0, 4, (4, 2), generator=g))),
    "rotary": (Rotary, _x((2, 2, 5, 8))),
    "masks": (Masks, lambda g: (_randn(g, 2, 5, 5), torch.tensor([3, 5]),
                                torch.tensor([[1, 1, 2, 2, 3], [4, 4, 4, 5, 5]]))),
    "in_place_views": (InPlaceViews, lambda g: (_randn(g, 3, 6) * 2, _randn(g, 3, 2),
                                                torch.tensor([0, 2]))),
    "own_weights": (OwnWeights, lambda g: (_randn(g, 2, 3, 4, 4), torch.tensor([[1, 3], [0, 2]]))),
    "misc": (Misc, lambda g: (_randn(g, 2, 3, 4, 4), _randn(g, 2, 3, 3, 2).clamp(-1.1, 1.1),
                              torch.tensor([1, 2]))),
}
