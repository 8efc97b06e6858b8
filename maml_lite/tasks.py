"""The paper's sine-wave task family (Finn et al. 2017, section 5.1).

A task is y = A sin(x - phi) with A ~ U[0.1, 5.0], phi ~ U[0, pi], x ~ U[-5, 5].
Taught in notebooks/01_fine_tuning.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch of sine tasks; every tensor has a leading task dimension.

    x_support, y_support: (meta_batch, k_support, 1)
    x_query,   y_query:   (meta_batch, k_query, 1)
    amplitude, phase:     (meta_batch,)
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    amplitude: Tensor
    phase: Tensor


def _check_range(name: str, lo_hi: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in lo_hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be a finite (low, high) pair with low <= high, got {lo_hi!r}")
    return lo, hi


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class SineTasks:
    """The distribution of sine tasks. Defaults are the paper's ranges."""

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def __post_init__(self) -> None:
        _check_range("amplitude", self.amplitude)
        _check_range("phase", self.phase)
        _check_range("x_range", self.x_range)

    @staticmethod
    def function(x: Tensor, amplitude: Tensor, phase: Tensor) -> Tensor:
        """y = A sin(x - phi). x: (meta_batch, n, 1); amplitude, phase: (meta_batch,)."""
        return amplitude.view(-1, 1, 1) * torch.sin(x - phase.view(-1, 1, 1))

    def sample(
        self,
        meta_batch: int,
        k_support: int,
        k_query: int = 0,
        generator: torch.Generator | None = None,
    ) -> TaskBatch:
        """Draw `meta_batch` tasks with `k_support` support and `k_query` query points each."""
        _check_count("meta_batch", meta_batch, 1)
        _check_count("k_support", k_support, 1)
        _check_count("k_query", k_query, 0)

        def uniform(shape: tuple[int, ...], lo_hi: tuple[float, float]) -> Tensor:
            lo, hi = lo_hi
            return lo + (hi - lo) * torch.rand(shape, generator=generator)

        amplitude = uniform((meta_batch,), self.amplitude)
        phase = uniform((meta_batch,), self.phase)
        x = uniform((meta_batch, k_support + k_query, 1), self.x_range)
        y = self.function(x, amplitude, phase)
        return TaskBatch(
            x_support=x[:, :k_support],
            y_support=y[:, :k_support],
            x_query=x[:, k_support:],
            y_query=y[:, k_support:],
            amplitude=amplitude,
            phase=phase,
        )

    def grid(self, n: int = 100) -> Tensor:
        """n evenly spaced x over the task range, shape (n, 1): the paper's test grid."""
        return torch.linspace(*self.x_range, n).unsqueeze(-1)
