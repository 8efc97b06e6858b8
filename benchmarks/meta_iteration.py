"""ms per meta-iteration for every method, at one common setting and at its own recipe, and the
batched speed-up.

Each row times one outer step (zero_grad, method(model, batch).backward(), Adam step) of a method
from the methods wing, built from its recipe in maml_lite/recipes/ (so a new method shows up here
without an edit): first at one common setting (25 tasks, K=10 support + 10 query, the recipe's inner
settings), then at the recipe's own meta-batch and K. A second-order MAML step written as a Python
loop over the 25 tasks is timed against the batched one in paired rounds (each round times both back
to back, so a slow spell on a shared machine hits both sides of the ratio). Times are CPU seconds of
this process, one thread.

Usage: .venv/bin/python benchmarks/meta_iteration.py [--repeats 100]
The machines are shared and noisy: compare ratios, not absolute figures, between releases.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import maml_lite as ml
from maml_lite.cli import RECIPES, build, read_recipe


def timed(step, repeats: int, rounds: int = 5) -> float:
    """Median over `rounds` of the mean CPU ms per call of step()."""
    for _ in range(max(3, repeats // 10)):
        step()
    per_round = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeats):
            step()
        per_round.append((time.process_time() - start) / repeats * 1e3)
    return statistics.median(per_round)


def outer_step(model, method, batch):
    """One meta_train iteration of `method` on a fixed batch: its own parameters are trained too."""
    optimizer = torch.optim.Adam([*model.parameters(), *method.parameters()], lr=1e-3)

    def step():
        optimizer.zero_grad()
        method(model, batch).backward()
        optimizer.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    common = ml.SineTasks().sample(25, 10, 10, generator=torch.Generator().manual_seed(0))
    print(f"torch {torch.__version__}, one thread; ms per meta-iteration")
    print(f"  {'method':14s} {'25 tasks, K=10+10':>18s}   {'its recipe':>10s}  "
          "(recipe's meta-batch, K support + query)")
    times = {}
    for path in sorted(RECIPES.glob("*.toml")):
        recipe = read_recipe(path.stem)
        training = recipe.get("training", {})
        model, method = build(recipe)
        repeats = args.repeats if "hidden" not in recipe["method"] else max(5, args.repeats // 20)
        times[path.stem] = timed(outer_step(model, method, common), repeats)
        mb, k, q = (training.get("meta_batch", 25), training.get("k_shot", 10),
                    training.get("k_query"))
        own = ml.SineTasks().sample(mb, k, k if q is None else q,
                                    generator=torch.Generator().manual_seed(0))
        recipe_ms = timed(outer_step(model, method, own), repeats)
        print(f"  {path.stem:14s} {times[path.stem]:18.2f}   {recipe_ms:10.2f}  ({mb}, {k} + "
              f"{k if q is None else q})")

    model, maml = ml.make_model(), ml.MAML()

    def per_task_loop_loss():
        """The same second-order work, one task at a time in a Python loop."""
        return sum(maml(model,
                        ml.TaskBatch(*(t[i:i + 1] for t in (common.x_support, common.y_support,
                                                            common.x_query, common.y_query,
                                                            common.amplitude, common.phase))))
                   for i in range(25)) / 25

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loop_step():
        optimizer.zero_grad()
        per_task_loop_loss().backward()
        optimizer.step()

    batched = outer_step(model, maml, common)
    ratios = [timed(loop_step, 10, rounds=1) / timed(batched, 100, rounds=1) for _ in range(7)]
    print(f"  batched second-order MAML is {statistics.median(ratios):.1f}x faster than a Python "
          f"loop over the 25 tasks (median of {len(ratios)} paired rounds; range "
          f"{min(ratios):.1f}x to {max(ratios):.1f}x)")
    maml_ms = times["maml"]
    print("  relative to a MAML iteration at the common setting: " + ", ".join(
        f"{name} {ms / maml_ms:.2f}x" for name, ms in times.items() if name != "maml"))


if __name__ == "__main__":
    main()
