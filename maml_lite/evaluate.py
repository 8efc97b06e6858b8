"""The paper's test protocol (Finn et al. 2017, section 5.1 and Table 2).

Fresh tasks, K support points each, plain SGD steps at inner_lr, MSE on 100 evenly spaced x in
[-5, 5]; mean over tasks with a 95% confidence interval 1.96 std / sqrt(n_tasks). Taught in
notebooks/01_fine_tuning.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .adapt import adapt, check_inner
from .model import predict
from .tasks import SineTasks, TaskBatch, _check_count


@dataclass(frozen=True)
class EvalResult:
    """MSE after each number of SGD steps. Lists are indexed like `steps`.

    mean is taken over *all* tasks, so one diverged task makes it inf or nan; `nonfinite` counts them,
    and `median` (over tasks) shows what a typical task looks like regardless.
    """

    k_shot: int
    n_tasks: int
    steps: list[int]
    mean: list[float]
    ci95: list[float]
    nonfinite: list[int]
    median: list[float]

    def at(self, step: int) -> tuple[float, float]:
        """(mean, ci95) after `step` SGD steps."""
        i = self.steps.index(step)
        return self.mean[i], self.ci95[i]

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"K={self.k_shot}, {self.n_tasks} tasks: steps  MSE +- 95% CI  (non-finite tasks)"]
        for s, m, c, bad in zip(self.steps, self.mean, self.ci95, self.nonfinite):
            lines.append(f"  {s:5d}  {m:7.3f} +- {c:.3f}" + (f"  ({bad} non-finite)" if bad else ""))
        return "\n".join(lines)


def task_errors(
    model: nn.Module,
    batch: TaskBatch,
    steps: Iterable[int] = range(11),
    inner_lr: float | Mapping[str, Tensor] = 0.01,
    tasks: SineTasks = SineTasks(),
) -> Tensor:
    """Each task's MSE on 100 evenly spaced x after each step count: (len(steps), n_tasks).

    batch: the tasks, with their K support points (n_tasks, k, 1) and amplitude/phase (n_tasks,).
    Each task is adapted from the model's parameters by plain SGD on its support points, one step at
    a time (nothing is differentiated through), and scored on the whole true curve after each count
    in `steps` (sorted ascending). `evaluate` averages these; notebooks use them to look at single tasks.
    """
    steps = list(steps)
    if not steps or steps != sorted(steps) or steps[0] < 0:
        raise ValueError(f"steps must be step counts >= 0 in ascending order, e.g. range(11), got {steps}")
    check_inner(steps[-1], inner_lr)
    n_tasks = batch.x_support.shape[0]
    x_grid = tasks.grid(100).expand(n_tasks, 100, 1)
    y_grid = tasks.function(x_grid, batch.amplitude, batch.phase)
    params = {n: p.detach().expand(n_tasks, *p.shape) for n, p in model.named_parameters()}
    errors = []
    for step in range(steps[-1] + 1):
        if step in steps:
            with torch.no_grad():
                errors.append(((predict(model, params, x_grid) - y_grid) ** 2).mean(dim=(-2, -1)))
        if step < steps[-1]:
            params = adapt(model, batch.x_support, batch.y_support, 1, inner_lr, first_order=True, params=params)
            params = {n: p.detach() for n, p in params.items()}
    return torch.stack(errors)


def evaluate(
    model: nn.Module,
    k_shot: int,
    steps: Iterable[int] = range(11),
    n_tasks: int = 600,
    inner_lr: float | Mapping[str, Tensor] = 0.01,
    seed: int = 2017,
    tasks: SineTasks = SineTasks(),
) -> EvalResult:
    """Adapt `model` to `n_tasks` fresh tasks from `k_shot` points; MSE on the grid after each step count."""
    _check_count("k_shot", k_shot, 1)
    _check_count("n_tasks", n_tasks, 2)
    steps = sorted(set(steps))
    if not steps:
        raise ValueError("steps must name at least one step count, e.g. range(11)")
    if steps[0] < 0:
        raise ValueError(f"step counts must be >= 0, got {steps[0]}")
    check_inner(steps[-1], inner_lr)
    batch = tasks.sample(n_tasks, k_shot, generator=torch.Generator().manual_seed(seed))
    errors = task_errors(model, batch, steps, inner_lr, tasks)  # (len(steps), n_tasks)
    return EvalResult(
        k_shot, n_tasks, steps,
        mean=errors.mean(1).tolist(),
        ci95=[1.96 * sd / math.sqrt(n_tasks) for sd in errors.std(1).tolist()],
        nonfinite=(~torch.isfinite(errors)).sum(1).tolist(),
        median=errors.median(1).values.tolist(),
    )
