"""Run a ``torch.export`` graph with jaxdl.aten, node by node, in torch's layout: the
reference interpreter that proves the ops and their calling convention carry whole
models (tests/aten/test_graphs.py), and a parity oracle the porter can reuse.

Every ATen node is bound to its schema (all arguments by keyword, defaults included)
and calls ``aten.get(name)``. In-place ops rebind the tensor they mutate; when that
tensor is a ``slice``/``select`` view, the change is written back into its base with
``slice_scatter``/``select_scatter``. ``batch_norm``/``instance_norm`` return the new
running statistics after their output (jaxdl.aten's convention); they replace the
buffers. Random ops get ``rng``, a fresh key per node.

    run = GraphRunner(torch.export.export(model, args))
    outputs, buffers = run(run.state(model), *jax_inputs, rng=jax.random.key(0))
"""

from __future__ import annotations

import inspect
import operator

import jax
import numpy as np
import torch

from jaxdl import aten
from tests.aten.runner import bind, python_arg

# ops whose jaxdl.aten function appends the new values of these buffers to its outputs
BUFFER_OUTPUTS = {"batch_norm": ("running_mean", "running_var"), "instance_norm": ("running_mean", "running_var"),
                  "native_batch_norm": ("running_mean", "running_var"),
                  "_native_batch_norm_legit": ("running_mean", "running_var")}
WRITE_BACK = {"slice": "slice_scatter", "select": "select_scatter"}
PYTHON = {operator.getitem, operator.mul, operator.add, operator.sub, operator.floordiv, operator.truediv,
          operator.neg, operator.mod}


def _value(env, x):
    if isinstance(x, torch.fx.Node):
        return env[x.name]
    if isinstance(x, (list, tuple)):
        return type(x)(_value(env, v) for v in x)
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().numpy())
    return x


class GraphRunner:
    def __init__(self, ep: torch.export.ExportedProgram):
        self.ep = ep
        self.graph = ep.graph_module.graph
        specs = ep.graph_signature.input_specs
        self.inputs = [(s.arg.name, s.kind.name, s.target) for s in specs]
        self.outputs = [s.arg.name for s in ep.graph_signature.output_specs if s.kind.name == "USER_OUTPUT"]
        self.ops = sorted({n.target._schema.name.split("::")[1] for n in self.graph.nodes
                           if n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload)})

    def state(self, module):
        """The module's parameters, buffers and lifted constants by export's target names."""
        named = dict(module.named_parameters()) | dict(module.named_buffers())
        out = {}
        for _, kind, target in self.inputs:
            if kind in ("PARAMETER", "BUFFER"):
                out[target] = np.asarray(named[target].detach().numpy().copy())
            elif kind in ("CONSTANT_TENSOR", "CUSTOM_OBJ"):
                out[target] = np.asarray(self.ep.constants[target].detach().numpy().copy())
        return out

    def __call__(self, state, *inputs, rng=None):
        env, targets = {}, {}
        users = iter(inputs)
        for name, kind, target in self.inputs:
            env[name] = next(users) if kind == "USER_INPUT" else state[target]
            targets[name] = target
        bases = {}  # view node name -> (base node name, write-back op, its arguments)
        for i, node in enumerate(self.graph.nodes):
            if node.op != "call_function":
                continue
            if node.target in PYTHON:
                env[node.name] = node.target(*_value(env, node.args))
                continue
            env[node.name] = self._aten(node, env, bases, None if rng is None else jax.random.fold_in(rng, i))
        buffers = {targets[n]: env[n] for n, kind, _ in self.inputs if kind == "BUFFER"}
        return [env[n] for n in self.outputs], buffers

    def _aten(self, node, env, bases, rng):
        schema = node.target._schema
        name = schema.name.split("::")[1]
        args = bind(schema, _value(env, node.args), _value(env, node.kwargs))
        if name in aten.TRIVIAL:
            if name == "sym_size":
                return np.shape(args["self"])[args["dim"]]
            if name.startswith("_assert"):
                return None
            return args["self"]
        fn = aten.get(name)
        kwargs = {python_arg(k): v for k, v in args.items()}
        if "rng" in inspect.signature(fn).parameters:
            kwargs["rng"] = rng
        result = fn(**kwargs)
        if aten.functional_name(name) in BUFFER_OUTPUTS:
            buffers = BUFFER_OUTPUTS[aten.functional_name(name)]
            for arg, new in zip(buffers, result[-len(buffers):]):
                if isinstance(node.kwargs.get(arg, None), torch.fx.Node) or new is not None:
                    self._assign(env, bases, self._arg_node(node, schema, arg), new)
            result = result[:-len(buffers)]
            result = result[0] if len(result) == 1 else result
        written = [a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
        if written:  # in place: the function's result is the tensor's new value
            self._assign(env, bases, self._arg_node(node, schema, written[0]), result)
        if name in WRITE_BACK and isinstance(node.args[0], torch.fx.Node):
            bases[node.name] = (node.args[0].name, WRITE_BACK[name], {k: v for k, v in args.items() if k != "self"})
        return result

    @staticmethod
    def _arg_node(node, schema, arg):
        names = [a.name for a in schema.arguments]
        i = names.index(arg)
        return node.args[i] if i < len(node.args) else node.kwargs.get(arg)

    def _assign(self, env, bases, target, value):
        """Give ``target`` (a node) a new value, and write it back through the views it is of."""
        if not isinstance(target, torch.fx.Node):
            return
        env[target.name] = value
        name = target.name
        while name in bases:
            base, scatter, args = bases[name]
            env[base] = aten.get(scatter)(env[base], env[name], **args)
            name = base
