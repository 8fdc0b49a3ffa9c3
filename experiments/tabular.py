"""000's categorical embeddings + continuous features: the course's TabularModel.

000's categorical embeddings + continuous features (the course's ``TabularModel``):
one embedding per categorical column (size min(50, (n+1)//2)), dropout, BatchNorm on
the continuous columns, Linear-ReLU-BatchNorm-Dropout blocks.

    python -m experiments.tabular                                  # classification on statsmodels' affairs data
    python -m experiments.tabular --csv NYCTaxiFares.csv           # the course's fare regression (RMSE)

Course recipe: layers [200, 100], p 0.4, Adam 1e-3; here mini-batches of 128 for 30
epochs (the course feeds the whole table each step for 300 epochs).
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import TabularModel, embedding_sizes


def main(argv=None) -> RunResult:
    p = cli.parser("tabular: the course's TabularModel with categorical embeddings", epochs=30,
                   batch_size=128, lr=1e-3, seed=33)
    p.add_argument("--csv", default=None, help="the course's NYCTaxiFares.csv: fare regression instead")
    p.add_argument("--layers", type=cli.positive_int, nargs="+", default=[200, 100])
    p.add_argument("--dropout", type=float, default=0.4)
    config = cli.parse(p, argv)
    runtime.setup(config)
    csv = config.extra["csv"]
    ds = data.load("taxi_fares", path=csv) if csv else data.load("affairs")
    regression = csv is not None
    emb_szs = embedding_sizes(ds.info["cardinalities"])
    print(f"categorical {ds.info['cat_cols']} -> embeddings {emb_szs}; continuous {ds.info['cont_cols']}")
    model = TabularModel(emb_szs, len(ds.info["cont_cols"]), 1 if regression else len(ds.classes),
                         config.extra["layers"], p=config.extra["dropout"],
                         rngs=nnx.Rngs(params=config.seed, dropout=config.seed + 1))
    result = train_and_evaluate(config, name="tabular", data=ds, model=model,
                                loss_fn=losses.mse_loss if regression else losses.cross_entropy,
                                optimizer=optim.adam(config.lr), task="regression" if regression else "multiclass")
    if regression:
        result.metrics["test_rmse"] = float(np.sqrt(result.metrics["test_loss"]))
        print(f"test RMSE {result.metrics['test_rmse']:.3f} (fare units)")
    return result


if __name__ == "__main__":
    cli.run(main)
