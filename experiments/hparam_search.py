"""003's grid and random search over SGD's learning rate and momentum, trials vmapped.

003's hyperparameter search: grid (lr = 10**-k, k = 2..5) and random search (lr =
10**-uniform(2, 6), momentum uniform(0.85, 0.99)) for SGD with momentum, every trial a
full short training, all trials trained at once with ``jax.vmap``.

    python -m experiments.hparam_search
    python -m experiments.hparam_search --trials 20 --epochs 5

How: the optimizer is ``optax.inject_hyperparams(optax.sgd)``, so learning rate and
momentum are arrays in the optimizer state (optax's trace starts at zero, so the first
step is the gradient: torch's SGD with dampening 0). One train state per trial is
stacked on a leading axis; ``vmap(train_step)`` runs all trials on the same batches in
one compiled call. Same initial weights for every trial, so only the hyperparameters
differ. ``--sequential`` trains the trials one after another instead (to compare).

Selection never sees the test set: the trials are ranked on a validation split carved
from the training set (``--val-size``, 20% by default as the notes' "validation 10-20%
used for hyperparameter tuning"; seeded by ``--seed``, stratified by class) and trained
on the rest; the test set is evaluated once, for the chosen trial only (``test_accuracy``,
``selected_on: "val"``).
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxdl import cli, data, losses, runtime
from jaxdl.data import DataLoader
from jaxdl.harness import RunResult, finish
from jaxdl.models import MLP
from jaxdl.train import Learner, evaluate


def trial_values(kind: str, trials: int, seed: int) -> list[tuple[float, float]]:
    """(lr, momentum) pairs: the notes' grid (momentum 0.9) or random search."""
    if kind == "grid":
        return [(10.0 ** -k, 0.9) for k in range(2, 6)]
    rng = np.random.default_rng(seed)
    return [(float(10 ** -rng.uniform(2, 6)), float(rng.uniform(0.85, 0.99))) for _ in range(trials)]


def with_hyperparams(state, lrs, momenta):
    """``state`` stacked once per trial, each with its own learning rate and momentum."""
    n = len(lrs)
    stacked = jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *jnp.shape(a))), state)
    hp = dict(stacked.opt_state.hyperparams)
    hp["learning_rate"] = jnp.asarray(lrs, jnp.float32)
    hp["momentum"] = jnp.asarray(momenta, jnp.float32)
    return stacked.replace(opt_state=stacked.opt_state._replace(hyperparams=hp))


def search(learner: Learner, values, train_loader, val_loader, epochs: int, vmapped: bool = True):
    """Validation accuracy and loss per trial after ``epochs``, and the trained states
    (stacked on a leading trial axis)."""
    lrs, moms = zip(*values)
    state = with_hyperparams(learner.init_state(), lrs, moms)
    if vmapped:
        step = jax.jit(jax.vmap(learner._train_step, in_axes=(0, None)))
        evaluate = jax.jit(jax.vmap(learner._eval_step, in_axes=(0, None)))
    else:  # one trial at a time, same arithmetic
        one_step, one_eval = jax.jit(learner._train_step), jax.jit(learner._eval_step)
        per_trial = lambda f: lambda s, b: jax.tree.map(lambda *xs: jnp.stack(xs), *[
            f(jax.tree.map(lambda a, i=i: a[i], s), b) for i in range(len(values))])
        step, evaluate = per_trial(one_step), per_trial(one_eval)
    for epoch in range(epochs):
        for batch in train_loader.epoch(epoch):
            state, _ = step(state, batch)
    correct, loss_sum, n = 0, 0, 0
    for batch in val_loader:
        m = evaluate(state, batch)
        size = int(m["n"][0])
        correct, loss_sum, n = correct + np.asarray(m["correct"]), loss_sum + np.asarray(m["loss"]) * size, n + size
    return correct / n, loss_sum / n, state


def main(argv=None) -> RunResult:
    p = cli.parser("hparam_search: grid and random search over SGD lr and momentum, vmapped over trials",
                   epochs=3, batch_size=64, lr=0.01, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"],
                   val_size=0.2)
    p.add_argument("--search", choices=["random", "grid"], default="random")
    p.add_argument("--trials", type=cli.positive_int, default=10)
    p.add_argument("--sequential", action="store_true", help="train trials one by one (no vmap)")
    config = cli.parse(p, argv)
    runtime.setup(config)
    if not config.val_size:
        p.error("--val-size must be > 0: trials are ranked on the validation split, never on the test set")
    ds = data.load(config.dataset, config.data_dir).split_validation(config.val_size, seed=config.seed)
    print(f"{ds}: trials train on {len(ds.train)}, are ranked on {len(ds.val)} validation examples")
    sequential = config.extra["sequential"]
    values = trial_values(config.extra["search"], config.extra["trials"], config.seed)
    sizes = [int(np.prod(ds.train.arrays[0].shape[1:])), 128, 64, len(ds.classes)]
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=config.lr, momentum=0.9)
    learner = Learner(MLP(sizes, rngs=nnx.Rngs(config.seed)), losses.cross_entropy, tx, precision=config.precision)
    t0 = time.perf_counter()
    acc, loss, states = search(learner, values, DataLoader(ds.train, config.batch_size, shuffle=True, seed=config.seed),
                               DataLoader(ds.val, 1000), config.epochs, vmapped=not sequential)
    wall = time.perf_counter() - t0
    order = np.argsort(-acc)
    rows = [f"| {i + 1} | {values[k][0]:.2e} | {values[k][1]:.3f} | {loss[k]:.4f} | {100 * acc[k]:.2f}% |"
            for i, k in enumerate(order)]
    table = "\n".join(["| rank | learning rate | momentum | val loss | val accuracy |", "|---:|---:|---:|---:|---:|",
                       *rows])
    print(table)
    how = "one after another" if sequential else "vmapped"
    print(f"{len(values)} trials x {config.epochs} epochs in {wall:.1f} s ({how})")
    Path(config.workdir).mkdir(parents=True, exist_ok=True)
    Path(config.workdir, "results.md").write_text(table + "\n")
    best = int(order[0])
    test = evaluate(learner, jax.tree.map(lambda a: a[best], states), DataLoader(ds.test, 1000))  # once
    print(f"chosen on validation: lr {values[best][0]:.2e}, momentum {values[best][1]:.3f}; its test accuracy "
          f"{100 * test['accuracy']:.2f}% (test loss {test['loss']:.4f})")
    trials = [{"lr": v[0], "momentum": v[1], "val_accuracy": float(a), "val_loss": float(vl)}
              for v, a, vl in zip(values, acc, loss)]
    return finish(config, {"trials": trials,
                           "best": {"lr": values[best][0], "momentum": values[best][1],
                                    "val_accuracy": float(acc[best])},
                           "selected_on": "val", "test_accuracy": test["accuracy"], "test_loss": test["loss"],
                           "wall_s": wall})


if __name__ == "__main__":
    cli.run(main)
