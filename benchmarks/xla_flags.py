"""XLA:CPU flag combinations on the two workloads where jaxdl trails PyTorch on the CPU.

    python -m benchmarks.xla_flags                        # 3 rounds, every variant, both workloads
    python -m benchmarks.xla_flags --rounds 5 --only tinyvgg_b32

Each variant runs ``python -m benchmarks --only <workloads> --quick`` in a fresh process
with its ``XLA_FLAGS`` (XLA reads them once per process); the variants take turns within
every round, so a busy machine slows them alike. Per variant and workload: the median
(min-max over rounds) of jaxdl ``fit`` steps/s, of the compiled steps alone, and of the
ratio to the PyTorch loop timed in the same process (the PyTorch side does not read
XLA_FLAGS: it is the control for the machine's load). Results go to
``benchmarks/results/xla_flags-<device>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

RESULTS = Path(__file__).parent / "results"
ONEDNN = "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type="
VARIANTS = {
    "default": "",
    "onednn dot": ONEDNN + "dot",
    "onednn eltwise": ONEDNN + "eltwise",
    "onednn reduce": ONEDNN + "reduce",
    "onednn dot,eltwise": ONEDNN + "dot,eltwise",
    "onednn dot,reduce": ONEDNN + "dot,reduce",
    "onednn eltwise,reduce": ONEDNN + "eltwise,reduce",
    "onednn dot,eltwise,reduce": ONEDNN + "dot,eltwise,reduce",
    "onednn custom calls": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
}
WORKLOADS = ("tinyvgg_b32", "cifarnet_b128")


def run_variant(flags: str, workloads, out: Path) -> list[dict]:
    env = {**os.environ, "XLA_FLAGS": " ".join(filter(None, [os.environ.get("XLA_FLAGS", ""), flags]))}
    subprocess.run([sys.executable, "-m", "benchmarks", "--only", *workloads, "--quick", "--out", str(out)],
                   env=env, check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.with_suffix(".json").read_text())["rows"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", nargs="+", default=list(WORKLOADS))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    got: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, name in enumerate(args.variants):
                for row in run_variant(VARIANTS[name], args.only, Path(tmp) / f"r{r}v{i}"):
                    got.setdefault((name, row["workload"]), []).append(row)
                    print(f"round {r + 1} {name:26s} {row['workload']:14s} fit {row['jax_steps_s']:6.1f} steps/s  "
                          f"alone {row['jax_fused_steps_s']:6.1f}  ratio {row['ratio']:.2f}", flush=True)
    summary = []
    for (name, workload), rows in got.items():
        cols = {k: [r[k] for r in rows] for k in ("jax_steps_s", "jax_fused_steps_s", "torch_steps_s", "ratio")}
        summary.append({"variant": name, "flags": VARIANTS[name], "workload": workload, "rounds": len(rows),
                        **{k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in cols.items()}})
    how = (f"`python -m benchmarks.xla_flags {' '.join(argv if argv is not None else sys.argv[1:])}`: each variant "
           "a fresh `python -m benchmarks --only ... --quick` process with its XLA_FLAGS, variants interleaved "
           f"in each of {args.rounds} rounds; median (min-max) over rounds.")
    lines = ["# XLA:CPU flag variants (" + time.strftime("%Y-%m-%d") + ")", "", how, "",
             "| workload | variant | jaxdl fit steps/s | steps alone (32/call) | PyTorch steps/s (control) | ratio |",
             "|---|---|---:|---:|---:|---:|"]
    fmt = lambda d, f=".1f": f"{d['median']:{f}} ({d['min']:{f}}-{d['max']:{f}})"
    for s in sorted(summary, key=lambda s: (s["workload"], list(VARIANTS).index(s["variant"]))):
        lines.append(f"| {s['workload']} | {s['variant']} | {fmt(s['jax_steps_s'])} | {fmt(s['jax_fused_steps_s'])} | "
                     f"{fmt(s['torch_steps_s'])} | {fmt(s['ratio'], '.2f')} |")
    device = f"cpu-{os.cpu_count()}core" if jax.devices()[0].platform == "cpu" else jax.devices()[0].device_kind
    stem = Path(args.out) if args.out else RESULTS / f"xla_flags-{device}"
    stem.with_suffix(".md").write_text("\n".join([*lines, ""]))
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {stem.with_suffix('.md')}")


if __name__ == "__main__":
    main()
