"""``python -m jaxdl.port path/to/file.py:ClassName --input-shape 2,3,32,32 --out DIR``

Builds ``ClassName()`` (no arguments; ``--weights`` loads a state_dict ``.pt`` file into
it, else torch's random init under ``--seed``), captures its forward on random inputs of
the given shapes and writes DIR/model.py, DIR/weights.safetensors and DIR/test_parity.py
(run it with ``python -m pytest DIR/test_parity.py``).
"""

from __future__ import annotations

import argparse
import sys

from jaxdl import extras, interop
from jaxdl.port import InputMismatchError, UnsupportedError, _embedding_high, load_class, port


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape takes sizes like 2,3,32,32, got {text!r}") from None
    if not shape or any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"--input-shape takes positive sizes like 2,3,32,32, got {text!r}")
    return shape


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jaxdl.port", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="path/to/file.py:ClassName (or package.module:ClassName)")
    p.add_argument("--input-shape", type=_shape, action="append", required=True, metavar="N,C,H,W",
                   help="shape of one forward argument, torch layout; repeat for several arguments")
    p.add_argument("--dtype", action="append", default=None,
                   help="dtype of the inputs (float32, int64, ...): one for all, or one per --input-shape")
    p.add_argument("--int-high", type=int, default=None,
                   help="integer inputs are drawn from [0, INT_HIGH) (default: the smallest nn.Embedding size)")
    p.add_argument("--weights", default=None, help="a state_dict .pt file to load into the model first")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed before building the model (default 0)")
    p.add_argument("--partial", action="store_true",
                   help="write what can be ported even when something is not supported (stubs raise there)")
    p.add_argument("--out", required=True, help="output directory")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        torch = extras.torch("python -m jaxdl.port", extra="port")
    except extras.MissingExtraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    dtypes = args.dtype or ["float32"]
    if len(dtypes) == 1:
        dtypes = dtypes * len(args.input_shape)
    if len(dtypes) != len(args.input_shape):
        print(f"error: {len(args.input_shape)} --input-shape but {len(dtypes)} --dtype; give one --dtype for all "
              "or one per input", file=sys.stderr)
        return 2
    try:
        cls = load_class(args.model)
    except (ValueError, FileNotFoundError, AttributeError, ImportError) as e:
        print(f"error: cannot load {args.model}: {e}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    try:
        model = cls()
    except TypeError as e:
        print(f"error: {args.model}() must build with no arguments ({e}); wrap it in a small subclass "
              "whose __init__ passes them", file=sys.stderr)
        return 2
    if args.weights:
        model.load_state_dict(interop.load_torch_file(args.weights))
    gen = torch.Generator().manual_seed(args.seed)
    high = args.int_high or _embedding_high(model) or 2  # integer inputs: token ids below every table's size
    inputs = []
    for shape, dt in zip(args.input_shape, dtypes):
        dtype = getattr(torch, dt, None)
        if not isinstance(dtype, torch.dtype):
            print(f"error: unknown --dtype {dt!r} (float32, float64, int64, int32, ...)", file=sys.stderr)
            return 2
        if dtype.is_floating_point:
            inputs.append(torch.randn(shape, generator=gen, dtype=dtype))
        else:
            inputs.append(torch.randint(0, high, shape, generator=gen, dtype=dtype))
    try:
        ported = port(model, *inputs, partial=args.partial, torch_factory=args.model, int_high=args.int_high)
    except InputMismatchError as e:  # the --input-shape does not fit the model: --partial cannot help
        print(f"error: {e}", file=sys.stderr)
        return 2
    except UnsupportedError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.partial_helps and not args.partial:
            print("Run again with --partial to write the rest, with a stub that raises at this point.",
                  file=sys.stderr)
        return 1
    out = ported.write(args.out)
    print(f"wrote {out / 'model.py'} ({ported.class_name}), {out / 'weights.safetensors'}, {out / 'test_parity.py'}")
    for line in ported.summary().splitlines():
        print(f"input {line}")
    for err in ported.unsupported:
        print(f"stub: {err}")
    print(f"check it: python -m pytest {out / 'test_parity.py'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
