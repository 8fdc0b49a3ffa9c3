"""The training engine: a train state pytree, pure jitted steps, and the ``fit`` loop.

The PyTorch loop of the notes::

    y_pred = model(x); loss = criterion(y_pred, y)
    optimizer.zero_grad(); loss.backward(); optimizer.step()

becomes one pure function, ``train_step(state, batch) -> (state, metrics)``, compiled
once with ``jax.jit``: the gradient is a return value (``jax.value_and_grad``), so there
is no ``zero_grad``; the update returns new parameters instead of mutating them; the
model's mutable state (BatchNorm running statistics, the dropout RNG) travels in the
train state. ``model.train()`` / ``model.eval()`` become two graph definitions fixed at
construction: ``train_step`` runs the training one, ``eval_step`` and ``predict`` the
evaluation one (torch: ``model.eval()`` + ``torch.no_grad()``).

Steps take and return plain dicts of arrays (``nnx.split`` + ``to_pure_dict``) under
``jax.jit``, which keeps the per-step Python overhead small (``nnx.jit`` re-splits the
model at every call; docs/speed.md has the figures).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxdl.data.arrays import DeviceBatch
from jaxdl.metrics import TASKS, confusion_matrix, predict_labels
from jaxdl.precision import Policy, full_precision_mask, policy

LossFn = Callable[[jax.Array, jax.Array], jax.Array]

STEPS_PER_CALL = 32  # fit's default: batches stacked into one train_steps call
MAX_SKIPPED_FRACTION = 0.5  # skip_nonfinite: an epoch that skipped more of its steps stops the run


@flax.struct.dataclass
class TrainState:
    """Everything that changes while training (torch: ``model.state_dict()`` plus
    ``optimizer.state_dict()``), as a pytree of arrays that checkpoints as it is."""

    params: Any  # nnx.Param leaves, a nested dict (torch: the parameters)
    model_state: Any  # the rest of the model: BatchNorm statistics, dropout RNG (torch: buffers)
    opt_state: Any  # optax state (torch: optimizer.state_dict())
    step: jax.Array  # optimizer steps taken


class NonFiniteLossError(FloatingPointError):
    """The loss or a gradient became NaN/Inf during an epoch; nothing of that epoch was saved."""


class Learner:
    """A model, its loss and its optimizer, with the compiled steps that train them
    (torch: the ``model`` / ``criterion`` / ``optimizer`` triple of a training script).

    ``task`` selects what accuracy means: ``'multiclass'`` (argmax), ``'binary'`` (logit
    > 0), ``'binary_probs'`` (probability >= 0.5) or ``'regression'`` (no accuracy).
    With ``num_classes`` the eval step also accumulates a confusion matrix.
    Every step reports whether its loss and updates were finite (a NaN/Inf gradient gives
    a NaN/Inf update; the gradient of a parameter frozen by :func:`jaxdl.optim.freeze` is
    not looked at, so XLA does not compute it, as torch skips ``requires_grad = False``
    parameters; docs/speed.md has the figures); ``fit`` stops at the
    end of an epoch that had a NaN/Inf step, before any checkpoint of it is written (the
    state in memory is then unusable; the checkpoints on disk are intact).
    ``skip_nonfinite=True`` instead leaves the state unchanged on such a step and goes
    on (torch has no such guard). It costs time: the old state must be kept until the
    step knows, which stops XLA from updating in place, so it is off by default.
    Constructing a Learner changes no process-wide setting: for the experiments' CPU
    speed call :func:`jaxdl.runtime.setup` once (as the experiments do).
    ``precision="bf16"``: mixed precision (torch: ``torch.autocast(dtype=torch.bfloat16)``
    in the loop): the forward and backward pass compute in bfloat16, parameters,
    optimizer state, losses and BatchNorm statistics stay float32 (:mod:`jaxdl.precision`).

    Args:
        model: the Flax NNX model; its current weights are the initial state.
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` (:mod:`jaxdl.losses`).
        optimizer: an optax transformation (:mod:`jaxdl.optim`: torch's SGD, Adam, AdamW).
        task: ``'multiclass'``, ``'binary'``, ``'binary_probs'`` or ``'regression'``.
        num_classes: classes of the confusion matrix the eval step accumulates (None: none).
        skip_nonfinite: leave the state unchanged on a NaN/Inf step instead of stopping.
        parallel: a :class:`jaxdl.parallel.DataParallel` to shard batches over devices, or None.
        precision: ``'f32'`` or ``'bf16'`` (or a :class:`jaxdl.precision.Policy`).
    """

    def __init__(self, model: nnx.Module, loss_fn: LossFn, optimizer: optax.GradientTransformation,
                 *, task: str = "multiclass", num_classes: int | None = None,
                 skip_nonfinite: bool = False, parallel=None, precision: str | Policy = "f32"):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if task.startswith("binary"):
            num_classes = 2 if num_classes is None else num_classes
        self.task, self.num_classes, self.skip_nonfinite = task, num_classes, skip_nonfinite
        self.parallel = parallel  # a jaxdl.parallel.DataParallel, or None for one device
        self.loss_fn, self.tx = loss_fn, optimizer
        model.train()
        self.policy, self._full_precision = policy(precision), full_precision_mask(model)
        if parallel is not None:
            parallel.prepare(model)  # BatchNorm statistics: global or per replica
        self.graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        model.eval()
        self.graphdef_eval = nnx.split(model, nnx.Param, ...)[0]
        model.train()
        self._params0, self._rest0 = params.to_pure_dict(), rest.to_pure_dict()
        self.train_step = jax.jit(self._train_step, donate_argnums=0)
        self.train_steps = jax.jit(self._train_steps, donate_argnums=0, static_argnames="keep_states")
        self.eval_step = jax.jit(self._eval_step)
        self.predict = jax.jit(self._predict)

    # -------------------------------------------------------------- state
    def init_state(self) -> TrainState:
        """A fresh train state from the model's initial weights (copied: steps donate it)."""
        params = jax.tree.map(jnp.array, self._params0)
        rest = jax.tree.map(jnp.array, self._rest0)
        state = TrainState(params, rest, self.tx.init(params), jnp.zeros((), jnp.int32))
        return self.parallel.replicate(state) if self.parallel else state

    def shard(self, batch):
        """``batch`` placed for the step: split over the devices with ``parallel``."""
        return self.parallel.shard(batch) if self.parallel else batch

    def model(self, state: TrainState, *, train: bool = False) -> nnx.Module:
        """The NNX module holding ``state``'s weights, in eval mode unless ``train``."""
        graphdef = self.graphdef if train else self.graphdef_eval
        return nnx.merge(graphdef, state.params, state.model_state, copy=True)

    # -------------------------------------------------------------- steps (pure)
    def _batch_metrics(self, loss, outputs, y, mask=None) -> dict:
        n = outputs.shape[0]
        m = {"loss": loss, "n": jnp.asarray(n, jnp.int32) if mask is None else jnp.sum(mask, dtype=jnp.int32)}
        if self.task != "regression":
            preds = predict_labels(outputs, self.task)
            hit = preds == y.reshape(n).astype(preds.dtype)
            m["correct"] = jnp.sum(hit if mask is None else hit & mask).astype(jnp.int32)
        return m

    def _train_step(self, state: TrainState, batch) -> tuple[TrainState, dict]:
        if isinstance(batch, DeviceBatch):  # gathered, converted and augmented here, inside the step
            batch = batch.materialize()
        *xs, y = batch  # (x, y), or (x_cat, x_cont, y) for models with several inputs

        def loss_of(params):
            outputs, model = self._apply(self.graphdef, params, state.model_state, xs)
            loss = self.loss_fn(outputs, y)
            return loss, (outputs, nnx.state(model, nnx.Not(nnx.Param)).to_pure_dict())

        (loss, (outputs, model_state)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # checked on the updates, not the raw gradients: a NaN/Inf gradient makes its
        # update non-finite, while a frozen leaf's gradient (optim.freeze) is then used
        # nowhere and XLA never computes it, as torch skips requires_grad=False tensors
        finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates)]))
        if self.skip_nonfinite:
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
            new_state = TrainState(keep(params, state.params), keep(model_state, state.model_state),
                                   keep(opt_state, state.opt_state), state.step + finite.astype(jnp.int32))
        else:
            new_state = TrainState(params, model_state, opt_state, state.step + 1)
        metrics = self._batch_metrics(loss, outputs, y)
        metrics["nonfinite"] = (~finite).astype(jnp.int32)
        metrics["step"] = state.step
        return new_state, metrics

    def _train_steps(self, state: TrainState, batches, keep_states: bool = False):
        """``train_steps(state, batches)``: k training steps in one compiled call.

        ``batches`` is a batch tuple whose arrays hold k batches stacked on a new leading
        axis, or a stacked :class:`~jaxdl.data.arrays.DeviceBatch` (``DataLoader.feed``:
        each step gathers and converts its own batch); ``lax.scan`` runs ``train_step``
        over them on the device and returns the last state and each step's metrics
        stacked. It gives the same results as k ``train_step`` calls without k Python
        dispatches (docs/speed.md has the speed-ups). ``fit`` uses it by default.
        ``keep_states=True`` also returns the state after every step,
        stacked (``fit`` trains several one-batch epochs per call so).
        """
        if isinstance(batches, DeviceBatch):
            parts, one = batches.per_step()
            step = lambda s, part: self._train_step(s, one(part))
        else:
            parts, step = batches, self._train_step
        if not keep_states:
            return jax.lax.scan(step, state, parts)

        def step_keeping(s, part):
            s, m = step(s, part)
            return s, (m, s)
        state, (metrics, states) = jax.lax.scan(step_keeping, state, parts)
        return state, metrics, states

    def _apply(self, graphdef, params, model_state, xs) -> tuple[Any, nnx.Module]:
        """The model's outputs on ``xs`` under the precision policy (parameters and
        inputs cast to its compute dtype, outputs back to float32), and the model."""
        model = nnx.merge(graphdef, self.policy.cast_params(params, self._full_precision), model_state, copy=True)
        return self.policy.cast_to_output(model(*self.policy.cast_to_compute(xs))), model

    def _predict(self, state: TrainState, *xs: jax.Array) -> jax.Array:
        return self._apply(self.graphdef_eval, state.params, state.model_state, xs)[0]

    def _eval_step(self, state: TrainState, batch, mask=None) -> dict:
        """``eval_step(state, batch[, mask])``: the batch's metrics; with ``mask`` (N,)
        bool, the rows where it is False (an evaluation loader's padding) count nowhere:
        not in the loss, ``n``, ``correct`` or the confusion matrix. The masked loss is
        the mean of each example's loss alone (a batch of one), which equals the batch
        loss for a loss that is a mean over examples (every jaxdl loss with 'mean')."""
        *xs, y = batch
        outputs = self._predict(state, *xs)
        if mask is None:
            loss = self.loss_fn(outputs, y)
        else:
            each = jax.vmap(lambda o, t: self.loss_fn(o[None], t[None]))(outputs, y)
            loss = jnp.sum(jnp.where(mask, each, 0.0)) / jnp.maximum(jnp.sum(mask), 1)
        m = self._batch_metrics(loss, outputs, y, mask)
        if self.num_classes:
            m["confusion"] = confusion_matrix(y, predict_labels(outputs, self.task), self.num_classes, mask)
        return m


# ------------------------------------------------------------------ the loop
class Callback(Protocol):
    def on_epoch_end(self, epoch: int, state: TrainState, logs: dict) -> bool | None:
        """Called after each epoch (1-based) with its logs; return True to stop training."""


@dataclasses.dataclass
class History:
    """Per-epoch logs (torch: the lists of losses the notes append to and plot)."""

    rows: list[dict] = dataclasses.field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [r.get(key) for r in self.rows]

    def to_json(self) -> str:
        return json.dumps(self.rows, indent=1)

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> History:
        return cls([dict(r) for r in rows])


def _start_metrics_copy(metrics) -> None:
    """Starts copying a just-dispatched call's metrics to the host, to be read by
    :func:`_metrics_to_host` after the next call is dispatched: on a GPU or TPU the copy
    then runs when the call ends, instead of when fit asks (one blocking copy per
    metric). A CPU device's arrays are host memory already (the call would cost 17 us a
    metric there, for nothing)."""
    leaves = jax.tree.leaves(metrics)
    if leaves and next(iter(leaves[0].devices())).platform != "cpu":
        for leaf in leaves:
            if leaf.is_fully_addressable:
                leaf.copy_to_host_async()


def _metrics_to_host(metrics):
    """``jax.device_get(metrics)`` for the few small arrays of step metrics: the same
    NumPy values at about an eighth of its host time (2.5 us a leaf instead of 20 on
    this CPU: device_get starts an asynchronous copy of every leaf first, which pays
    only for large arrays). ``fit`` fetches each compiled call's metrics so."""
    return jax.tree.map(np.asarray, metrics)


def _reduce_metrics(batch_metrics: list[dict], prefix: str) -> dict:
    host = _metrics_to_host(batch_metrics)  # train_steps' metrics hold one row per step
    column = lambda k: np.concatenate([np.atleast_1d(m[k]) for m in host])
    out = {f"{prefix}loss": math.nan}
    if not host:
        return out
    n = column("n").astype(np.float64)
    if n.sum():
        out[f"{prefix}loss"] = float(np.dot(column("loss"), n) / n.sum())
    if "correct" in host[0]:
        out[f"{prefix}accuracy"] = float(int(column("correct").sum()) / n.sum())
    if "confusion" in host[0]:
        out["confusion"] = np.sum([m["confusion"] for m in host], axis=0)
    if "nonfinite" in host[0]:
        out["nonfinite_steps"] = [int(s) for s in column("step")[column("nonfinite") != 0]]
    return out


def _step_rows(metrics: dict, prefix: str) -> list[dict]:
    """:func:`_reduce_metrics` of each step on its own (host arrays with one entry per
    step), computed for all steps at once: the same numbers (one step's weighted mean is
    ``loss * n / n``, as ``np.dot`` of one element computes it)."""
    n = metrics["n"].astype(np.float64)
    loss = np.where(n > 0, metrics["loss"] * n / np.where(n > 0, n, 1), math.nan).tolist()
    rows = [{f"{prefix}loss": v} for v in loss]
    if "correct" in metrics:
        for row, c, k in zip(rows, metrics["correct"].tolist(), n.tolist()):
            row[f"{prefix}accuracy"] = c / k
    if "nonfinite" in metrics:
        for row, bad, step in zip(rows, metrics["nonfinite"].tolist(), metrics["step"].tolist()):
            row["nonfinite_steps"] = [step] if bad else []
    return rows


def evaluate(learner: Learner, state: TrainState, loader) -> dict:
    """Loss, accuracy and (with ``num_classes``) the confusion matrix over a whole loader
    (torch: the ``model.eval()`` + ``torch.no_grad()`` test loop).

    A ``DataLoader(..., pad_last=True)`` ends each batch with its padding mask, which
    the eval step applies: every example counts exactly once, in any number of
    processes. A multi-process loader without it (it drops the last partial batch) is
    refused.

    Args:
        learner: the :class:`Learner` whose eval step runs.
        state: the train state to evaluate.
        loader: the batches, e.g. a ``DataLoader(..., pad_last=True)``.

    Returns:
        ``{"loss", "accuracy" (not for regression), "confusion" (with num_classes)}``
        over every example.
    """
    masked = getattr(loader, "pad_last", False)
    multi = learner.parallel is not None and learner.parallel.multi_process
    if multi and getattr(loader, "process_count", 1) != jax.process_count():
        raise ValueError(f"this loader feeds every example to each of the {jax.process_count()} processes, so "
                         "evaluation would count them all several times; build it with this process's slice: "
                         "jaxdl.harness.eval_loader(dataset) or DataLoader(..., pad_last=True, "
                         "process_index=jax.process_index(), process_count=jax.process_count())")
    if getattr(loader, "process_count", 1) > 1 and not masked:
        raise ValueError("this multi-process loader drops the last partial batch, so evaluation would miss "
                         "examples; build evaluation loaders with DataLoader(..., pad_last=True)")
    out = []
    for batch in loader:
        batch = learner.shard(batch)
        out.append(learner.eval_step(state, batch[:-1], batch[-1]) if masked else learner.eval_step(state, batch))
    return _reduce_metrics(out, "")


def predictions(learner: Learner, state: TrainState, loader) -> tuple[np.ndarray, np.ndarray]:
    """``(outputs, targets)`` of the whole ``loader`` as host arrays, in its order: the
    eval-mode model (``learner.predict``) on every batch (torch: ``model.eval()`` and a
    ``torch.no_grad()`` loop that collects ``model(x)`` and ``y``). The padding of a
    ``DataLoader(..., pad_last=True)`` is dropped. Use it to compute the features of a
    data set once through a frozen network."""
    masked = getattr(loader, "pad_last", False)
    host, pending = [], None
    for batch in loader:
        mask = batch[-1] if masked else None
        *xs, y = learner.shard(batch[:-1] if masked else batch)
        if pending is not None:  # one batch behind: the device computes while this copies
            host.append(jax.device_get(pending))
        pending = (learner.predict(state, *xs), y, mask)
    if pending is not None:
        host.append(jax.device_get(pending))
    if not host:
        raise ValueError("predictions: the loader yielded no batch")
    outputs, y = np.concatenate([h[0] for h in host]), np.concatenate([h[1] for h in host])
    if masked:
        valid = np.concatenate([h[2] for h in host])
        outputs, y = outputs[valid], y[valid]
    return outputs, y


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True)


STATES_KEPT_BYTES = 64 << 20  # fused one-batch epochs keep each epoch's state for the callbacks: at most this


def fit(learner: Learner, state: TrainState, train_loader, *, epochs: int, val_loader=None,
        start_epoch: int = 0, callbacks: Sequence[Callback] = (), history: History | None = None,
        progress: bool | None = None, log: Callable[[str], None] | None = print,
        log_every: int = 1, steps_per_call: int = STEPS_PER_CALL, start_batch: int = 0,
        start_metrics: Sequence[dict] = ()) -> tuple[TrainState, History]:
    """Train for epochs ``start_epoch+1 .. epochs`` and return the final state and history.

    Each epoch iterates the batches of ``train_loader``'s epoch ``e`` (their order
    depends on the loader's seed and ``e`` alone, so a resumed run sees the same
    batches), then evaluates ``val_loader``, logs one line, and calls the callbacks
    (checkpointing, early stopping) with the state at the end of that epoch.
    ``log_every`` thins the per-epoch lines (full-batch runs of thousands of epochs);
    the first and last epochs are always logged. The progress bar (tqdm; on when stderr
    is a terminal and an epoch has more than one batch) shows the running loss and
    throughput.

    With a :class:`~jaxdl.data.DataLoader`, runs of ``steps_per_call`` full batches
    train in one compiled call (``Learner.train_steps``, a ``lax.scan``; over arrays the
    rest of the full batches in one shorter call), the other batches (every batch when
    ``steps_per_call=1`` or under data parallelism) one step per call; each call
    gathers, converts and augments its own batches on the device (``DataLoader.feed``).
    Within an epoch fit never waits for the device except for the call before the one
    it has just started (whose metrics it then reads): the loader prepares the next
    call's batches while the device computes, and the device holds at most two calls'
    batches.

    When every epoch is one batch (full-batch training: iris, the regressions, Pima),
    up to ``steps_per_call`` epochs train in one compiled call; each epoch still gets its
    History row, validation, log line and callbacks, with its own state (kept on the
    device for that while callbacks or validation need it, at most
    ``STATES_KEPT_BYTES`` of states; fewer epochs per call for a larger state), after
    the call has run. The losses are those of one epoch per call up to float32
    rounding: XLA compiles the step inside the loop body (tests/test_train.py).

    ``start_batch=k`` resumes inside epoch ``start_epoch+1`` at its batch ``k``, the
    metrics of its first k batches given as ``start_metrics``
    (:meth:`jaxdl.checkpoint.Checkpointer.resume`). A callback with an
    ``on_train_steps(epoch, batch, batches_per_epoch, state, batch_metrics)`` method is
    called after each compiled call of a multi-batch epoch, ``batch`` batches of it
    trained (mid-epoch checkpoints; ``batch_metrics`` may hold device arrays).

    With ``learner.skip_nonfinite``, an epoch that skipped more than half of its steps
    (:data:`MAX_SKIPPED_FRACTION`) stops the run as a NaN/Inf step does without it:
    less than half of the data trained, or (every step skipped) nothing. Fewer skipped
    steps are logged with the epoch.

    Args:
        learner: the model, loss and optimizer with their compiled steps.
        state: the train state to start from (``learner.init_state()`` or a checkpoint's).
        train_loader: the training batches; ``train_loader.epoch(e)`` gives epoch ``e``'s.
        epochs: the last epoch to train (1-based).
        val_loader: batches evaluated after every epoch (``val_*`` logs), or None.
        start_epoch: the epochs already trained (a resumed run).
        callbacks: ``on_epoch_end(epoch, state, logs)`` hooks; one returning True stops.
        history: the logs so far (a resumed run's), extended in place.
        progress: a progress bar (None: when stderr is a terminal).
        log: where each epoch's line goes (None: nowhere).
        log_every: log every this many epochs (and the first and last).
        steps_per_call: training steps (or full-batch epochs) per compiled call (1: one per call).
        start_batch: resume inside epoch ``start_epoch + 1`` at this batch.
        start_metrics: the metrics of that epoch's first ``start_batch`` batches.

    Returns:
        ``(state, history)``: the trained state and one dict of logs per epoch.
    """
    if epochs < 1 or start_epoch < 0:
        raise ValueError(f"epochs must be >= 1 and start_epoch >= 0, got {epochs}, {start_epoch}")
    if int(steps_per_call) < 1:
        raise ValueError(f"steps_per_call must be >= 1 (1: one step per call), got {steps_per_call}")
    history = history or History()
    progress = sys.stderr.isatty() if progress is None else progress

    def end_epoch(epoch: int, state: TrainState | None, logs: dict, timing: dict) -> bool:
        """The epoch's row, validation, log line and callbacks; True: a callback stops."""
        bad, total = logs.pop("nonfinite_steps", []), len(train_loader)
        if bad and not learner.skip_nonfinite:
            raise NonFiniteLossError(
                f"loss or gradients became NaN/Inf at step {bad[0]} (epoch {epoch}; {len(bad)} bad "
                "steps). Nothing of this epoch was saved: the last checkpoint before it is intact; "
                "lower the learning rate, check the data, or pass skip_nonfinite=True "
                "(--skip-nonfinite) to skip such steps.")
        if bad and len(bad) > MAX_SKIPPED_FRACTION * total:
            raise NonFiniteLossError(
                f"epoch {epoch} skipped {len(bad)} of its {total} steps as NaN/Inf under skip_nonfinite=True: "
                f"{'nothing' if len(bad) >= total else 'less than half of it'} trained. Nothing of this epoch "
                "was saved: the last checkpoint before it is intact; lower the learning rate or check the data.")
        if bad and log is not None:
            log(f"epoch {epoch}: skipped {len(bad)} of {total} steps whose loss or gradients were NaN/Inf "
                "(skip_nonfinite=True)")
        logs["skipped_steps"] = len(bad)
        logs.update(timing)
        if val_loader is not None:
            val = evaluate(learner, state, val_loader)
            val.pop("confusion", None)
            logs.update({f"val_{k}": v for k, v in val.items() if k != "nonfinite_steps"})
        history.rows.append(logs)
        if log is not None and (epoch % log_every == 0 or epoch in (start_epoch + 1, epochs)):
            log(format_logs(logs, epochs))
        stop = False
        for cb in callbacks:
            stop = bool(cb.on_epoch_end(epoch, state, logs)) or stop
        return stop

    per_call = _epochs_per_call(learner, state, train_loader, steps_per_call, bool(callbacks) or val_loader is not None)
    if per_call > 1:
        return _fit_one_batch_epochs(learner, state, train_loader, range(start_epoch + 1, epochs + 1), per_call,
                                     bool(callbacks) or val_loader is not None, end_epoch), history
    step_callbacks = [cb for cb in callbacks if hasattr(cb, "on_train_steps")]
    for epoch in range(start_epoch + 1, epochs + 1):
        first = start_batch if epoch == start_epoch + 1 else 0  # resumed inside this epoch
        state, logs, timing = _train_epoch(learner, state, train_loader, epoch, f"epoch {epoch}/{epochs}",
                                           steps_per_call, progress, first, start_metrics if first else (),
                                           step_callbacks)
        if end_epoch(epoch, state, logs, timing):
            break
    return state, history


def _train_epoch(learner: Learner, state: TrainState, loader, epoch: int, desc: str, steps_per_call: int,
                 progress: bool, start: int = 0, start_rows: Sequence[dict] = (),
                 step_callbacks: Sequence = ()) -> tuple[TrainState, dict, dict]:
    """One epoch of ``loader`` from its batch ``start`` (the metrics of the batches
    before it: ``start_rows``): the state after it, its train metrics and its timing."""
    fed = learner.parallel is None and hasattr(loader, "feed")
    calls = (loader.feed(epoch, steps_per_call, start) if fed else
             loader.epoch(epoch, start) if start else loader.epoch(epoch))
    rows, pending, seen, steps, t0 = list(start_rows), None, 0, 0, time.perf_counter()
    warm_at, t_warm, seen_warm = min(20, max(len(loader) // 5, 1)), None, 0
    bar, last_refresh = _progress(len(loader) - start, desc, progress and len(loader) > 1), 0.0
    for batch in calls:
        if fed:
            k, n = batch.shape
            state, m = learner.train_steps(state, batch) if batch.steps else learner.train_step(state, batch)
        else:
            state, m = learner.train_step(state, learner.shard(batch))
            k, n = 1, int(batch[0].shape[0])
        _start_metrics_copy(m)
        if pending is not None:  # the call before this one: the device runs this one while the loader prepares the next
            rows.append(_metrics_to_host(pending))
            if t_warm is None and steps >= warm_at:  # those steps done: steady-state timing starts (compiled)
                t_warm, seen_warm = time.perf_counter(), seen
        pending, seen, steps = m, seen + k * n, steps + k
        for cb in step_callbacks:  # mid-epoch checkpoints (jaxdl.checkpoint.Checkpointer.on_train_steps)
            cb.on_train_steps(epoch, start + steps, len(loader), state, [*rows, pending])
        if bar is not None:
            bar.update(k)
            now = time.perf_counter()
            if rows and now - last_refresh > 0.5:
                last_refresh = now
                bar.set_postfix(loss=f"{float(np.ravel(rows[-1]['loss'])[-1]):.4f}", ex_s=f"{seen / (now - t0):.0f}")
    if pending is not None:
        rows.append(_metrics_to_host(pending))
    jax.block_until_ready(state)
    t1 = time.perf_counter()
    if bar is not None:
        bar.close()
    timing = {"epoch_time_s": t1 - t0}
    if t_warm is not None and seen > seen_warm:
        timing["examples_per_s"] = (seen - seen_warm) / (t1 - t_warm)
    return state, {"epoch": epoch, **_reduce_metrics(rows, "train_")}, timing


def _epochs_per_call(learner: Learner, state: TrainState, loader, steps_per_call: int, keep_states: bool) -> int:
    """Epochs trained per compiled call: up to ``steps_per_call`` when every epoch is one
    batch of a DataLoader over arrays (fewer when each epoch's state is kept and the
    states would pass ``STATES_KEPT_BYTES``), else 1."""
    if (steps_per_call < 2 or learner.parallel is not None or not hasattr(loader, "epochs_stacked")
            or len(loader) != 1 or loader.epochs_stacked([1]) is None):
        return 1
    if not keep_states:
        return steps_per_call
    state_bytes = sum(a.nbytes for a in jax.tree.leaves(state))
    return max(1, min(steps_per_call, STATES_KEPT_BYTES // max(state_bytes, 1)))


_state_at = jax.jit(lambda states, i: jax.tree.map(lambda a: a[i], states))


def _fit_one_batch_epochs(learner: Learner, state: TrainState, loader, epochs: range, per_call: int,
                          keep_states: bool, end_epoch) -> TrainState:
    """``fit``'s epochs when each is one batch: ``per_call`` epochs per ``train_steps``
    call. Each call's epochs are ended (rows, validation, logs, callbacks) while the
    next call runs; a callback that stops at an epoch gets that epoch's state returned."""
    t_last, first_call = time.perf_counter(), True

    def finish(first: int, count: int, metrics, states) -> TrainState | None:
        nonlocal t_last, first_call
        metrics = _metrics_to_host(metrics)  # waits for that call
        now = time.perf_counter()
        timing = {"epoch_time_s": (now - t_last) / count}
        if not first_call:  # the first call's time includes compiling it
            timing["examples_per_s"] = float(metrics["n"].sum() / (now - t_last))
        t_last, first_call = now, False
        for i, row in enumerate(_step_rows(metrics, "train_")):
            logs = {"epoch": first + i, **row}
            at = _state_at(states, i) if keep_states else None
            if end_epoch(first + i, at, logs, dict(timing)):
                return at
        return None

    pending = None
    for at in range(0, len(epochs), per_call):
        chunk = epochs[at:at + per_call]
        state, *out = learner.train_steps(state, loader.epochs_stacked(chunk), keep_states=keep_states)
        _start_metrics_copy(out[0])
        if pending is not None and (stopped := finish(*pending)) is not None:
            return stopped
        pending = (chunk[0], len(chunk), out[0], out[1] if keep_states else None)
    if pending is not None and (stopped := finish(*pending)) is not None:
        return stopped
    return state


def format_logs(logs: dict, epochs: int) -> str:
    parts = [f"epoch {logs['epoch']:>{len(str(epochs))}}/{epochs}"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            v = logs[key]
            parts.append(f"{key} {v:.4f}" if "loss" in key else f"{key} {100 * v:.2f}%")
    if "examples_per_s" in logs:
        parts.append(f"{logs['examples_per_s']:.0f} ex/s")
    parts.append(f"{logs['epoch_time_s']:.1f}s")
    return "  ".join(parts)


def steady_throughput(history: History) -> float | None:
    """Median examples/s over the epochs, each measured after its first batches."""
    rates = [r["examples_per_s"] for r in history.rows if r.get("examples_per_s")]
    return float(np.median(rates)) if rates else None


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras/Lightning's
    EarlyStopping; torch has none built in)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, mode: str = "min",
                 min_delta: float = 0.0):
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.best, self.bad_epochs = None, 0

    def on_epoch_end(self, epoch: int, state: TrainState, logs: dict) -> bool:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, which this run does not log ({sorted(logs)}): "
                           "give fit a val_loader on a validation split (never the test set), e.g. --val-size")
        value = logs[self.monitor]
        better = self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                       else value > self.best + self.min_delta)
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
