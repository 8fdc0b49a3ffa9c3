"""Image augmentation on the device, jit-compatible, one key per batch (torchvision:
``RandomCrop(size, padding)``, ``RandomHorizontalFlip()``, ``TrivialAugmentWide()``).

Every function maps ``(key, images_NHWC) -> images_NHWC`` with a different random draw
per image, so they compose (:func:`compose`) and plug into
``DataLoader(..., augment=fn)``, which applies them to the training batches only, with
keys derived from (seed, epoch, batch): the same augmented batches on every run.
Value-changing ops assume images in [0, 1] (augment before normalising).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

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


def _shift(img, dx, dy):
    """Translate by whole pixels, filling with zeros."""
    h, w = img.shape[:2]
    ys, xs = jnp.arange(h)[:, None] - dy, jnp.arange(w)[None, :] - dx
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    return jnp.where(inside[..., None], img[jnp.clip(ys, 0, h - 1), jnp.clip(xs, 0, w - 1)], 0.0)


def trivial_augment(max_shift: int = 4) -> Augment:
    """TrivialAugment-style (``TrivialAugmentWide``): per image, one op drawn uniformly
    with a uniform random strength: identity, brightness, contrast, solarize, posterize,
    translate x, translate y, horizontal flip. Results clipped to [0, 1]."""
    def one(key, img):
        k_op, k_m = jax.random.split(key)
        m = jax.random.uniform(k_m)  # strength in [0, 1)
        shift = jnp.round((2 * m - 1) * max_shift).astype(jnp.int32)
        mean = img.mean()
        ops = [
            lambda: img,
            lambda: img * (0.1 + 1.8 * m),                                 # brightness 0.1..1.9
            lambda: (img - mean) * (0.1 + 1.8 * m) + mean,                 # contrast
            lambda: jnp.where(img >= m, 1.0 - img, img),                   # solarize at threshold m
            lambda: jnp.floor(img * (2 ** (2 + jnp.floor(6 * m)))) / (2 ** (2 + jnp.floor(6 * m))),  # posterize 2-7 bits
            lambda: _shift(img, shift, 0),
            lambda: _shift(img, 0, shift),
            lambda: img[:, ::-1, :],
        ]
        op = jax.random.randint(k_op, (), 0, len(ops))
        return jnp.clip(jax.lax.switch(op, ops), 0.0, 1.0).astype(img.dtype)

    def augment(key, x):
        return jax.vmap(one)(jax.random.split(key, x.shape[0]), x)
    return augment


def compose(*fns: Augment) -> Augment:
    """Apply ``fns`` in order, each with its own key (torchvision ``Compose``)."""
    def augment(key, x):
        for k, f in zip(jax.random.split(key, len(fns)), fns):
            x = f(k, x)
        return x
    return augment
