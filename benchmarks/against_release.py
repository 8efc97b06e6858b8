"""This checkout's meta-training against an earlier release, side by side in one process.

Extracts the package at a git revision (default 4d56b27, the last release before the method
protocol) into build/baseline-REV, imports it beside this checkout's maml_lite, and times whole
`meta_train` runs of the same recipe (second-order MAML, K=5 support + 10 query points, 25 tasks,
one thread) in CPU seconds of this process, alternating old and new in paired rounds so that a slow
spell on a shared machine hits both sides of each ratio. Also checks, in float64, that both compute
the same meta-objective and meta-gradient.

Usage: .venv/bin/python benchmarks/against_release.py [--rev 4d56b27] [--iterations 300]
       [--rounds 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import maml_lite as ml

ROOT = Path(__file__).resolve().parent.parent


def load_release(rev: str):
    """The package as it was at `rev`, imported as the module `maml_release`."""
    target = ROOT / "build" / f"baseline-{rev}"
    if not (target / "maml_lite" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", rev, "maml_lite"], cwd=ROOT, check=True,
                                 capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    root = target / "maml_lite"
    spec = importlib.util.spec_from_file_location("maml_release", root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["maml_release"] = module
    spec.loader.exec_module(module)
    return module


def seconds_per_iteration(package, iterations: int) -> float:
    torch.manual_seed(0)
    model = package.make_model()
    # CPU time of this process: other processes on a shared machine do not count
    start = time.process_time()
    package.meta_train(model, "maml", iterations=iterations, seed=0, meta_batch=25, k_shot=5,
                       k_query=10, progress=False)
    return (time.process_time() - start) / iterations


def agreement(old) -> float:
    """Largest relative difference of the float64 meta-objective and meta-gradient (2
    inner steps)."""
    torch.manual_seed(0)
    new_model = ml.make_model().double()
    old_model = old.make_model().double()
    old_model.load_state_dict(new_model.state_dict())
    b = ml.SineTasks().sample(25, 5, 10, generator=torch.Generator().manual_seed(0))
    b64 = ml.TaskBatch(*(getattr(b, f).double() for f in b.__dataclass_fields__))
    old_batch = old.TaskBatch(*(getattr(b64, f) for f in b64.__dataclass_fields__))
    worst = 0.0
    for steps, first_order in ((1, False), (2, False), (2, True)):
        new_loss = ml.meta_loss(new_model, b64, steps, 0.01, first_order)
        old_loss = old.meta_loss(old_model, old_batch, steps, 0.01, first_order)
        pairs = [(new_loss, old_loss),
                 *zip(torch.autograd.grad(new_loss, list(new_model.parameters())),
                      torch.autograd.grad(old_loss, list(old_model.parameters())))]
        worst = max(worst, *(((a - b).abs().max() / b.abs().max()).item() for a, b in pairs))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", default="4d56b27")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    old = load_release(args.rev)
    print(f"float64 meta-objective and meta-gradient, this checkout vs {args.rev}: largest "
          f"relative difference {agreement(old):.1e}")
    seconds_per_iteration(old, 50), seconds_per_iteration(ml, 50)  # warm up both
    rounds = []
    for _ in range(args.rounds):
        before, now = (seconds_per_iteration(old, args.iterations),
                       seconds_per_iteration(ml, args.iterations))
        rounds.append((before, now))
    ratios = [b / n for b, n in rounds]
    print(f"second-order MAML, K=5 + 10 query, 25 tasks, one thread, {args.iterations} iterations "
          f"x {args.rounds} paired rounds:")
    print(f"  {args.rev}: {1e3 * statistics.median(b for b, _ in rounds):.2f} ms per iteration; "
          f"this checkout: {1e3 * statistics.median(n for _, n in rounds):.2f} ms")
    print(f"  speed-up (old / new per round): median {statistics.median(ratios):.2f}x, "
          f"range {min(ratios):.2f}x to {max(ratios):.2f}x")


if __name__ == "__main__":
    main()
