"""The paper's sine-wave task family (Finn et al. 2017, section 5.1).

A task is y = A sin(x - phi) with A ~ U[0.1, 5.0], phi ~ U[0, pi], x ~ U[-5, 5].
Taught in notebooks/01_fine_tuning.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .checks import check_int, check_memory

# A sine task counts as diverged when its grid MSE is NaN, inf or above this: eight times the error
# of predicting y = 0 for a task of the largest amplitude (5^2 / 2 = 12.5). SGD that overshoots
# lands far above.
DIVERGED_MSE = 100.0


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch of sine tasks; every tensor has a leading task dimension.

    x_support, y_support: (meta_batch, k_shot, 1)   the points a model adapts to
    x_query,   y_query:   (meta_batch, k_query, 1)  fresh points of the same tasks that score it
    amplitude, phase:     (meta_batch,)
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    amplitude: Tensor
    phase: Tensor

    def to(self, dtype: torch.dtype) -> TaskBatch:
        """The same tasks in another float dtype (e.g. torch.float64, for a float64 model)."""
        return TaskBatch(*(getattr(self, f).to(dtype) for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class SineTasks:
    """The distribution of sine tasks. Defaults are the paper's ranges.

    A task family samples meta-batches (`sample`) and says how an adapted model is scored
    (`eval_points`, `score`, `diverged`): here the MSE on 100 evenly spaced x, the paper's
    test protocol.
    """

    metric = "MSE"  # what `score` measures; lower is better

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def __post_init__(self) -> None:
        for name in ("amplitude", "phase", "x_range"):
            lo_hi = getattr(self, name)
            if not (isinstance(lo_hi, (tuple, list)) and len(lo_hi) == 2
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in lo_hi)
                    and lo_hi[0] <= lo_hi[1]):
                raise ValueError(f"{name} must be a finite (low, high) pair with low <= high, got "
                                 f"{lo_hi!r}")

    @staticmethod
    def function(x: Tensor, amplitude: Tensor, phase: Tensor) -> Tensor:
        """y = A sin(x - phi). x: (meta_batch, n, 1); amplitude, phase: (meta_batch,)."""
        return amplitude.view(-1, 1, 1) * torch.sin(x - phase.view(-1, 1, 1))

    def sample(self, meta_batch: int, k_shot: int, k_query: int = 0,
               generator: torch.Generator | None = None) -> TaskBatch:
        """Draw `meta_batch` tasks with `k_shot` support and `k_query` query points each."""
        check_int("meta_batch", meta_batch, 1)
        check_int("k_shot", k_shot, 1)
        check_int("k_query", k_query, 0)
        check_memory(f"{meta_batch} tasks of {k_shot + k_query} points",
                     16 * meta_batch * (k_shot + k_query),
                     "the number of tasks or k_shot")  # x, y and two temporaries, 4 bytes each

        def uniform(shape: tuple[int, ...], lo_hi: tuple[float, float]) -> Tensor:
            lo, hi = lo_hi
            return lo + (hi - lo) * torch.rand(shape, generator=generator)

        amplitude = uniform((meta_batch,), self.amplitude)
        phase = uniform((meta_batch,), self.phase)
        x = uniform((meta_batch, k_shot + k_query, 1), self.x_range)
        y = self.function(x, amplitude, phase)
        return TaskBatch(x[:, :k_shot], y[:, :k_shot], x[:, k_shot:], y[:, k_shot:], amplitude,
                         phase)

    def grid(self, n: int = 100) -> Tensor:
        """n evenly spaced x over the task range, shape (n, 1): the paper's test grid."""
        return torch.linspace(*self.x_range, n).unsqueeze(-1)

    def eval_points(self, batch: TaskBatch, n: int = 100) -> tuple[Tensor, Tensor]:
        """Where each task is scored: the test grid and the true y, both (meta_batch, n, 1)."""
        x = self.grid(n).to(batch.x_support.dtype).expand(batch.amplitude.shape[0], n, 1)
        return x, self.function(x, batch.amplitude.to(x.dtype), batch.phase.to(x.dtype))

    @staticmethod
    def score(pred: Tensor, y: Tensor) -> Tensor:
        """Each task's MSE: pred, y (meta_batch, n, 1) -> (meta_batch,)."""
        return ((pred - y) ** 2).mean(dim=(-2, -1))

    @staticmethod
    def diverged(scores: Tensor) -> Tensor:
        """Which scores count as diverged: NaN, inf or above DIVERGED_MSE. Same shape as
        scores, bool."""
        return ~(scores <= DIVERGED_MSE)
