"""``python -m experiments``: list the experiments, each with its one-line summary (the
first line of its docstring)."""

import pkgutil

import experiments


def summaries() -> dict[str, str]:
    """{module name: the first line of its docstring} for every experiment."""
    names = sorted(i.name for i in pkgutil.iter_modules(experiments.__path__) if not i.name.startswith("_"))
    return {m: (__import__(f"experiments.{m}", fromlist=["_"]).__doc__ or "").strip().split("\n", 1)[0]
            for m in names}


if __name__ == "__main__":
    for name, line in summaries().items():
        print(f"python -m experiments.{name:22s} {line}")
