"""One small module per op family, written as user code, whose exported graphs together
hold every op that jaxdl.port has a handler for (tests/port/test_port_registry.py walks
the registry against them). Each returns a tuple: every output is compared with torch."""

import torch
import torch.nn.functional as F
from torch import nn


class Elementwise(nn.Module):
    def forward(self, x, y):
        a = torch.relu(x) + torch.sigmoid(y) - torch.tanh(x) * torch.exp(y / 4)
        b = torch.log(x.abs() + 1) + torch.log1p(y.abs()) + torch.sqrt(x.abs()) + torch.rsqrt(y.abs() + 1)
        c = -x + torch.sin(y) + torch.cos(x) + F.silu(y) + torch.erf(x) + torch.square(y) + torch.sign(x)
        d = torch.reciprocal(y.abs() + 1) + F.mish(x) + torch.exp2(y / 4) + F.relu6(x * 4) + F.logsigmoid(y)
        e = F.selu(x) + torch.expm1(y / 4) + F.hardswish(x * 3) + F.hardsigmoid(y * 3) + torch.floor(x * 3)
        f = torch.ceil(y * 3) + torch.round(x * 3) + torch.trunc(y * 3) + F.gelu(x) + F.gelu(y, approximate="tanh")
        g = F.hardtanh(x, -0.5, 0.5) + F.leaky_relu(y, 0.2) + F.elu(x, 0.7) + F.softplus(y, beta=2.0)
        h = x.clamp(-0.5, 0.5) + y.clamp(min=-0.1) + x.clamp(max=0.2) + x ** 2 + 2 - y + (1.0 - x)
        i = torch.maximum(x, y) + torch.minimum(x, y) + torch.remainder(x, 0.7) + torch.floor_divide(y, 0.3)
        j = (torch.atan2(x, y) + torch.fmod(x, 0.7) + torch.hypot(x, y)
             + torch.div(x, y.abs() + 1, rounding_mode="floor"))
        k = (torch.div(x, y.abs() + 1, rounding_mode="trunc") + x.pow(y.abs())
             + torch.clamp_min(x, -0.1) + torch.clamp_max(y, 0.2))
        cmp = (x > y) & (x >= 0) | (y < 0) ^ (y <= 0.5)
        logic = torch.logical_and(x > 0, y > 0) | torch.logical_or(x < 0, y < 0) ^ torch.logical_xor(x == y, x != y)
        m = torch.where(cmp, x, y) + torch.where(~logic, 1.0, y) + x.masked_fill(logic.logical_not(), 3.0)
        n = x.detach() + y.clone().contiguous() + x.to(torch.int32).float() + y.type_as(x)
        ints = x.long().bitwise_and(3) + x.long().bitwise_or(1) + x.long().bitwise_xor(2)
        return a + b + c + d + e + f + g + h + i + j + k + m + n, ints


class Reductions(nn.Module):
    def forward(self, x):
        s = x.sum(dim=1) + x.mean(dim=-1, keepdim=True).squeeze(-1) + x.amax(dim=1) + x.amin(dim=1)
        p = x.prod(dim=2) + x.var(dim=2) + x.std(dim=2, unbiased=False)
        v, i = x.max(dim=1)
        w, j = x.min(dim=2, keepdim=True)
        a = torch.argmax(x, dim=1) + torch.argmin(x, dim=2)
        sm = torch.softmax(x, dim=1) + F.log_softmax(x, dim=-1) + x.cumsum(dim=2) + x.cumprod(dim=1)
        lse = torch.logsumexp(x, dim=2)
        flags = (x > 0).all(dim=1) | (x > 1).any(dim=2)
        return s, p, v, i, w, j, a, sm, lse, flags, x.sum(), x.max(), torch.max(x, x.flip(0))


