"""ms per playground update (notebooks/04): compute for all five models, and the full update with redraw.

  compute     maml_lite.widgets.update(): the five playground models x steps 0..10 on K points, 200 grid
              points, one batched pass per step through the package's own `adapt` (the models' parameters
              stacked); goal <= 10 ms, a small share of the ~60 ms input-to-redraw users see
  loop        update() called once per model (what batching saves)
  metasgd     update() with the shipped Meta-SGD model as a sixth, stepping at its own learned rates (only
              when that checkpoint is present)
  notebook 07 update() for notebook 07's playground: MAML and ANIL (head-only rates) batched, the
              meta-learner (its own rule) and CAVIA (its context) through adapters (only when present)
  steps pick  moving the steps slider: no compute, only the redraw
  full        what a slider release costs: Playground.recompute() = update() + redraw (repaint + PNG, the
              static-image view)
  full draw   a complete Agg render (only when the y-limits change; otherwise the redraw repaints just the
              moving lines over a saved background, as ipympl does too, then sends the changed pixels)

Usage: .venv/bin/python benchmarks/widget_latency.py [--repeats 100] [--k 10] [--strict]
One thread (as in the notebooks). Prints the median of several timing rounds in ms, as wall time and as
this process's CPU time (the two agree on an idle machine; on a busy shared one the CPU time is the fairer
figure). Uses the shipped checkpoints when present, else untrained networks (the cost is the same).
--strict exits 1 if both the wall and the CPU time of the compute are above the goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from maml_lite.metasgd import load_rates  # noqa: E402

import maml_lite as ml  # noqa: E402
from maml_lite import widgets as mw  # noqa: E402

GOAL_MS = 10.0  # compute per update: well under the browser's input-to-redraw (median 57 ms measured)


def timed(step, repeats: int, rounds: int = 5) -> tuple[float, float]:
    """(wall, cpu): medians over `rounds` of the mean ms per call of step().

    cpu is this process's CPU time (time.process_time): on a shared machine it leaves out the time spent
    waiting for a core, so it is close to what the wall time would be on an idle one.
    """
    for _ in range(max(3, repeats // 10)):
        step()
    wall, cpu = [], []
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            step()
        wall.append((time.perf_counter() - w) / repeats * 1e3)
        cpu.append((time.process_time() - c) / repeats * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--k", type=int, default=10, help="support points (the K slider goes to 20)")
    ap.add_argument("--strict", action="store_true", help=f"exit 1 if compute per update > {GOAL_MS} ms")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        models = mw.load_models()
        source = "shipped checkpoints"
    except (FileNotFoundError, ValueError):
        models = {name: mw.scratch_model(seed) for seed, name in enumerate(mw.MODELS)}
        source = "untrained networks (checkpoints not found)"
    x, y = mw.sample_points(2.0, 1.0, args.k, seed=0)
    steps = mw.MAX_STEPS

    compute = timed(lambda: mw.update(models, x, y, 2.0, 1.0, steps, 0.01), args.repeats)
    loop = timed(lambda: [mw.update({n: m}, x, y, 2.0, 1.0, steps, 0.01) for n, m in models.items()],
                 max(10, args.repeats // 5))
    try:  # Meta-SGD as a sixth model with its own per-parameter rates, batched with the other five
        with_metasgd = {**models, "metasgd": ml.load_pretrained("metasgd")}
        rates = {"metasgd": load_rates()}
        metasgd = timed(lambda: mw.update(with_metasgd, x, y, 2.0, 1.0, steps, 0.01, rates), args.repeats)
    except (FileNotFoundError, ValueError):
        metasgd = None
    try:  # notebook 07's four: two batched MLPs, two that adapt their own way
        from maml_lite.learned_opt import load_rule

        from maml_lite import anil

        anil_net, cavia_net = ml.load_pretrained("anil"), ml.load_pretrained("cavia")
        seven = {"maml": ml.load_pretrained("maml"), "anil": anil_net}
        seven_rates = {"anil": anil.head_rates(anil_net)}
        adapters = {"meta_learner": mw.rule_adapter(*load_rule("meta_learner")),
                    "cavia": mw.context_adapter(cavia_net, ml.model_card("cavia")["config"]["inner_lr"])}
        notebook7 = timed(lambda: mw.update(seven, x, y, 2.0, 1.0, steps, 0.01, seven_rates, adapters), args.repeats)
    except (ImportError, FileNotFoundError, ValueError):
        notebook7 = None

    pg = mw.Playground(models, k_shot=args.k, clickable=False)
    redraws = max(5, args.repeats // 10)
    pick = timed(lambda: pg.steps.set_trait("value", (pg.steps.value + 1) % (steps + 1)), redraws)
    full = timed(pg.recompute, redraws)
    agg = timed(pg.figure.canvas.draw, max(3, redraws // 3))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"playground update, {len(models)} models ({source}), K={args.k}, steps 0..{steps}, "
          f"{mw.N_GRID} grid points, 1 thread, "
          f"torch {torch.__version__}; load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"  {'ms per call':42s}{'wall':>8s}{'cpu':>8s}")
    rows = [("compute per update (all models, batched)", compute),
            ("compute, one update() per model", loop),
            *([("compute + Meta-SGD (6 models, own rates)", metasgd)] if metasgd else []),
            *([("compute, notebook 07 (2 MLPs + 2 adapters)", notebook7)] if notebook7 else []),
            ("steps slider (pick a step + redraw)", pick),
            ("full update incl. redraw (recompute())", full),
            ("complete Agg draw (rare: new y-limits)", agg)]
    for label, (wall, cpu) in rows:
        print(f"  {label:42s}{wall:8.2f}{cpu:8.2f}")
    print(f"  batching saves {loop[0] / compute[0]:.1f}x over one model at a time (wall-time ratio, one run); "
          f"goal: compute <= {GOAL_MS:g} ms per update")
    if min(compute) > GOAL_MS:
        print(f"  compute is above the {GOAL_MS:g} ms goal")
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
