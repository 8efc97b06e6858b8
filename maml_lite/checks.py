"""Argument checks shared by the package: each raises a TypeError/ValueError that says what to do."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from torch import Tensor

MAX_INNER_STEPS = 1000  # inner steps one call may take (second order keeps every step's graph in memory)


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """value as an int in [minimum, maximum]; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_float(name: str, value: object, minimum: float = 0.0, strict: bool = False) -> float:
    """value as a finite float >= minimum (> minimum if strict); bools and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum:g}, got {value}")
    return float(value)


def check_points(x: Tensor, y: Tensor, what: str = "support") -> None:
    """Matching finite float tensors of shape (k, 1) or (meta_batch, k, 1), with k >= 1."""
    for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
        if t.dim() not in (2, 3) or t.shape[-1] != 1:
            raise ValueError(f"{name} must have shape (k, 1) for one task or (meta_batch, k, 1) for a batch, "
                             f"got {tuple(t.shape)}; a 1-D tensor x becomes (k, 1) with x[:, None]")
    if x.shape != y.shape:
        raise ValueError(f"x_{what} and y_{what} must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[-2] == 0:
        raise ValueError(f"no {what} points (k = 0): give at least one (x, y) pair")
    for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
        if not t.isfinite().all():
            raise ValueError(f"{name} contains NaN or inf; remove those points first")


def check_inner(inner_steps: object, inner_lr: object) -> None:
    """inner_steps an int in [0, MAX_INNER_STEPS]; inner_lr a finite float >= 0 or a dict of finite rate tensors."""
    if isinstance(inner_steps, int) and not isinstance(inner_steps, bool) and inner_steps > MAX_INNER_STEPS:
        raise ValueError(f"inner_steps={inner_steps} is more than {MAX_INNER_STEPS}: each second-order step keeps its "
                         "graph in memory (about 0.3 MB per step for 25 tasks of 10 points), so use fewer steps, "
                         "or first_order=True and a loop over calls")
    check_int("inner_steps", inner_steps, 0)
    if not isinstance(inner_lr, Mapping):
        check_float("inner_lr", inner_lr)
        return
    for name, rate in inner_lr.items():
        if not isinstance(rate, Tensor) or not rate.isfinite().all():
            raise ValueError(f"inner_lr[{name!r}] must be a tensor of finite per-parameter step sizes")


def check_steps(steps: object, ascending: bool = False) -> list[int]:
    """steps as a non-empty list of step counts >= 0 (in ascending order if `ascending`)."""
    steps = list(steps) if isinstance(steps, Iterable) else steps
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"steps must name at least one step count, e.g. range(11), got {steps!r}")
    for s in steps:
        check_int("a step count", s, 0)
    if ascending and steps != sorted(steps):
        raise ValueError(f"steps must be in ascending order, e.g. range(11), got {steps}")
    return steps


def check_hidden(hidden: object) -> tuple[int, ...]:
    """Hidden-layer widths as a non-empty tuple of ints in [1, 4096]."""
    hidden = tuple(hidden) if isinstance(hidden, (tuple, list)) else hidden
    if not hidden or not isinstance(hidden, tuple) or any(
            isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 4096 for h in hidden):
        raise ValueError(f"hidden must be a non-empty tuple of widths between 1 and 4096, got {hidden!r}")
    return hidden
