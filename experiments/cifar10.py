"""004's CIFAR-10 classifier Net, SGD with momentum on images normalised to [-1, 1].

004's CIFAR-10 classifier ``Net`` (conv 3-6-16 k5, fc 400-120-84-10): cross-entropy,
SGD lr 0.001 momentum 0.9, batch 4, 2 epochs, images normalised to [-1, 1] as the
notes' ``Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))``; per-class accuracy and a grid
of test images with predicted (true) labels.

    python -m experiments.cifar10 --data-dir ~/data      # a folder with cifar-10-batches-py/
    python -m experiments.cifar10 --download             # fetch it (163 MB, MD5-checked)
    python -m experiments.cifar10 --model cnn            # 002's smaller CNN
    python -m experiments.cifar10 --augment              # random crop (padding 4) + horizontal flip

With ``--augment`` the crop pads the normalised image with 0 (mid-grey), where
torchvision, cropping before ``Normalize``, pads with black.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, plots, runtime
from jaxdl.data.augment import compose, horizontal_flip, random_crop
from jaxdl.data.errors import DataNotFoundError
from jaxdl.data.image_transforms import Normalize
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import CNN, CifarNet

MODELS = {"net": CifarNet, "cnn": CNN}


def main(argv=None) -> RunResult:
    p = cli.parser("cifar10: the notes' CIFAR-10 Net", epochs=2, batch_size=4, lr=0.001, seed=0,
                   datasets=["cifar10"])
    p.add_argument("--model", choices=list(MODELS), default="net", help="net: 004's Net; cnn: 002's CNN")
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.9)
    p.add_argument("--download", action="store_true", help="download CIFAR-10 if no local copy is found")
    p.add_argument("--augment", action="store_true", help="random crop and horizontal flip of training images")
    config = cli.parse(p, argv)
    runtime.setup(config)
    try:
        ds = data.load("cifar10", config.data_dir, download=config.download)
    except DataNotFoundError as e:
        raise DataNotFoundError(f"{e}\nor: python -m experiments.cifar10 --download") from None
    ds = ds.map(x=Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)))
    model = MODELS[config.extra["model"]](rngs=nnx.Rngs(config.seed))
    augment = compose(random_crop(4), horizontal_flip()) if config.extra["augment"] else None
    result = train_and_evaluate(config, name="cifar10", data=ds, model=model, loss_fn=losses.cross_entropy,
                                optimizer=optim.sgd(config.lr, momentum=config.extra["momentum"]), augment=augment)
    x, y = ds.test[:32]
    pred = np.asarray(result.learner.predict(result.state, x)).argmax(1)
    path = plots.image_grid(x * 0.5 + 0.5, f"{config.workdir}/test_images.png", true=y, pred=pred,
                            class_names=ds.classes)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    cli.run(main)
