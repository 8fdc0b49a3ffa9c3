"""004's logistic regression on the hours data, with predictions for 1 and 7 hours.

004's logistic regression on the hours data: sigmoid(Linear(1, 1)), BCE, SGD 0.01,
1000 full-batch epochs; predictions for 1 and 7 hours.

    python -m experiments.logistic_regression
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from jaxdl import cli, losses, optim, runtime
from jaxdl.data import ArrayDataset, Data
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import LogisticRegression


def main(argv=None) -> RunResult:
    p = cli.parser("logistic_regression: sigmoid(Linear(1, 1)) with BCE on hours studied -> pass",
                   epochs=1000, batch_size=4, lr=0.01, seed=0)
    config = cli.parse(p, argv)
    runtime.setup(config)
    x = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    y = np.array([[0.0], [0.0], [1.0], [1.0]], np.float32)
    ds = Data("hours", ArrayDataset(x, y), ArrayDataset(x, y), ["fail", "pass"],
              source="004's x_data / y_data (evaluated on the training points)")
    result = train_and_evaluate(
        config, name="logistic_regression", data=ds, model=LogisticRegression(1, rngs=nnx.Rngs(config.seed)),
        loss_fn=losses.bce_loss, optimizer=optim.sgd(config.lr), task="binary_probs", eval_batch_size=4,
        shuffle=False, log_every=max(1, config.epochs // 10), checkpoint_every=config.epochs)
    state, learner = result.state, result.learner
    for hours in (1.0, 7.0):
        prob = float(np.asarray(learner.predict(state, np.array([[hours]], np.float32)))[0, 0])
        print(f"predict {hours:g} hour(s): p = {prob:.4f} -> {prob > 0.5}")
        result.metrics[f"p_pass_{hours:g}h"] = prob
    return result


if __name__ == "__main__":
    cli.run(main)