class Shapes(nn.Module):
    def forward(self, x):
        b = x.shape[0]
        a = x.view(b, -1).reshape(b, 4, 6).flatten(1).unflatten(1, (2, 12))
        t = x.permute(0, 2, 1).transpose(1, 2).t() if x.ndim == 2 else x.permute(0, 2, 1).transpose(1, 2)
        u = x.unsqueeze(1).squeeze(1).expand(b, 4, 6).repeat(1, 2, 1)
        c = torch.cat([x, x * 2], dim=1)
        s = torch.stack([x, x + 1], dim=-1)
        p, q = x.split(3, dim=2)
        r, w = x.chunk(2, dim=1)
        e, f = x.split_with_sizes([2, 4], dim=2)
        parts = x.unbind(1)
        m = x[:, 0].T @ x[:, 1] + x[:, 2].t() @ x[:, 3]
        return a, t, u, c, s, p + q, r + w, e, f, parts[0] + parts[3], m


class Indexing(nn.Module):
    def forward(self, x, idx):
        a = x[:, 1:3] + x[:, -2:]
        b = x[:, 0] + x.select(1, 2) + x.narrow(1, 1, 1).squeeze(1)
        c = x.clone()
        c[:, 0] = 1.0
        c[:, 1:3] = x[:, :2] * 2
        c[idx[:, 0]] += 1.0
        d = x[idx[:, 0]] + x.index_select(0, idx[:, 1]) + torch.gather(x, 1, idx).sum(1, keepdim=True)
        e = torch.triu(x[:, :4, None] * x[:, None, :4], diagonal=1) + torch.tril(x[:, :4, None] * x[:, None, :4])
        return a, b, c, d, e


class Creation(nn.Module):
    def forward(self, x):
        n = x.shape[1]
        z = torch.zeros(n, n) + torch.ones(n, n) + torch.full((n, n), 2.0) + torch.empty(n, n).fill_(3.0)
        r = torch.arange(n) + torch.arange(1, n + 1) + torch.arange(0, 2 * n, 2)
        like = torch.zeros_like(x) + torch.ones_like(x) + torch.full_like(x, 0.5) + torch.empty_like(x).fill_(1.0)
        new = x.new_zeros(2, n) + x.new_ones(2, n) + x.new_full((2, n), 4.0) + x.new_empty(2, n).fill_(0.0)
        lin = torch.linspace(0, 1, n)
        return z, r, like, new, lin + x[0], torch.scalar_tensor(3.0) * x


class NNOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 6) / 3)
        self.b = nn.Parameter(torch.randn(5) / 3)
        self.table = nn.Parameter(torch.randn(10, 4))

    def forward(self, img, seq, ids):
        a = F.max_pool2d(img, 2) + F.avg_pool2d(img, 2) + F.adaptive_avg_pool2d(img, 3)
        b = F.max_pool1d(seq, 2) + F.avg_pool1d(seq, 2) + F.adaptive_avg_pool1d(seq, 3)
        c = F.pad(img, (1, 2, 0, 1)) * 2
        d = F.adaptive_max_pool2d(img, 2) + F.adaptive_max_pool1d(seq, 2).sum()
        lin = F.linear(seq.transpose(1, 2), self.w, self.b)
        mm = torch.mm(seq[0].T, seq[1]) + torch.bmm(seq.transpose(1, 2), seq).sum(0) + torch.matmul(seq[0].T, seq[0])
        ein = torch.einsum("bcl,bdl->bcd", seq, seq)
        add = torch.addmm(self.b[:, None].expand(5, 5), self.w, self.w.T)
        emb = F.embedding(ids, self.table)
        drop = F.dropout(lin, 0.3, self.training)
        return a, b, c, d, lin, mm, ein, add, emb, drop


class Attention(nn.Module):
    def forward(self, q, k, v):
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        return (F.scaled_dot_product_attention(q, k, v, is_causal=True),
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.4))


FAMILIES = {
    "elementwise": (Elementwise, lambda: (torch.randn(3, 5), torch.randn(3, 5))),
    "reduce": (Reductions, lambda: (torch.randn(3, 4, 4),)),
    "shape": (Shapes, lambda: (torch.randn(3, 4, 6),)),
    "indexing": (Indexing, lambda: (torch.randn(4, 6), torch.randint(0, 4, (4, 2)))),
    "creation": (Creation, lambda: (torch.randn(3, 5),)),
    "nn": (NNOps, lambda: (torch.randn(2, 3, 6, 6), torch.randn(2, 6, 6), torch.randint(0, 10, (2, 3)))),
    "attention": (Attention, lambda: tuple(torch.randn(2, 2, 5, 4) for _ in range(3))),
}
