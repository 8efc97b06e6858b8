"""The inner loop: a few steps of plain SGD on a task's support points.

    theta'_i = theta - alpha * grad_theta L_support_i(theta)        (Finn et al. 2017, eq. 1)

Functional: the model is never mutated; the adapted parameters come back as a dict. With
`first_order=False` the result stays differentiable through every inner step (second-order MAML);
with `first_order=True` the inner gradients are treated as constants (FOMAML), so
d theta'/d theta = I. A batch of tasks is adapted in one pass: the loss is the *sum* of the
per-task losses, so its gradient with respect to per-task copies of theta is exactly each task's
own gradient. Taught in notebooks/02_maml.ipynb and 03_first_order_maml.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .model import Params, predict


def check_points(x: Tensor, y: Tensor, what: str = "support") -> None:
    """Raise a clear TypeError/ValueError unless x, y are matching finite (k, 1) or (b, k, 1)."""
    for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
        if t.dim() not in (2, 3) or t.shape[-1] != 1:
            raise ValueError(
                f"{name} must have shape (k, 1) for one task or (meta_batch, k, 1) for a batch, "
                f"got {tuple(t.shape)}"
            )
    if x.shape != y.shape:
        raise ValueError(f"x_{what} and y_{what} must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[-2] == 0:
        raise ValueError(f"no {what} points (k = 0): give at least one (x, y) pair to adapt to")
    for name, t in ((f"x_{what}", x), (f"y_{what}", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf; remove those points before adapting")


def check_inner(inner_steps: int, inner_lr: float | Mapping[str, Tensor]) -> None:
    """Raise unless inner_steps is an int >= 0 and inner_lr a finite float >= 0 (or a dict of rates)."""
    if isinstance(inner_steps, bool) or not isinstance(inner_steps, int):
        raise TypeError(f"inner_steps must be an int, got {type(inner_steps).__name__}")
    if inner_steps < 0:
        raise ValueError(f"inner_steps must be >= 0, got {inner_steps}")
    if isinstance(inner_lr, Mapping):
        return
    if isinstance(inner_lr, bool) or not isinstance(inner_lr, (int, float)):
        raise TypeError(f"inner_lr must be a float (or a dict of per-parameter rates), got {type(inner_lr).__name__}")
    if not math.isfinite(inner_lr) or inner_lr < 0:
        raise ValueError(f"inner_lr must be a finite number >= 0, got {inner_lr}")


def mse(pred: Tensor, y: Tensor) -> Tensor:
    """Mean squared error per task, summed over tasks. pred, y: (k, 1) or (meta_batch, k, 1)."""
    return ((pred - y) ** 2).mean(dim=(-2, -1)).sum()


def _batch_params(model: nn.Module, params: Mapping[str, Tensor], meta_batch: int | None) -> Params:
    """Give every parameter a leading task dimension of size meta_batch (a view, no copy)."""
    shapes = {n: p.shape for n, p in model.named_parameters()}
    out = {}
    for n, p in params.items():
        if meta_batch is not None and p.shape == shapes[n]:
            p = p.expand(meta_batch, *p.shape)
        out[n] = p
    return out


def adapt(
    model: nn.Module,
    x_support: Tensor,
    y_support: Tensor,
    inner_steps: int = 1,
    inner_lr: float | Mapping[str, Tensor] = 0.01,
    first_order: bool = False,
    params: Mapping[str, Tensor] | None = None,
) -> Params:
    """Adapt `params` (default: the model's own) by `inner_steps` SGD steps on the support points.

    x_support, y_support: (k, 1) for one task, or (meta_batch, k, 1) for a batch of tasks.
    inner_lr: a float, or a dict of per-parameter rates shaped like the parameters (Meta-SGD).
    params: optional starting parameters, each shaped like the model's or with a leading
            meta_batch dimension (one starting point per task).
    Returns the adapted parameters; each has a leading meta_batch dimension if x_support has.
    """
    check_points(x_support, y_support)
    check_inner(inner_steps, inner_lr)
    meta_batch = x_support.shape[0] if x_support.dim() == 3 else None
    params = _batch_params(model, dict(model.named_parameters()) if params is None else params, meta_batch)
    if not any(p.requires_grad for p in params.values()):
        params = {n: p.detach().requires_grad_() for n, p in params.items()}
    for _ in range(inner_steps):
        loss = mse(predict(model, params, x_support), y_support)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        params = {
            n: p - (inner_lr[n] if isinstance(inner_lr, Mapping) else inner_lr) * g
            for (n, p), g in zip(params.items(), grads)
        }
    return params
