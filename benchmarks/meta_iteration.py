"""ms per meta-iteration (25 tasks, K=10, 1 thread) for every method, and the batched speed-up.

Each row times one outer step (zero_grad, objective(model, batch).backward(), Adam step) of the objective
meta_train uses: ml.MAML, Pretrain, and the satellites reptile.Reptile, maml_plus.MAMLPlus (the tuned recipe, at
its own setting: 50 tasks, K=5 support + 10 query, outer_lr 5e-3), metasgd.MetaSGD, and notebook 07's
anil.ANIL, cavia.CAVIA and learned_opt.LearnedOptimizer (5 unrolled steps, 10 hidden units, as shipped) when
importable.
The tuned row times the smooth start (softplus on layer 2), which covers 80% of a run's iterations.

Usage: .venv/bin/python benchmarks/meta_iteration.py [--repeats 200]
Prints the median of several timing rounds. The loop/batched ratio is measured in paired rounds, each
timing the batched step and then the loop back to back, so a slow spell on a shared machine hits both
sides of a ratio; the median and the range of the per-round ratios are printed.
The machines are shared and noisy: compare ratios, not absolute figures, between releases.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from maml_lite.maml_plus import MAMLPlus
from maml_lite.reptile import Reptile

import maml_lite as ml
from maml_lite.adapt import mse
from maml_lite.train import Pretrain

try:
    from maml_lite.metasgd import MetaSGD
except ImportError:  # an older package without the Meta-SGD satellite
    MetaSGD = None
try:
    from maml_lite import anil, cavia, learned_opt
except ImportError:  # an older package without notebook 07's satellites
    anil = cavia = learned_opt = None

TUNED_ITERATIONS = 18000  # the recipe's run length: the timed calls all fall in its smooth start


def timed(step, repeats: int, rounds: int = 5) -> float:
    """Median over `rounds` of the mean ms per call of step()."""
    for _ in range(max(3, repeats // 10)):
        step()
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        per_round.append((time.perf_counter() - start) / repeats * 1e3)
    return statistics.median(per_round)


def paired_ratios(fast, slow, repeats: int, rounds: int = 7) -> list[float]:
    """Per-round ratio (ms of slow) / (ms of fast), each round timing both back to back."""
    return [timed(slow, max(10, repeats // 10), rounds=1) / timed(fast, repeats, rounds=1) for _ in range(rounds)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ml.make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = ml.SineTasks().sample(25, 10, 10, generator=torch.Generator().manual_seed(0))

    def outer_step(loss_fn, optimizer=opt):
        def step():
            optimizer.zero_grad()
            loss_fn().backward()
            optimizer.step()
        return step

    def objective_step(objective, net=model):
        """One meta_train iteration of `objective`; its own parameters (learned scales, rates) are trained too."""
        optimizer = torch.optim.Adam([*net.parameters(), *objective.parameters()], lr=1e-3)
        return outer_step(lambda: objective(net, batch), optimizer)

    def per_task_loop_loss():
        """The same second-order work, one task at a time in a Python loop."""
        total = 0.0
        for i in range(25):
            adapted = ml.adapt(model, batch.x_support[i], batch.y_support[i], 1, 0.01)
            total = total + mse(ml.predict(model, adapted, batch.x_query[i]), batch.y_query[i])
        return total / 25

    # maml_plus's recipe (notebook 06, docs/maml_plus.md): 2 inner steps with the multi-step loss, learned unit
    # scales, layer 2 through a softplus sharpening into the ReLU; 50 tasks, K=5 + 10 query, outer_lr 5e-3.
    tuned = MAMLPlus(model, TUNED_ITERATIONS, (0.7, 0.3), learn_unit_scales=True, relu_smoothing=(3, 100),
                     smooth_layers=(2,))
    opt_tuned = torch.optim.Adam([*model.parameters(), *tuned.parameters()], lr=5e-3)
    tuned_batch = ml.SineTasks().sample(50, 5, 10, generator=torch.Generator().manual_seed(0))
    tuned_step = outer_step(lambda: tuned(model, tuned_batch), opt_tuned)

    rows = {
        "MAML (second order), batched": objective_step(ml.MAML()),
        "tuned MAML (maml_plus recipe), batched": tuned_step,
        **({"Meta-SGD (learned rates), batched": objective_step(MetaSGD(model))} if MetaSGD else {}),
        "first-order MAML, batched": objective_step(ml.MAML(first_order=True)),
        "Reptile (5 inner steps), batched": objective_step(Reptile()),
        "pretrain (pooled regression)": objective_step(Pretrain()),
        **({"ANIL (head-only inner loop), batched": objective_step(anil.ANIL()),
            "CAVIA (2 context inputs), batched": objective_step(cavia.CAVIA(), cavia.make_cavia_model()),
            "LSTM optimiser (5 steps), batched": objective_step(
                learned_opt.LearnedOptimizer(learned_opt.LSTMRule(hidden=10), 5)),
            "meta-learner (5 steps), batched": objective_step(
                learned_opt.LearnedOptimizer(learned_opt.MetaLearnerRule(hidden=10), 5)),
            } if anil else {}),
        "MAML (second order), per-task loop": outer_step(per_task_loop_loss),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, 25 tasks x K=10 (support) + 10 (query)")
    times = {}
    for name, step in rows.items():
        times[name] = timed(step, args.repeats if "loop" not in name else max(10, args.repeats // 10))
        print(f"  {name:40s} {times[name]:8.2f} ms / meta-iteration")
    loop, batched = rows["MAML (second order), per-task loop"], rows["MAML (second order), batched"]
    ratios = paired_ratios(batched, loop, args.repeats)
    print(f"  batched second-order MAML is {statistics.median(ratios):.1f}x faster than the per-task loop "
          f"(median of {len(ratios)} paired rounds; range {min(ratios):.1f}x to {max(ratios):.1f}x)")
    cost = times["tuned MAML (maml_plus recipe), batched"] / times["MAML (second order), batched"]
    print(f"  the tuned recipe's iteration (50 tasks, K=5 + 10 query, 2 inner steps) costs {cost:.1f}x a plain "
          "MAML iteration (25 tasks, K=10 + 10)")

    if anil:
        maml_ms = times["MAML (second order), batched"]
        print(f"  an ANIL iteration costs {times['ANIL (head-only inner loop), batched'] / maml_ms:.2f}x a MAML one; a "
              f"meta-learner iteration (5 steps of a rule run for every coordinate) "
              f"{times['meta-learner (5 steps), batched'] / maml_ms:.0f}x")

    # The widget's cost: adapt 10 SGD steps on 10 points, then predict 200 points.
    x, y = batch.x_support[0], batch.y_support[0]
    grid = torch.linspace(-5, 5, 200)[:, None]

    def widget_update():
        params = ml.adapt(model, x, y, inner_steps=10, inner_lr=0.01, first_order=True)
        with torch.no_grad():
            ml.predict(model, params, grid)

    widget_ms = timed(widget_update, args.repeats)
    print(f"  adapt 10 steps on 10 points + predict 200 points: {widget_ms:.2f} ms (one model)")


if __name__ == "__main__":
    main()
