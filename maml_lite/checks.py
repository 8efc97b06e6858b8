"""Argument checks shared by the package: each raises a TypeError/ValueError that says what to do."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
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


def check_points(x: Tensor, y: Tensor, what: str = "support", like: object = None, finite: bool = True) -> None:
    """Matching finite points: x float, y real (k, 1) or (meta_batch, k, 1) like x, or class labels.

    Class labels are integers y (k,) or (meta_batch, k), with x (k, ...) or (meta_batch, k, ...).
    like: a model whose parameters' dtype x must have. finite=False skips the one check that costs tensor
    operations (NaN or inf in the points), for the training loop, where a NaN shows up as a NaN loss.
    """
    for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x_{what} must be a floating-point tensor, got {x.dtype}")
    if y.is_floating_point():
        for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
            if t.dim() not in (2, 3) or t.shape[-1] != 1:
                raise ValueError(f"{name} must have shape (k, 1) for one task or (meta_batch, k, 1) for a batch, "
                                 f"got {tuple(t.shape)}; a 1-D tensor x becomes (k, 1) with x[:, None]")
        if x.shape != y.shape:
            raise ValueError(f"x_{what} and y_{what} must have the same shape, got {tuple(x.shape)} and "
                             f"{tuple(y.shape)}")
    elif y.dtype in (torch.int64, torch.int32) and y.dim() in (1, 2) and x.shape[:y.dim()] == y.shape:
        pass  # class labels, one per point
    else:
        raise TypeError(f"y_{what} must be real targets shaped like x_{what}, or integer class labels (k,) or "
                        f"(meta_batch, k); got {y.dtype} {tuple(y.shape)} for x_{what} {tuple(x.shape)}")
    if (x.shape[-2] if y.is_floating_point() else y.shape[-1]) == 0:
        raise ValueError(f"no {what} points (k = 0): give at least one (x, y) pair")
    for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
        if finite and t.is_floating_point() and not t.isfinite().all():
            raise ValueError(f"{name} contains NaN or inf; remove those points first")
    dtype = next((p.dtype for p in like.parameters()), x.dtype) if like is not None else x.dtype
    if x.dtype != dtype:
        raise TypeError(f"x_{what} is {x.dtype} but the model is {dtype}; convert one, e.g. x.to({dtype}) "
                        "or model.to(x.dtype)")


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


def check_forward(params: Mapping[str, Tensor], x: object, activation: object,
                  known: Mapping[str, Callable]) -> list[Callable | None]:
    """The activation to apply after each layer (None after the last) once params and x are an MLP's;
    `known` maps activation names to functions.

    Pure Python (no tensor operations), so it costs nothing in the inner loop.
    """
    n_layers = len(params) // 2
    names = {f"layers.{i}.{kind}" for i in range(n_layers) for kind in ("weight", "bias")}
    if not n_layers or set(params) != names:
        raise ValueError("params must be an MLP's 'layers.{i}.weight' and 'layers.{i}.bias' for each "
                         f"layer, e.g. dict(model.named_parameters()); got {sorted(params)}")
    n_in = params["layers.0.weight"].shape[-1]
    if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[-1] != n_in:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (n, {n_in}) (or with a leading task dimension), "
                         f"got {got}")
    acts = list(activation) if isinstance(activation, Sequence) and not isinstance(activation, str) \
        else [activation] * (n_layers - 1)
    if len(acts) != n_layers - 1:
        raise ValueError(f"need one activation per hidden layer ({n_layers - 1}), got {len(acts)}")
    unknown = [a for a in acts if isinstance(a, str) and a not in known]
    if unknown:
        raise ValueError(f"unknown activation {unknown[0]!r}; use one of {sorted(known)} or a function")
    return [known[a] if isinstance(a, str) else a for a in acts] + [None]
