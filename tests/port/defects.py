"""Small PyTorch models, one per defect that jaxdl.port had on the models people bring
(issue 20): the torch side of tests/port/test_port_defects.py. Each is written the way
the public model libraries write it."""

import dataclasses
import math
from collections import OrderedDict
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


# ---- 1. a value in torch order (channel shuffle) feeding convolutions
def channel_shuffle(x, groups: int):
    """torchvision.models.shufflenetv2.channel_shuffle."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)


class ShuffleUnit(nn.Module):
    """torchvision's ShuffleNetV2 InvertedResidual, small."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        branch = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, bias=False), nn.BatchNorm2d(branch), nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, bias=False), nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True), nn.Conv2d(branch, branch, 3, stride, 1, groups=branch, bias=False),
            nn.BatchNorm2d(branch), nn.Conv2d(branch, branch, 1, bias=False), nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class TinyShuffleNet(nn.Module):
    """Channels == height == width (8) after the first unit: a transposed layout runs and is wrong."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.stage2 = nn.Sequential(ShuffleUnit(8, 8, 2), ShuffleUnit(8, 8, 1), ShuffleUnit(8, 8, 1))
        self.conv5 = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 1))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.conv5(self.stage2(self.conv1(x)))
        return self.fc(x.mean([2, 3]))


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + torch.relu(self.conv(x))


class CalledTwice(nn.Module):
    """One block called on an NHWC value and again on a value in torch's order."""

    def __init__(self):
        super().__init__()
        self.block = Residual(4)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = self.block(x)
        y = self.block(channel_shuffle(y, 2))
        return self.head(y)


# ---- 2. in-place ops
class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        result = self.block(x)
        result += x  # torchvision mobilenet_v3's InvertedResidual
        return result


class InPlace(nn.Module):
    """``+=`` on a submodule's output, in-place dropout after a flatten, ``fill_``/``copy_``
    on slices, ``index_put_`` through ``x[idx] = v``."""

    def __init__(self):
        super().__init__()
        self.se = SE(4)
        self.drop = nn.Dropout(0.2, inplace=True)
        self.fc = nn.Linear(4 * 4 * 4, 6)

    def forward(self, x):
        y = self.fc(self.drop(torch.flatten(self.se(x), 1)))
        y[:, :2].fill_(0.5)
        z = torch.zeros_like(y)
        z[:, 3:].copy_(y[:, :3])
        z[:, torch.tensor([0, 2])] = y[:, 4:].sum(dim=1, keepdim=True)
        return y * z


# ---- 3. named children
class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk_output = nn.Sequential(OrderedDict([
            ("block1", nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())),
            ("block2", nn.Conv2d(4, 4, 1))]))
        self.features = nn.Sequential()
        self.features.add_module("block1-0", nn.Conv2d(4, 4, 1))
        self.features.add_module("norm-1", nn.BatchNorm2d(4))

    def forward(self, x):
        return self.features(self.trunk_output(x)).mean(dim=(2, 3))


# ---- 4. instances of one class that differ in children and in forward
class Unit(nn.Module):
    def __init__(self, c, extra, mode):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)
        self.extra = nn.Conv2d(c, c, 1) if extra else None
        self.mode = mode

    def forward(self, x):
        x = self.conv(x)
        if self.extra is not None:
            x = self.extra(x)
        if self.mode == "neg":
            x = -x
        return x


class Units(nn.Module):
    """densenet's case: a discriminating argument after an optional child."""

    def __init__(self):
        super().__init__()
        self.units = nn.Sequential(Unit(3, True, "pos"), Unit(3, False, "pos"), Unit(3, False, "neg"))

    def forward(self, x):
        return self.units(x)


