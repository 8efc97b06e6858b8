"""The inner loop and MAML's meta-objective.

    inner loop      theta'_i = theta - alpha * grad_theta L_support_i(theta)
                    (Finn et al. 2017, eq. 1)
    meta-objective  mean_i L_query_i(theta'_i), minimised over theta by the outer loop
                    (eq. 2)

Functional: the model is never mutated; adapted parameters come back as a dict. With
`first_order=False` the result stays differentiable through every inner step (second-order MAML);
with `first_order=True` the inner gradients are constants (first-order MAML), so d theta'/d theta =
I. A batch of tasks is adapted in one pass: the loss is the *sum* of the per-task losses, so its
gradient with respect to per-task copies of theta is exactly each task's own gradient. Taught in
notebooks/02_maml.ipynb and 03_first_order_maml.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_inner, check_points
from .model import Params, predict
from .tasks import TaskBatch

# one step size, or one per parameter entry (Meta-SGD, ANIL's head)
Rate = float | Mapping[str, Tensor]


def task_loss(pred: Tensor, y: Tensor) -> Tensor:
    """Each task's loss: the MSE for real targets, the cross-entropy for class labels.

    Regression: pred, y (k, 1) -> (), or (meta_batch, k, 1) -> (meta_batch,).
    Classification: logits pred (meta_batch, k, n_way) and integer labels y (meta_batch, k)
    -> (meta_batch,).
    """
    if y.is_floating_point():
        return ((pred - y) ** 2).mean(dim=(-2, -1))
    return F.cross_entropy(pred.flatten(0, -2), y.flatten(),
                           reduction="none").view(y.shape).mean(-1)


def mse(pred: Tensor, y: Tensor) -> Tensor:
    """Each task's loss, summed over the tasks: task_loss(pred, y).sum(), in one fused call.

    The inner loop differentiates this sum: its gradient with respect to per-task parameters is each
    task's own.
    """
    if y.is_floating_point():
        # every task has the same k points
        return F.mse_loss(pred, y, reduction="sum") / y.shape[-2]
    return F.cross_entropy(pred.flatten(0, -2), y.flatten(), reduction="sum") / y.shape[-1]


def query_loss(pred: Tensor, y: Tensor) -> Tensor:
    """The meta-objective's mean_i L_query_i: task_loss(pred, y).mean(), in one fused call."""
    if y.is_floating_point():
        # every task has the same number of points: the mean of means is the mean
        return F.mse_loss(pred, y)
    return F.cross_entropy(pred.flatten(0, -2), y.flatten())


def sgd_step(model: nn.Module, params: Mapping[str, Tensor], x_support: Tensor, y_support: Tensor,
             inner_lr: Rate, create_graph: bool) -> Params:
    """One SGD step on the support loss, every task at once: theta - alpha * grad L_support(theta).

    params: shaped like the model's, or with a leading meta_batch dimension (one per task).
    create_graph=True keeps the step differentiable (second order); False makes the gradient
    a constant.
    """
    with torch.enable_grad():  # the inner loop needs gradients even inside torch.no_grad()
        params = {n: p if p.requires_grad else p.detach().requires_grad_()
                  for n, p in params.items()}
        # a sum over tasks: one gradient per task
        loss = mse(predict(model, params, x_support), y_support)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
    if isinstance(inner_lr, Mapping):  # one rate per parameter entry: theta - alpha o g
        return {n: torch.addcmul(p, inner_lr[n], g, value=-1)
                for (n, p), g in zip(params.items(), grads)}
    # theta - alpha g
    return {n: p.add(g, alpha=-inner_lr) for (n, p), g in zip(params.items(), grads)}


def dtype_of(model: nn.Module) -> torch.dtype:
    """The dtype of a model's parameters (float32 unless converted)."""
    return next(model.parameters()).dtype


def start_params(model: nn.Module, x_support: Tensor,
                 params: Mapping[str, Tensor] | None = None) -> Params:
    """Where adaptation starts: `params` (default the model's own), one per task if x_support is a
    batch (a view with a leading task dimension, no copy)."""
    own = dict(model.named_parameters())
    params = own if params is None else dict(params)
    if x_support.dim() == getattr(model, "point_dims", 1) + 2:  # (meta_batch, k, *point)
        params = {n: p.expand(x_support.shape[0], *p.shape) if p.shape == own[n].shape else p
                  for n, p in params.items()}
    return params


def adapt(
    model: nn.Module,
    x_support: Tensor,
    y_support: Tensor,
    inner_steps: int = 1,
    inner_lr: Rate = 0.01,
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
    check_points(x_support, y_support, dtype=dtype_of(model))
    check_inner(inner_steps, inner_lr)
    names = [n for n, _ in model.named_parameters()]
    if params is not None and params.keys() != set(names):
        raise ValueError(f"params must name the model's parameters {sorted(names)}, got "
                         f"{sorted(params)}")
    params = start_params(model, x_support, params)
    for _ in range(inner_steps):
        params = sgd_step(model, params, x_support, y_support, inner_lr,
                          create_graph=not first_order)
    return params


def meta_loss(model: nn.Module, batch: TaskBatch, inner_steps: int = 1, inner_lr: Rate = 0.01,
              first_order: bool = False, params: Mapping[str, Tensor] | None = None) -> Tensor:
    """Mean query loss after adapting to each task's support set: MAML's meta-objective.

    Its gradient with respect to the model's parameters is the (second-order, or first-order if
    `first_order`) meta-gradient. batch tensors: (meta_batch, k, 1). params: where
    adaptation starts.
    """
    check_points(batch.x_query, batch.y_query, "query", dtype=dtype_of(model))
    adapted = adapt(model, batch.x_support, batch.y_support, inner_steps, inner_lr, first_order,
                    params)
    return query_loss(predict(model, adapted, batch.x_query), batch.y_query)
