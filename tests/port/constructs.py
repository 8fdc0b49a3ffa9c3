"""Small PyTorch models, one per construct beyond the notes, written the way people write
them: the torch side of tests/port/test_port_constructs.py."""

import torch
import torch.nn.functional as F
from torch import nn

from tests.port.defects import mystery


class Residual(nn.Module):
    """Residual adds, written in place (``+=``, ``relu(inplace=True)``, ``relu_``)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return out.relu_()


class Branches(nn.Module):
    """``torch.cat`` of branches on the channel axis (Inception style)."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(3, 4, 1)
        self.b3 = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 3, padding=1))
        self.pool = nn.Conv2d(3, 2, 1)
        self.fc = nn.Linear(10, 5)

    def forward(self, x):
        y = torch.cat([self.b1(x), self.b3(x), self.pool(F.avg_pool2d(x, 3, 1, 1))], dim=1)
        return self.fc(y.mean(dim=(2, 3)))


class Nested(nn.Module):
    """``nn.Sequential`` inside ``nn.Sequential``, and ``AdaptiveAvgPool2d`` + ``nn.Flatten``."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU()),
            nn.Sequential(nn.Conv2d(6, 8, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2)),
        )
        self.pool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 3 * 3, 4))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


class Functional(nn.Module):
    """``F.*`` calls in forward and ``x.view(x.size(0), -1)`` before the dense layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 3 * 3, 6)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.adaptive_avg_pool2d(F.gelu(self.conv2(x)), 3)
        x = F.dropout(x, 0.25, self.training)
        x = x.view(x.size(0), -1)
        return F.log_softmax(F.leaky_relu(self.fc(x), 0.1), dim=1)


class BagOfEmbeddings(nn.Module):
    """``nn.Embedding`` -> mean over the tokens -> ``nn.GELU`` and ``nn.LayerNorm``."""

    def __init__(self, vocab=50, dim=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 3)

    def forward(self, tokens):
        h = self.embed(tokens).mean(dim=1)
        return self.out(self.norm(self.act(self.proj(h))))


class LastStep(nn.Module):
    """``nn.LSTM(batch_first=True)``, the prediction from the last step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 12, batch_first=True)
        self.head = nn.Linear(12, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :])


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class Stack(nn.Module):
    """An ``nn.ModuleList`` loop of identical blocks (transformer-MLP style)."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


# ---- what jaxdl.port cannot port (yet): each must stop with a message naming it
class Spectral(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return mystery(self.fc(x))[:, :5]


class FFTNet(nn.Module):
    """An op without a JAX mapping (a user's custom op) inside a submodule."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.spec = Spectral()
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        return self.out(self.spec(torch.relu(self.inp(x))))


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


class GateNet(nn.Module):
    """Python control flow on a tensor's value: graph capture cannot see it."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.gate = Gate()
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.gate(torch.relu(self.inp(x))))


class DeepLSTM(nn.Module):
    """A stacked LSTM (jaxdl.layers.LSTM has num_layers since the recurrent layers were completed)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, num_layers=2)

    def forward(self, x):
        return self.lstm(x)[0]


class LayerScale(nn.Module):
    """A module's own ``nn.Parameter`` and buffer, broadcast against NCHW images."""

    def __init__(self, channels=6):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.gamma = nn.Parameter(torch.linspace(0.5, 1.5, channels).view(1, channels, 1, 1))
        self.register_buffer("shift", torch.linspace(-1.0, 1.0, channels).view(channels, 1, 1))

    def forward(self, x):
        y = self.conv(x) * self.gamma + self.shift
        return y.mean(dim=(2, 3))


# ---- many functional ops at once, on sequences and on images
class SequenceOps(nn.Module):
    """Tensor ops on (B, T, D) sequences: attention, splits, reductions, masks, shapes."""

    def __init__(self, dim=8):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, 4)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        b, t, d = q.shape
        q, k, v = (z.view(b, t, 2, d // 2).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(b, t, d)
        scores = torch.einsum("btd,bsd->bts", a, x) / d ** 0.5
        scores = scores.masked_fill(scores > 1.0, 1.0).softmax(dim=-1)
        h = torch.matmul(scores, x) + a.pow(2).clamp(max=4.0)
        h = torch.where(h > 0, h, 0.1 * h)
        first, rest = torch.split(h, [1, t - 1], dim=1)
        pooled = torch.stack([first.squeeze(1), rest.amax(dim=1), rest.std(dim=1)], dim=1).sum(dim=1)
        top, _ = h.max(dim=1)
        return self.out(pooled + top.unsqueeze(1).expand(-1, 3, -1).mean(dim=1)
                        * torch.rsqrt(h.var(dim=(1, 2)) + 1)[:, None])


class ImageOps(nn.Module):
    """Image ops written in NCHW that become NHWC: pad, channel slices and splits, a
    channel softmax, permute to channels-last, ``x * w`` with a (C, 1, 1) parameter-free
    tensor, a spatial std and ``torch.flatten(x, 1)``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.proj = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4 * 6 * 6 + 4 + 6 * 6 + 8, 5)

    def forward(self, x):
        y = self.conv(F.pad(x, (1, 1, 2, 0)))
        a, b = torch.split(y, 4, dim=1)
        a = self.proj(a[:, :, 1:-1, ::2]) * torch.softmax(b[:, :4, 1:-1, ::2], dim=1)
        w = torch.arange(4, dtype=x.dtype).view(4, 1, 1)
        a = a * w + y[:, 4:, 1:-1, ::2]
        channels_last = a.permute(0, 2, 3, 1)
        spatial = a.std(dim=(2, 3))
        first = y[:, 0, 1:-1, ::2].flatten(1)
        return self.fc(torch.cat([torch.flatten(a, 1), spatial, first,
                                  channels_last.mean(dim=(1, 2)).repeat(1, 2)], dim=1))
