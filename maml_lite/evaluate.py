"""The paper's test protocol (Finn et al. 2017, section 5.1 and Table 2).

Fresh tasks, K support points each, plain SGD steps at inner_lr, MSE on 100 evenly spaced x in [-5, 5];
mean over tasks with a 95% confidence interval 1.96 std / sqrt(n_tasks). Taught in notebooks/01_fine_tuning.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .adapt import adapt, task_mse
from .checks import check_inner, check_int, check_steps
from .model import predict
from .tasks import SineTasks, TaskBatch

# A task counts as diverged when its grid MSE is NaN, inf or above this: eight times the error of predicting
# y = 0 for a task of the largest amplitude (5^2 / 2 = 12.5). SGD that overshoots lands far above it.
DIVERGED_MSE = 100.0

# How a method adapts and is scored: adapter(model, batch, steps) -> each task's grid MSE, (len(steps), n_tasks).
# The default is plain SGD (`task_errors`); a satellite that adapts differently (a learned optimiser, CAVIA's
# context) passes its own, and everything else in the protocol stays the same.
Adapter = Callable[[nn.Module, TaskBatch, list[int]], Tensor]


@dataclass(frozen=True)
class EvalResult:
    """MSE after each number of SGD steps. Lists are indexed like `steps`.

    mean is taken over *all* tasks, so one diverged task can make it huge, inf or nan; `diverged` counts
    those tasks (MSE non-finite or above DIVERGED_MSE), and `median` shows a typical task regardless.
    """

    k_shot: int
    n_tasks: int
    steps: list[int]
    mean: list[float]
    ci95: list[float]
    median: list[float]
    diverged: list[int]

    def at(self, step: int) -> tuple[float, float]:
        """(mean, ci95) after `step` SGD steps."""
        if step not in self.steps:
            raise ValueError(f"step {step} was not evaluated; this result has steps {self.steps}")
        i = self.steps.index(step)
        return self.mean[i], self.ci95[i]

    def __str__(self) -> str:
        lines = [f"K={self.k_shot}, {self.n_tasks} tasks: steps  MSE +- 95% CI  (diverged tasks)"]
        for s, m, c, bad in zip(self.steps, self.mean, self.ci95, self.diverged):
            lines.append(f"  {s:5d}  {m:7.3f} +- {c:.3f}" + (f"  ({bad} diverged)" if bad else ""))
        return "\n".join(lines)


def grid_targets(batch: TaskBatch, n: int = 100) -> tuple[Tensor, Tensor]:
    """Each task's test grid: n evenly spaced x in [-5, 5] and the true y, both (n_tasks, n, 1)."""
    x_grid = SineTasks().grid(n).expand(batch.amplitude.shape[0], n, 1)
    return x_grid, SineTasks.function(x_grid, batch.amplitude, batch.phase)


def task_errors(model: nn.Module, batch: TaskBatch, steps: Iterable[int] = range(11),
                inner_lr: float | Mapping[str, Tensor] = 0.01) -> Tensor:
    """Each task's MSE on 100 evenly spaced x after each step count: (len(steps), n_tasks).

    batch: the tasks, with their K support points (n_tasks, k, 1) and amplitude/phase (n_tasks,).
    Each task is adapted from the model's parameters by plain SGD on its support points, one step at
    a time (nothing is differentiated through), and scored on the whole true curve after each count
    in `steps` (ascending). `evaluate` averages these; notebooks use them to look at single tasks.
    """
    steps = check_steps(steps, ascending=True)
    check_inner(steps[-1], inner_lr)
    n_tasks = batch.x_support.shape[0]
    x_grid, y_grid = grid_targets(batch)
    params = {n: p.detach().expand(n_tasks, *p.shape) for n, p in model.named_parameters()}
    errors = []
    for step in range(steps[-1] + 1):
        if step in steps:
            with torch.no_grad():
                errors.append(task_mse(predict(model, params, x_grid), y_grid))
        if step < steps[-1]:
            params = adapt(model, batch.x_support, batch.y_support, 1, inner_lr, first_order=True, params=params)
            params = {n: p.detach() for n, p in params.items()}
    return torch.stack(errors)


def evaluate(model: nn.Module, k_shot: int, steps: Iterable[int] = range(11), n_tasks: int = 600,
             inner_lr: float | Mapping[str, Tensor] = 0.01, seed: int = 2017,
             adapter: Adapter | None = None) -> EvalResult:
    """Adapt `model` to `n_tasks` fresh tasks from `k_shot` points; MSE on the grid after each step count.

    adapter: how to adapt and score instead of SGD at inner_lr (see Adapter), e.g. a learned optimiser's.
    """
    check_int("k_shot", k_shot, 1)
    check_int("n_tasks", n_tasks, 2, 100_000)
    check_int("seed", seed, 0)
    steps = sorted(set(check_steps(steps)))
    check_inner(steps[-1], inner_lr)
    batch = SineTasks().sample(n_tasks, k_shot, generator=torch.Generator().manual_seed(seed))
    errors = task_errors(model, batch, steps, inner_lr) if adapter is None else adapter(model, batch, steps)
    if not isinstance(errors, Tensor) or errors.shape != (len(steps), n_tasks):
        raise ValueError(f"the adapter must return each task's MSE after each step count, shape "
                         f"({len(steps)}, {n_tasks}), got {getattr(errors, 'shape', type(errors).__name__)}")
    return EvalResult(
        k_shot, n_tasks, steps,
        mean=errors.mean(1).tolist(),
        ci95=[1.96 * sd / math.sqrt(n_tasks) for sd in errors.std(1).tolist()],
        median=errors.nan_to_num(nan=math.inf).median(1).values.tolist(),  # a NaN task counts as the worst
        diverged=(~(errors <= DIVERGED_MSE)).sum(1).tolist(),
    )
