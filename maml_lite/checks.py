"""Argument checks shared by the package: each raises a TypeError/ValueError that says what
to do."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor

# inner steps one call may take (second order keeps every step's graph in memory)
MAX_INNER_STEPS = 1000
# what one call may allocate unless MAML_LITE_MEMORY_GB says otherwise (Binder gives 2 GB)
MEMORY_LIMIT_GB = 2.0


def memory_limit() -> int:
    """Bytes one call may use: MEMORY_LIMIT_GB, or the environment variable MAML_LITE_MEMORY_GB."""
    text = os.environ.get("MAML_LITE_MEMORY_GB", "")
    try:
        gb = float(text) if text else MEMORY_LIMIT_GB
    except ValueError:
        raise ValueError("MAML_LITE_MEMORY_GB must be a number of gigabytes, e.g. 8, got "
                         f"{text!r}") from None
    return int(gb * 2**30)


def check_memory(what: str, needed: float, lower: str) -> None:
    """Refuse, before any work, what would need more memory than memory_limit(), naming what
    to lower."""
    limit = memory_limit()
    if needed > limit:
        raise ValueError(f"{what} would need about {needed / 2**30:.1f} GB of memory, more than "
                         f"the {limit / 2**30:.1f} GB allowed: lower {lower} (or, if the machine "
                         "has the memory, raise the limit with the environment variable "
                         "MAML_LITE_MEMORY_GB)")


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
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum:g}, "
                         f"got {value}")
    return float(value)


def check_points(x: Tensor, y: Tensor, what: str = "support", dtype: object = None,
                 finite: bool = True) -> None:
    """Matching finite points: x float, y real (k, 1) or (meta_batch, k, 1) like x, or class labels.

    Class labels are integers y (k,) or (meta_batch, k), with x (k, ...) or (meta_batch, k, ...).
    dtype: the model's dtype, which x must have. finite=False skips the one check that costs tensor
    operations (NaN or inf in the points), for the training loop, where a NaN shows up as a
    NaN loss.
    """
    for axis, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{axis}_{what} must be a torch.Tensor, got {type(t).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x_{what} must be a floating-point tensor, got {x.dtype}")
    if y.is_floating_point():
        for axis, t in (("x", x), ("y", y)):
            if t.dim() not in (2, 3) or t.shape[-1] != 1:
                raise ValueError(f"{axis}_{what} must have shape (k, 1) for one task or "
                                 f"(meta_batch, k, 1) for a batch, got {tuple(t.shape)}; a 1-D "
                                 "tensor x becomes (k, 1) with x[:, None]")
        if x.shape != y.shape:
            raise ValueError(f"x_{what} and y_{what} must have the same shape, got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
    elif (y.dtype in (torch.int64, torch.int32) and y.dim() in (1, 2)
          and x.shape[:y.dim()] == y.shape):
        pass  # class labels, one per point
    else:
        raise TypeError(f"y_{what} must be real targets shaped like x_{what}, or integer class "
                        f"labels (k,) or (meta_batch, k); got {y.dtype} {tuple(y.shape)} for "
                        f"x_{what} {tuple(x.shape)}")
    if (x.shape[-2] if y.is_floating_point() else y.shape[-1]) == 0:
        raise ValueError(f"no {what} points (k = 0): give at least one (x, y) pair")
    for axis, t in (("x", x), ("y", y)):
        if finite and t.is_floating_point() and not t.isfinite().all():
            raise ValueError(f"{axis}_{what} contains NaN or inf; remove those points first")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"x_{what} is {x.dtype} but the model is {dtype}; convert one, e.g. "
                        f"x.to({dtype}) or model.to(x.dtype)")


def check_inner(inner_steps: object, inner_lr: object) -> None:
    """inner_steps an int in [0, MAX_INNER_STEPS]; inner_lr a finite float >= 0 or a dict of finite
    rate tensors."""
    if (isinstance(inner_steps, int) and not isinstance(inner_steps, bool)
            and inner_steps > MAX_INNER_STEPS):
        raise ValueError(f"inner_steps={inner_steps} is more than {MAX_INNER_STEPS}: each "
                         "second-order step keeps its graph in memory (about 0.3 MB per step for "
                         "25 tasks of 10 points), so use fewer steps, or first_order=True and a "
                         "loop over calls")
    check_int("inner_steps", inner_steps, 0)
    if not isinstance(inner_lr, Mapping):
        check_float("inner_lr", inner_lr)
        return
    for name, rate in inner_lr.items():
        if not isinstance(rate, Tensor) or not rate.isfinite().all():
            raise ValueError(f"inner_lr[{name!r}] must be a tensor of finite per-parameter step "
                             "sizes")


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
        raise ValueError("hidden must be a non-empty tuple of widths between 1 and 4096, got "
                         f"{hidden!r}")
    return hidden


@functools.cache
def mlp_names(n_layers: int) -> frozenset[str]:
    """The parameter names of an MLP with n_layers layers: layers.{i}.weight and layers.{i}.bias."""
    return frozenset(f"layers.{i}.{kind}" for i in range(n_layers) for kind in ("weight", "bias"))


def check_forward(params: Mapping[str, Tensor], x: object, activation: object,
                  known: Mapping[str, Callable]) -> list[Callable | None]:
    """The activation to apply after each layer (None after the last) once params and x are an
    MLP's; `known` maps activation names to functions.

    Pure Python (no tensor operations), so it costs nothing in the inner loop.
    """
    n_layers = len(params) // 2
    if not n_layers or params.keys() != mlp_names(n_layers):
        raise ValueError("params must be an MLP's 'layers.{i}.weight' and 'layers.{i}.bias' for "
                         f"each layer, e.g. dict(model.named_parameters()); got {sorted(params)}")
    n_in = params["layers.0.weight"].shape[-1]
    if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[-1] != n_in:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (n, {n_in}) (or with a leading task "
                         f"dimension), got {got}")
    if isinstance(activation, str):
        if activation not in known:
            raise ValueError(f"unknown activation {activation!r}; use one of {sorted(known)} or a "
                             "function")
        return [known[activation]] * (n_layers - 1) + [None]
    acts = list(activation) if isinstance(activation, Sequence) else [activation] * (n_layers - 1)
    if len(acts) != n_layers - 1:
        raise ValueError(f"need one activation per hidden layer ({n_layers - 1}), got {len(acts)}")
    unknown = [a for a in acts if isinstance(a, str) and a not in known]
    if unknown:
        raise ValueError(f"unknown activation {unknown[0]!r}; use one of {sorted(known)} or a "
                         "function")
    return [known[a] if isinstance(a, str) else a for a in acts] + [None]
