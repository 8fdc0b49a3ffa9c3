"""Image augmentation on the device, jit-compatible, one key per batch (torchvision:
``RandomCrop(size, padding)``, ``RandomHorizontalFlip()``, ``TrivialAugmentWide()``).

Every function maps ``(key, images_NHWC) -> images_NHWC`` with a different random draw
per image, so they compose (:func:`compose`) and plug into
``DataLoader(..., augment=fn)``, which applies them to the training batches only, with
keys derived from (seed, epoch, batch): the same augmented batches on every run.
Value-changing ops assume images in [0, 1] (augment before normalising).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def random_crop(padding: int = 4) -> Augment:
    """torchvision ``RandomCrop(H, padding)``: zero-pad by ``padding``, crop H x W at a
    random offset per image."""
    def crop(key, x):
        n, h, w, c = x.shape
        padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
        offsets = jax.random.randint(key, (n, 2), 0, 2 * padding + 1)
        one = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, c))
        return jax.vmap(one)(padded, offsets)
    return crop


def horizontal_flip(p: float = 0.5) -> Augment:
    """torchvision ``RandomHorizontalFlip(p)``: mirror each image with probability ``p``."""
    def flip(key, x):
        mask = jax.random.bernoulli(key, p, (x.shape[0], 1, 1, 1))
        return jnp.where(mask, x[:, :, ::-1, :], x)
    return flip


# ------------------------------------------------------------ TrivialAugmentWide
TRIVIAL_AUGMENT_OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                       "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
_SIGNED = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
           "Sharpness")


def trivial_augment_magnitudes(num_bins: int = 31) -> dict[str, np.ndarray | None]:
    """torchvision's ``TrivialAugmentWide._AUGMENTATION_SPACE``: each op's magnitude
    bins as float32, None for ops without one. Shear is the tangent of the shear angle,
    translation pixels (not a fraction of the size), rotation degrees, the colour ops
    ``factor - 1``, posterize bits, solarize the threshold as a fraction of the maximum
    value. Shear, translate, rotate and the four colour ops are negated with
    probability 1/2 (torchvision's signed ops).

    The bins are the exact values rounded once to float32. ``torch.linspace`` computes
    them in float32 with its vector width, 1 ulp off for some: on an AVX-512 machine its
    translate bin 15 is 15.999999, which ``int()`` makes a 15-pixel shift in torchvision
    where the bin says 16 (jaxdl shifts by 16)."""
    def linspace(lo, hi):
        return np.linspace(lo, hi, num_bins).astype(np.float32)

    colour = linspace(0.0, 0.99)
    return {"Identity": None, "ShearX": colour, "ShearY": colour, "TranslateX": linspace(0.0, 32.0),
            "TranslateY": linspace(0.0, 32.0), "Rotate": linspace(0.0, 135.0), "Brightness": colour,
            "Color": colour, "Contrast": colour, "Sharpness": colour,
            "Posterize": (8 - np.round(np.arange(num_bins) / ((num_bins - 1) / 6))).astype(np.float32),
            "Solarize": linspace(1.0, 0.0), "AutoContrast": None, "Equalize": None}


def _affine(img, theta, fill):
    """torchvision's tensor ``affine``/``rotate`` with NEAREST: ``theta`` maps each output
    pixel centre, relative to the image centre, to its source (the inverse matrix);
    ``grid_sample(align_corners=False)`` rounds half to even; outside pixels get ``fill``."""
    h, w = img.shape[:2]
    sx, sy = np.float32(0.5 * w), np.float32(0.5 * h)
    x = jnp.arange(w, dtype=jnp.float32)[None, :] - np.float32((w - 1) / 2)
    y = jnp.arange(h, dtype=jnp.float32)[:, None] - np.float32((h - 1) / 2)
    gx = x * (theta[0] / sx) + y * (theta[1] / sx) + theta[2] / sx  # normalised grid, as torchvision's
    gy = x * (theta[3] / sy) + y * (theta[4] / sy) + theta[5] / sy
    ix, iy = jnp.round((gx + 1) * sx - 0.5), jnp.round((gy + 1) * sy - 0.5)
    inside = (ix >= 0) & (ix <= w - 1) & (iy >= 0) & (iy <= h - 1)
    src = img[jnp.clip(iy, 0, h - 1).astype(jnp.int32), jnp.clip(ix, 0, w - 1).astype(jnp.int32)]
    return jnp.where(inside[..., None], src, jnp.asarray(fill, img.dtype))


def _gray(img):
    """torchvision ``rgb_to_grayscale`` (ITU-R 601-2 luma), kept in float."""
    if img.shape[-1] == 1:
        return img
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return (r * np.float32(0.2989) + g * np.float32(0.587) + b * np.float32(0.114))[..., None]


def _blend(img, other, m):
    """torchvision ``_blend`` with ratio 1 + m: ``img * (1 + m) + other * -m``, clamped."""
    return jnp.clip(img * (1 + m) + other * -m, 0.0, 1.0)


def _sharpness(img, m):
    """torchvision ``adjust_sharpness``: blend with the 3x3 smoothing (1s around a 5, over
    13) of the interior; the border pixels stay as they are."""
    h, w = img.shape[:2]
    if h <= 2 or w <= 2:
        return img
    a, b = np.float32(1 / 13), np.float32(5 / 13)
    ring = sum(img[i:h - 2 + i, j:w - 2 + j] for i in range(3) for j in range(3) if (i, j) != (1, 1))
    inner = img[1:-1, 1:-1]
    blurred = ring * a + inner * b
    return jnp.clip(img.at[1:-1, 1:-1].set(inner + (blurred - inner) * -m), 0.0, 1.0)


def _posterize(img, bits):
    """torchvision ``posterize`` of a float image: ``floor(x * 2**bits) / 2**bits``."""
    levels = jnp.exp2(bits)
    return jnp.clip(jnp.floor(img * levels), 0, levels - 1) * (1 / levels)


def _autocontrast(img):
    """torchvision ``autocontrast``: each channel stretched from [min, max] to [0, 1]."""
    lo, hi = img.min(axis=(0, 1)), img.max(axis=(0, 1))
    flat = hi == lo
    return jnp.clip((img - jnp.where(flat, 0.0, lo)) / jnp.where(flat, 1.0, hi - lo), 0.0, 1.0)


def _equalize(img):
    """torchvision ``equalize`` (PIL's lookup table): the image is quantised to 8 bits
    first (``x * 255.999`` truncated, as torchvision's ``to_dtype``), each channel's
    histogram equalised with PIL's table, and the result is a multiple of 1/255; a
    channel with fewer than 255 pixels below its top level is left quantised but not
    equalised (PIL's ``step == 0``)."""
    q = jnp.floor(img * np.float32(255.999)).astype(jnp.int32)

    def channel(v):  # (H*W,) levels 0..255
        hist = jnp.zeros(256, jnp.int32).at[v].add(1)
        cum = jnp.cumsum(hist)
        step = (v.size - hist[jnp.argmax(cum)]) // 255  # pixels not at the top level, over 255
        lut = jnp.clip((cum[:-1] + step // 2) // jnp.maximum(step, 1), 0, 255)
        lut = jnp.concatenate([jnp.zeros(1, jnp.int32), lut])
        return jnp.where(step != 0, lut[v], v)

    out = jax.vmap(channel, in_axes=1, out_axes=1)(q.reshape(-1, q.shape[-1])).reshape(q.shape)
    return out.astype(img.dtype) * np.float32(1 / 255)


def _trivial_op(name: str, img, m, fill):
    """One op of TrivialAugmentWide on one HWC image at magnitude ``m`` (a scalar)."""
    h, w = img.shape[:2]
    one, zero = jnp.ones((), jnp.float32), jnp.zeros((), jnp.float32)
    if name == "Identity":
        return img
    if name == "ShearX":  # torchvision: affine(shear=[degrees(atan(m)), 0], center=[0, 0])
        return _affine(img, jnp.stack([one, m, m * (h / 2), zero, one, zero]), fill)
    if name == "ShearY":  # affine(shear=[0, degrees(atan(m))], center=[0, 0])
        return _affine(img, jnp.stack([one, zero, zero, m, one, m * (w / 2)]), fill)
    if name in ("TranslateX", "TranslateY"):  # affine(translate=[int(m), 0]): whole pixels
        t = jnp.trunc(m)
        return _affine(img, jnp.stack([one, zero, -t, zero, one, zero] if name == "TranslateX"
                                      else [one, zero, zero, zero, one, -t]), fill)
    if name == "Rotate":  # rotate(angle=m) about the centre, counter-clockwise
        rad = jnp.deg2rad(m)
        c, s = jnp.cos(rad), jnp.sin(rad)
        return _affine(img, jnp.stack([c, -s, zero, s, c, zero]), fill)
    if name == "Brightness":  # adjust_brightness(1 + m): blend with black
        return jnp.clip(img * (1 + m), 0.0, 1.0)
    if name == "Color":  # adjust_saturation(1 + m): blend with the grey image; grey images unchanged
        return img if img.shape[-1] == 1 else _blend(img, _gray(img), m)
    if name == "Contrast":  # adjust_contrast(1 + m): blend with the mean grey level
        return _blend(img, jnp.mean(_gray(img)), m)
    if name == "Sharpness":
        return _sharpness(img, m)
    if name == "Posterize":
        return _posterize(img, m)
    if name == "Solarize":  # solarize(threshold=m): invert the pixels >= m
        return jnp.where(img >= m, 1.0 - img, img)
    if name == "AutoContrast":
        return _autocontrast(img)
    if name == "Equalize":
        return _equalize(img)
    raise ValueError(f"unknown TrivialAugmentWide op {name!r}; ops: {', '.join(TRIVIAL_AUGMENT_OPS)}")


def _check_channels(x):
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"TrivialAugmentWide takes NHWC images with 1 or 3 channels, got shape {x.shape}")


def apply_op(images_NHWC: jax.Array, name: str, magnitude: float, fill: float = 0.0) -> jax.Array:
    """One TrivialAugmentWide op at one magnitude on every image (torchvision:
    ``TrivialAugmentWide._apply_image_or_video_transform``, e.g. ``apply_op(x, "Rotate", -30.0)``).
    Float images in [0, 1], NHWC, 1 or 3 channels; jittable (``name`` static)."""
    _check_channels(images_NHWC)
    m = jnp.asarray(magnitude, jnp.float32)
    return jax.vmap(lambda img: _trivial_op(name, img, m, fill))(images_NHWC)


def trivial_augment(num_magnitude_bins: int = 31, fill: float = 0.0) -> Augment:
    """torchvision ``TrivialAugmentWide(num_magnitude_bins=31, interpolation=NEAREST,
    fill=None)``, per image: one of :data:`TRIVIAL_AUGMENT_OPS` drawn uniformly, one of
    its ``num_magnitude_bins`` magnitudes (:func:`trivial_augment_magnitudes`) drawn
    uniformly, negated with probability 1/2 for the signed ops. Float NHWC images in
    [0, 1] with 1 or 3 channels; all in one jitted function, on the device.

    Each op is torchvision's kernel for float images (tests/test_augment.py, against
    ``torchvision.transforms.v2.functional`` on real images): identical there for Identity,
    Translate, Rotate, Brightness, Posterize, Solarize and Equalize; within 1.5e-7
    (float32 sums in another order) for Color, Contrast, Sharpness and AutoContrast;
    the shears pick the same source pixels except where a source coordinate lies
    exactly half-way between two pixels, a tie that float rounding breaks either way
    (measured: 12 of 18,432 values at one magnitude). Where torchvision works on uint8
    images (the usual PIL/uint8 pipeline), float math gives other values: the colour
    ops (Brightness, Color, Contrast, Sharpness, AutoContrast) keep fractions where
    uint8 truncates to the level below (up to 1/255 apart); Posterize gives
    ``floor(x * 2**bits) / 2**bits`` (multiples of 1/2**bits; 8 bits is not the
    identity: 1.0 becomes 255/256) where uint8 clears low bits (multiples of
    2**(8-bits)/255); Equalize quantises to 8 bits first, as torchvision does for
    float input. Unlike torchvision's transform, which draws one op for a whole batch
    tensor, every image draws its own.
    """
    tables = trivial_augment_magnitudes(num_magnitude_bins)
    table = jnp.asarray(np.stack([tables[n] if tables[n] is not None else np.zeros(num_magnitude_bins, np.float32)
                                  for n in TRIVIAL_AUGMENT_OPS]))
    signed = jnp.asarray([n in _SIGNED for n in TRIVIAL_AUGMENT_OPS])
    branches = [lambda img, m, name=name: _trivial_op(name, img, m, fill) for name in TRIVIAL_AUGMENT_OPS]

    def one(key, img):
        k_op, k_bin, k_sign = jax.random.split(key, 3)
        op = jax.random.randint(k_op, (), 0, len(TRIVIAL_AUGMENT_OPS))
        m = table[op, jax.random.randint(k_bin, (), 0, num_magnitude_bins)]
        m = jnp.where(signed[op] & jax.random.bernoulli(k_sign), -m, m)
        return jax.lax.switch(op, branches, img, m)

    def augment(key, x):
        _check_channels(x)
        return jax.vmap(one)(jax.random.split(key, x.shape[0]), x)
    return augment


def compose(*fns: Augment) -> Augment:
    """Apply ``fns`` in order, each with its own key (torchvision ``Compose``)."""
    def augment(key, x):
        for k, f in zip(jax.random.split(key, len(fns)), fns):
            x = f(k, x)
        return x
    return augment
