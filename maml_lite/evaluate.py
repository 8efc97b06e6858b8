"""The paper's test protocol (Finn et al. 2017, section 5.1 and Table 2), for any method.

Fresh tasks, K support points each, the method's inner steps (SGD at 0.01 for MAML), MSE on 100
evenly spaced x in [-5, 5]; mean over tasks with a 95% confidence interval 1.96 std / sqrt(n_tasks).
Every method is scored through its own `trajectory`, so they all meet the same tasks and the same
grid. Taught in notebooks/01_fine_tuning.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .adapt import dtype_of
from .checks import check_int, check_memory, check_steps, memory_limit
from .method import MAML, Method
from .tasks import SineTasks, TaskBatch


@dataclass(frozen=True)
class EvalResult:
    """The error after each number of inner steps. Lists are indexed like `steps`.

    mean is taken over *all* tasks, so one diverged task can make it huge, inf or nan; `diverged`
    counts those tasks (for sine tasks: MSE non-finite or above 100), and `median` shows a typical
    task regardless.
    """

    k_shot: int
    n_tasks: int
    steps: list[int]
    mean: list[float]
    ci95: list[float]
    median: list[float]
    diverged: list[int]
    metric: str = "MSE"

    def at(self, step: int) -> tuple[float, float]:
        """(mean, ci95) after `step` inner steps."""
        if step not in self.steps:
            raise ValueError(f"step {step} was not evaluated; this result has steps {self.steps}")
        i = self.steps.index(step)
        return self.mean[i], self.ci95[i]

    def __str__(self) -> str:
        lines = [f"K={self.k_shot}, {self.n_tasks} tasks: steps  {self.metric} +- 95% "
                 "CI  (diverged tasks)"]
        for s, m, c, bad in zip(self.steps, self.mean, self.ci95, self.diverged):
            lines.append(f"  {s:5d}  {m:7.3f} +- {c:.3f}" + (f"  ({bad} diverged)" if bad else ""))
        return "\n".join(lines)


def task_errors(model: nn.Module, batch: TaskBatch, steps: Iterable[int] = range(11),
                method: Method | None = None, tasks: SineTasks | None = None) -> Tensor:
    """Each task's score after each step count: (len(steps), n_tasks); for sine tasks the MSE on
    100 x.

    batch: the tasks with their K support points. Each task is adapted from the model by `method`
    (default: SGD at 0.01, as MAML adapts), nothing differentiated through, and scored where the
    task family says (sine: the whole true curve) after each count in `steps` (ascending). Tasks go
    through a chunk at a time (`method.eval_chunk`, fewer if memory is short), so memory does not
    grow with their number. `evaluate` averages these.
    """
    steps = check_steps(steps, ascending=True)
    method, tasks = MAML() if method is None else method, SineTasks() if tasks is None else tasks
    dtype = dtype_of(model)  # a float64 model is scored on float64 tasks
    x_eval, y_eval = (t.to(dtype) if t.is_floating_point() else t for t in tasks.eval_points(batch))
    x_support, y_support = (t.to(dtype) if t.is_floating_point() else t
                            for t in (batch.x_support, batch.y_support))
    n_tasks, k, n_eval = x_eval.shape[0], x_support.shape[1], x_eval.shape[1]
    per_task = method.bytes_per_task(model, k + n_eval, 1) + 4 * (steps[-1] + 1) * y_eval[0].numel()
    check_memory(f"adapting one task to {k} points", per_task, "k_shot")
    # tasks adapted at once: a quarter of the budget (a notebook's kernel holds more than this call)
    chunk = max(1, min(method.eval_chunk, memory_limit() // (4 * per_task)))
    errors = []
    for i in range(0, n_tasks, chunk):
        part = slice(i, i + chunk)
        pred = method.trajectory(model, x_support[part], y_support[part], x_eval[part], steps[-1])
        errors.append(tasks.score(pred[steps], y_eval[part]))
    return torch.cat(errors, dim=1)


def evaluate(model: nn.Module, k_shot: int, steps: Iterable[int] = range(11), n_tasks: int = 600,
             seed: int = 2017, method: Method | None = None,
             tasks: SineTasks | None = None) -> EvalResult:
    """Adapt `model` to `n_tasks` fresh tasks from `k_shot` points each by `method` (default: SGD at
    0.01); the error after each step count, averaged over the tasks, with its 95% CI."""
    check_int("k_shot", k_shot, 1)
    check_int("n_tasks", n_tasks, 2, 100_000)
    check_int("seed", seed, 0)
    steps = sorted(set(check_steps(steps)))
    tasks = SineTasks() if tasks is None else tasks
    batch = tasks.sample(n_tasks, k_shot, generator=torch.Generator().manual_seed(seed))
    errors = task_errors(model, batch, steps, method, tasks)
    return EvalResult(
        k_shot, n_tasks, steps,
        mean=errors.mean(1).tolist(),
        ci95=[1.96 * sd / math.sqrt(n_tasks) for sd in errors.std(1).tolist()],
        # a NaN task counts as the worst
        median=errors.nan_to_num(nan=math.inf).median(1).values.tolist(),
        diverged=tasks.diverged(errors).sum(1).tolist(),
        metric=tasks.metric,
    )