# ---- 5. what cannot be captured stays a stub that raises
@torch.library.custom_op("jaxdl_port_tests::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    """An op no converter can know (a user's custom op)."""
    return x.sin() * 2


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


class Mystery(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Linear(4, 4)

    def forward(self, x):
        return mystery(self.scale(x))


class WithStubs(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(4, 4), nn.SELU(), Mystery(), nn.Linear(4, 2))

    def forward(self, x):
        return self.seq(x)


class Selu(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(4, 4), nn.SELU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.seq(x)


# ---- 6. weight tying
class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 20, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, tokens):
        return self.head(torch.tanh(self.mix(self.emb(tokens))))


class TiedSame(nn.Module):
    """Two layers of the same kind sharing one weight."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class SharedModule(nn.Module):
    """One module registered under two names (a shared embedding)."""

    def __init__(self):
        super().__init__()
        self.encoder_embed = nn.Embedding(12, 6)
        self.decoder_embed = self.encoder_embed
        self.out = nn.Linear(6, 3)

    def forward(self, src, tgt):
        return self.out(self.encoder_embed(src).mean(1) + self.decoder_embed(tgt).mean(1))


# ---- 7. float32 rounding beyond 1e-5 of the scale in a correct port
class Cancel(nn.Module):
    """Two nearly equal large dot products subtracted: float32 keeps ~1e-3 of the result."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(512, 4, bias=False)
        self.b = nn.Linear(512, 4, bias=False)
        with torch.no_grad():
            self.a.weight.mul_(1000.0)
            self.b.weight.copy_(self.a.weight * (1 + 1e-6))

    def forward(self, x):
        return self.a(x) - self.b(x)


# ---- more defects from public model libraries
class OneField(NamedTuple):
    last_hidden_state: torch.Tensor


@dataclasses.dataclass
class Output:
    logits: torch.Tensor


torch.utils._pytree.register_dataclass(Output)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return OneField(torch.tanh(self.fc(x)))


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, h):
        return Output(self.fc(h))


class OneFieldOutputs(nn.Module):
    """Submodules returning one-field output objects (a NamedTuple, a dataclass)."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = Head()

    def forward(self, x):
        (h,) = self.encoder(x)
        return self.head(h).logits


class Positions(nn.Module):
    """BERT-style: position ids as a non-persistent buffer, looked up in an nn.Embedding;
    rotary ``inv_freq`` non-persistent too."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(10, 8)
        self.pos = nn.Embedding(6, 8)
        self.register_buffer("position_ids", torch.arange(6).expand((1, -1)), persistent=False)
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, 8, 2).float() / 8)), persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        h = self.tok(ids) + self.pos(self.position_ids[:, :t])
        freqs = torch.arange(t, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        return h + torch.cat([freqs.sin(), freqs.cos()], dim=-1)


class AdditiveMask(nn.Module):
    """F.scaled_dot_product_attention with a float additive mask (-inf where masked)."""

    def forward(self, q, k, v):
        t = q.shape[-2]
        bias = torch.zeros(t, t).masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        bias = bias + torch.linspace(0, 1, t)  # not only 0 and -inf: a real bias
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


class DropPath(nn.Module):
    """timm's DropPath: returns its input unchanged in eval mode."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class PassThrough(nn.Module):
    """A submodule call that returns its input, whose result is then changed in place."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop_path = DropPath(0.0)  # returns its input in training too

    def forward(self, x):
        y = self.drop_path(self.fc(x))
        y += 1.0
        return y * self.drop_path(x)


class SquareParam(nn.Module):
    """A (32, 32) parameter used directly."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(32, 32) / 8)

    def forward(self, x):
        return x @ self.w


class NoGrad(nn.Module):
    """A forward decorated with @torch.no_grad() (inference code in model libraries)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    @torch.no_grad()
    def forward(self, x):
        return self.fc(x).softmax(-1)


class VmapMask(nn.Module):
    """A padding mask built with torch.vmap over the batch."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, lengths):
        t = x.shape[1]
        mask = torch.vmap(lambda n: torch.arange(t) < n)(lengths)
        return self.fc(x).masked_fill(~mask[:, :, None], 0.0)


# ---- torchvision sweep: swin_v2, maxvit, deeplabv3, segmentation backbones
class ContinuousPositionBias(nn.Module):
    """swin_v2's attention, small: an MLP (an nn.Sequential) called on a buffer (the
    log-spaced coordinates table), its output indexed by another buffer; cosine attention
    with ``F.normalize`` and a clamped, exponentiated ``logit_scale`` parameter; a bias
    cloned and partly zeroed in the forward."""

    def __init__(self, dim=8, heads=2, window=3):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))) + torch.randn(heads, 1, 1))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 16), nn.ReLU(inplace=True), nn.Linear(16, heads, bias=False))
        r = torch.arange(-(window - 1), window, dtype=torch.float32)
        table = torch.stack(torch.meshgrid([r, r], indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
        table = table / (window - 1) * 8
        self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0)
        coords = torch.flatten(torch.stack(torch.meshgrid([torch.arange(window)] * 2, indexing="ij")), 1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += window - 1
        rel[:, :, 1] += window - 1
        rel[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", rel.sum(-1).flatten())

    def forward(self, x):  # (B, N = window * window, C)
        n = self.window * self.window
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        bias = table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        bias = 16 * torch.sigmoid(bias)
        qkv_bias = self.qkv.bias.clone()
        length = qkv_bias.numel() // 3
        qkv_bias[length:2 * length].zero_()
        b, _, c = x.shape
        qkv = F.linear(x, self.qkv.weight, qkv_bias).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp() + bias
        x = attn.softmax(dim=-1).matmul(v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class GridStage(nn.Module):
    """maxvit's MaxVitBlock, small: an nn.ModuleList of a different length per instance,
    walked by a loop that returns its last value, and a forward that depends on a pair
    attribute (``grid_size = (g, g)``, which a constructor argument prints as ``g``)."""

    def __init__(self, c, n, grid):
        super().__init__()
        self.grid_size = (grid, grid)
        self.layers = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(n))

    def forward(self, x):
        if self.grid_size[0] > 4:
            x = torch.relu(x)
        for layer in self.layers:
            x = layer(x)
        return x


class GridStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([GridStage(4, 2, 8), GridStage(4, 3, 4), GridStage(4, 2, 2)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class PoolingBranch(nn.Sequential):
    """deeplabv3's ASPPPooling: an nn.Sequential subclass with a forward of its own (its
    layers in a loop, then ``F.interpolate`` back to the input's size)."""

    def __init__(self, cin, cout):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())

    def forward(self, x):
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class PyramidPooling(nn.Module):
    """deeplabv3's ASPP, small: branches in an nn.ModuleList, concatenated on channels."""

    def __init__(self, cin=4, cout=3):
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()),
            nn.Sequential(nn.Conv2d(cin, cout, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()),
            PoolingBranch(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(3 * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        res = []
        for conv in self.convs:
            res.append(conv(x))
        return self.project(torch.cat(res, dim=1))


class LayerGetter(nn.ModuleDict):
    """torchvision's IntermediateLayerGetter: an nn.ModuleDict of a backbone's layers,
    named '0', '1', ... after their index in its nn.Sequential; returns some of their
    outputs in a dict."""

    def __init__(self, model, return_layers):
        layers = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            if name == max(return_layers, key=int):
                break
        super().__init__(layers)
        self.return_layers = return_layers

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class SegmentationBackbone(nn.Module):
    """deeplabv3_mobilenet_v3_large / lraspp's backbone, small."""

    def __init__(self):
        super().__init__()
        features = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.Hardswish()),
                                 nn.Conv2d(4, 4, 3, 1, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, 2, 1), nn.Conv2d(6, 6, 1))
        self.backbone = LayerGetter(features, {"1": "low", "3": "high"})
        self.head = nn.Conv2d(6, 2, 1)
        self.low = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        size = x.shape[-2:]
        features = self.backbone(x)
        high = F.interpolate(self.head(features["high"]), size=features["low"].shape[-2:], mode="bilinear",
                             align_corners=False)
        out = F.interpolate(high + self.low(features["low"]), size=size, mode="bilinear", align_corners=False)
        return OrderedDict([("out", out)])


class Token(nn.Module):
    def __init__(self):
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 4))

    def forward(self, x):
        return x + self.cls, self.cls


class ParametersAsValues(nn.Module):
    """A submodule that returns its own parameter; a torch layer called on its parent's
    parameter (``self.norm(self.pos)``); an nn.Sequential whose first layer, a convolution,
    takes a (1, C, H, W) parameter (NHWC: the caller converts it)."""

    def __init__(self):
        super().__init__()
        self.tok = Token()
        self.pos = nn.Parameter(torch.randn(3, 4))
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 4)
        self.grid = nn.Parameter(torch.randn(1, 2, 3, 4))
        self.grid_mlp = nn.Sequential(nn.Conv2d(2, 1, 1), nn.ReLU())

    def forward(self, x):
        y, c = self.tok(x)
        return self.fc(y + self.norm(self.pos)) * c + self.grid_mlp(self.grid)[0, 0]
