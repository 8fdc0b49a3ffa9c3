"""Data parallelism with ``jax.sharding`` (torch: ``DistributedDataParallel``).

A one-axis mesh ``('data',)`` over every device (of this host, or of all hosts after
``jax.distributed.initialize``); the train state is replicated, each batch is split
along its first axis, and the same jitted ``train_step`` runs unchanged: XLA inserts
the gradient all-reduce that DDP does by hand. Results equal one device's up to float
reassociation of the cross-device sums.

    learner = Learner(model, loss, tx, parallel=DataParallel())   # all local devices
    # multi-host (one process per host/GPU), before anything else touches JAX:
    jax.distributed.initialize(coordinator_address="10.0.0.1:1234", num_processes=4, process_id=i)

With several processes each one loads only its slice of every global batch
(``DataLoader(..., process_index=jax.process_index(), process_count=jax.process_count())``)
and :meth:`DataParallel.shard` assembles the global array from the slices.

BatchNorm sees the global batch, so it normalises with the global batch's statistics
(torch: ``nn.SyncBatchNorm``, not DDP's per-replica ``nn.BatchNorm``);
``DataParallel(batch_norm="per_replica")`` gives each device's shard its own statistics
as DDP does (:class:`jaxdl.layers.BatchNorm`, whose docstring says how the running
statistics differ from DDP's).
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxdl.layers import BatchNorm
from jaxdl.tree import is_prng_key


class DataParallel:
    """Replicate state, shard batches over ``devices`` (default: ``jax.devices()``).

    ``batch_norm``: ``"global"`` (default; torch: ``nn.SyncBatchNorm``) or
    ``"per_replica"`` (torch: ``nn.BatchNorm`` under DDP), applied to a model's
    :class:`jaxdl.layers.BatchNorm` layers by :meth:`prepare` (``Learner`` calls it).
    """

    BATCH_NORM_MODES = ("global", "per_replica")

    def __init__(self, devices=None, *, batch_norm: str = "global"):
        if batch_norm not in self.BATCH_NORM_MODES:
            raise ValueError(f"batch_norm must be one of {self.BATCH_NORM_MODES}, got {batch_norm!r}")
        self.batch_norm = batch_norm
        devices = list(devices if devices is not None else jax.devices())
        self.mesh = jax.sharding.Mesh(np.array(devices), ("data",))
        self.num_devices = len(devices)
        self.replicated = NamedSharding(self.mesh, P())
        self.batch_sharding = NamedSharding(self.mesh, P("data"))
        self.multi_process = jax.process_count() > 1

    def __repr__(self) -> str:
        bn = ", per-replica BatchNorm" if self.batch_norm == "per_replica" else ""
        return f"DataParallel({self.num_devices} devices, {jax.process_count()} process(es){bn})"

    def prepare(self, model):
        """Set every :class:`jaxdl.layers.BatchNorm` of ``model`` to this mode: statistics
        per device shard (``replicas`` = the number of devices) or of the global batch."""
        for _, module in nnx.iter_modules(model):
            if isinstance(module, BatchNorm):
                module.replicas = self.num_devices if self.batch_norm == "per_replica" else 1
        return model

    def replicate(self, tree):
        """Every leaf on every device (the parameters, optimizer state, step, and the
        typed PRNG keys of dropout layers)."""
        if self.multi_process:
            return jax.tree.map(self._replicate_across_processes, tree)
        return jax.device_put(tree, self.replicated)

    def _replicate_across_processes(self, a):
        """One leaf, identical in every process, as a global replicated array. A typed
        PRNG key has no NumPy form: its raw data (``key_data``) travels and is wrapped
        back with the key's own implementation."""
        if is_prng_key(a):
            data = jax.make_array_from_process_local_data(self.replicated, np.asarray(jax.random.key_data(a)))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
        return jax.make_array_from_process_local_data(self.replicated, np.asarray(a))

    def shard(self, batch):
        """Split each array of ``batch`` over the devices along axis 0. A batch whose size
        does not divide evenly (the last, partial one) is replicated instead: same
        result, no padding. With several processes ``batch`` is this process's slice."""
        if self.multi_process:
            return tuple(jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(a)) for a in batch)
        n = batch[0].shape[0]
        sharding = self.batch_sharding if n % self.num_devices == 0 else self.replicated
        return tuple(jax.device_put(a, sharding) for a in batch)


def for_mode(mode: str = "auto") -> DataParallel | None:
    """The ``--data-parallel`` flag: ``'on'`` a DataParallel over all devices, ``'off'``
    None, ``'auto'`` the former when there is more than one device."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"data-parallel mode must be auto, on or off, got {mode!r}")
    return DataParallel() if mode == "on" or (mode == "auto" and jax.device_count() > 1) else None
