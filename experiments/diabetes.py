"""004's wide & deep sigmoid classifier on the Pima diabetes data.

004's wide & deep classifier on the Pima diabetes data: 8-6-4-1 with sigmoids, BCE,
SGD 0.1, full batch, features scaled to [-1, 1] as the notes' ``data-diabetes.csv``.

    python -m experiments.diabetes               # 5,000 epochs: 75.3% held-out accuracy
    python -m experiments.diabetes --epochs 100  # the notes' 100 epochs: still the majority class

Three stacked sigmoids at lr 0.1 learn slowly: measured in PyTorch, the notes' 100
epochs leave every prediction at "no diabetes" (the 65% majority), 5,000 reach ~78%.
Here (154 held-out rows, stratified split): 100 epochs 64.9%; 5,000 epochs 75.3%, 77.3%,
72.7%, 74.7% for init seeds 0-3 (mean 75.0%; the default is seed 0, not the best of
them: a seed picked for its test accuracy would be selection on the test set); 8,000
epochs, seed 0: 77.9%. The epochs are fixed: the last state is tested.
"""

from __future__ import annotations

from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import WideDeep


def main(argv=None) -> RunResult:
    p = cli.parser("diabetes: the notes' wide & deep 8-6-4-1 sigmoid MLP on Pima", epochs=5000,
                   batch_size=614, lr=0.1, seed=0)
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load("pima")
    return train_and_evaluate(config, name="diabetes", data=ds, model=WideDeep(rngs=nnx.Rngs(config.seed)),
                              loss_fn=losses.bce_loss, optimizer=optim.sgd(config.lr), task="binary_probs",
                              log_every=max(1, config.epochs // 10), checkpoint_every=max(1, config.epochs // 5))


if __name__ == "__main__":
    cli.run(main)
