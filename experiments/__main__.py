"""``python -m experiments``: list the experiments."""

import pkgutil

import experiments

for m in sorted(i.name for i in pkgutil.iter_modules(experiments.__path__)):
    if not m.startswith("_"):
        doc = (__import__(f"experiments.{m}", fromlist=["_"]).__doc__ or "").strip().splitlines()
        print(f"python -m experiments.{m:22s} {doc[0] if doc else ''}")
