"""The inner loop and MAML's meta-objective.

    inner loop     theta'_i = theta - alpha * grad_theta L_support_i(theta)           (Finn et al. 2017, eq. 1)
    meta-objective mean_i L_query_i(theta'_i), minimised over theta by the outer loop  (eq. 2)

Functional: the model is never mutated; adapted parameters come back as a dict. With `first_order=False`
the result stays differentiable through every inner step (second-order MAML); with `first_order=True` the
inner gradients are constants (first-order MAML), so d theta'/d theta = I. A batch of tasks is adapted in one
pass: the loss is the *sum* of the per-task losses, so its gradient with respect to per-task copies of theta
is exactly each task's own gradient. Taught in notebooks/02_maml.ipynb and 03_first_order_maml.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .checks import check_inner, check_points
from .model import Params, predict
from .tasks import TaskBatch


def task_mse(pred: Tensor, y: Tensor) -> Tensor:
    """Each task's mean squared error. pred, y: (k, 1) -> (), or (meta_batch, k, 1) -> (meta_batch,)."""
    return ((pred - y) ** 2).mean(dim=(-2, -1))


def mse(pred: Tensor, y: Tensor) -> Tensor:
    """Mean squared error per task, summed over tasks. pred, y: (k, 1) or (meta_batch, k, 1)."""
    return task_mse(pred, y).sum()


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
    own = dict(model.named_parameters())
    params = own if params is None else dict(params)
    if params.keys() != own.keys():
        raise ValueError(f"params must name the model's parameters {sorted(own)}, got {sorted(params)}")
    dtype = next(iter(own.values())).dtype
    if x_support.dtype != dtype:
        raise TypeError(f"x_support is {x_support.dtype} but the model is {dtype}; "
                        "convert one, e.g. x_support.float() or model.double()")
    if x_support.dim() == 3:  # one starting point per task: a view with a leading task dimension, no copy
        params = {n: p.expand(x_support.shape[0], *p.shape) if p.shape == own[n].shape else p
                  for n, p in params.items()}
    if not any(p.requires_grad for p in params.values()):  # e.g. detached weights: make them differentiable
        params = {n: p.detach().requires_grad_() for n, p in params.items()}
    with torch.enable_grad():  # the inner loop needs gradients even inside torch.no_grad()
        for _ in range(inner_steps):
            loss = mse(predict(model, params, x_support), y_support)
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
            params = {
                n: p - (inner_lr[n] if isinstance(inner_lr, Mapping) else inner_lr) * g
                for (n, p), g in zip(params.items(), grads)
            }
    return params


def meta_loss(model: nn.Module, batch: TaskBatch, inner_steps: int = 1, inner_lr: float | Mapping[str, Tensor] = 0.01,
              first_order: bool = False, params: Mapping[str, Tensor] | None = None) -> Tensor:
    """Mean query loss after adapting to each task's support set: MAML's meta-objective.

    Its gradient with respect to the model's parameters is the (second-order, or first-order if
    `first_order`) meta-gradient. batch tensors: (meta_batch, k, 1). params: where adaptation starts.
    """
    check_points(batch.x_query, batch.y_query, "query")
    adapted = adapt(model, batch.x_support, batch.y_support, inner_steps, inner_lr, first_order, params)
    return mse(predict(model, adapted, batch.x_query), batch.y_query) / batch.x_query.shape[0]
