"""ANIL (Raghu et al. 2020, "Rapid learning or feature reuse?"): MAML with an inner loop on the head only.

    features       phi_theta(x)  the last hidden layer's activations (the body: every layer but the last)
    inner loop     (w'_i, b'_i) = (w, b) - alpha * grad_(w, b) L_support_i(w phi_theta(x) + b)
    meta-objective mean_i L_query_i(w'_i phi_theta(x) + b'_i), minimised over theta, w and b by the outer loop

The body is shared by every task and never adapted, so its features are computed once per task, for support
and query points together, and the inner loop only moves the head: a (1, hidden) weight and a (1,) bias
per task. The paper's finding is that MAML's rapid learning is mostly this feature reuse.

A satellite of the core: `ANIL` is an objective for `meta_train`. `head_rates` gives the core's whole-network
inner loop the same behaviour (zero step size for the body), so `ml.adapt` and `ml.evaluate` adapt a model the
ANIL way with no other change: `ml.evaluate(model, 5, inner_lr=head_rates(model))`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .adapt import mse
from .checks import check_float, check_inner, check_points
from .model import ACTIVATIONS, MLP, forward
from .tasks import TaskBatch


def _check_mlp(model: nn.Module) -> int:
    """The index of the model's last layer (its head); refuses what is not the core MLP with hidden layers."""
    if not isinstance(model, MLP):
        raise TypeError(f"ANIL needs the core MLP (maml_lite.MLP, e.g. ml.make_model()), whose last layer is the head "
                        f"it adapts; got {type(model).__name__}")
    if len(model.layers) < 2:
        raise ValueError(f"ANIL needs an MLP with at least one hidden layer (the body), got sizes {model.sizes}")
    return len(model.layers) - 1


def head_rates(model: nn.Module, inner_lr: float = 0.01) -> dict[str, Tensor]:
    """Per-parameter step sizes for the core's inner loop: inner_lr for the last layer, 0 for the body.

    Shaped like the model's parameters, so `ml.adapt(model, x, y, steps, head_rates(model))` and
    `ml.evaluate(model, k, inner_lr=head_rates(model))` adapt the head only, the ANIL way.
    """
    head = _check_mlp(model)
    rate = check_float("inner_lr", inner_lr)
    return {n: torch.full_like(p.detach(), rate if n.startswith(f"layers.{head}.") else 0.0)
            for n, p in model.named_parameters()}


def features(model: nn.Module, x: Tensor) -> Tensor:
    """The body's output: the last hidden layer's activations.

    x: (n, in) or (meta_batch, n, in), in = the model's input size (1 for ml.make_model()).
    Returns (n, hidden) or (meta_batch, n, hidden); the model's output is head(features).
    """
    head = _check_mlp(model)
    n_in = model.sizes[0]
    if not isinstance(x, Tensor) or x.dim() not in (2, 3) or x.shape[-1] != n_in:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (n, {n_in}) or (meta_batch, n, {n_in}), got {shape}; "
                         "a 1-D tensor x becomes (n, 1) with x[:, None]")
    acts = model.activation if isinstance(model.activation, (tuple, list)) else (model.activation,) * head
    body = {n: p for n, p in model.named_parameters() if not n.startswith(f"layers.{head}.")}
    last = ACTIVATIONS[acts[-1]] if isinstance(acts[-1], str) else acts[-1]
    return last(forward(body, x, tuple(acts[:-1])))


def head_predict(phi: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """The head, task by task: weight phi + bias.

    phi (meta_batch, n, h), weight (meta_batch, 1, h), bias (meta_batch, 1) -> (meta_batch, n, 1).
    """
    return torch.matmul(phi, weight.transpose(-1, -2)) + bias.unsqueeze(-2)


def adapt_head(phi: Tensor, y: Tensor, weight: Tensor, bias: Tensor, inner_steps: int = 1, inner_lr: float = 0.01,
               first_order: bool = False) -> tuple[Tensor, Tensor]:
    """`inner_steps` SGD steps on the head alone, for every task at once.

    phi: support features (meta_batch, k, h); y: (meta_batch, k, 1); weight (1, h) and bias (1,) are the head's
    starting point, shared by all tasks. Returns per-task heads: weight (meta_batch, 1, h), bias (meta_batch, 1),
    differentiable through every step unless first_order (then the inner gradients are constants).
    """
    check_inner(inner_steps, inner_lr)
    check_float("inner_lr", inner_lr)
    meta_batch = phi.shape[0]
    weight, bias = weight.expand(meta_batch, *weight.shape), bias.expand(meta_batch, *bias.shape)
    if not (weight.requires_grad or bias.requires_grad):  # e.g. a detached head: make it differentiable
        weight, bias = weight.detach().requires_grad_(), bias.detach().requires_grad_()
    with torch.enable_grad():  # the inner loop needs gradients even inside torch.no_grad()
        for _ in range(inner_steps):
            loss = mse(head_predict(phi, weight, bias), y)  # a sum over tasks: each task gets its own gradient
            g_weight, g_bias = torch.autograd.grad(loss, [weight, bias], create_graph=not first_order)
            weight, bias = weight - inner_lr * g_weight, bias - inner_lr * g_bias
    return weight, bias


def anil_loss(model: nn.Module, batch: TaskBatch, inner_steps: int = 1, inner_lr: float = 0.01,
              first_order: bool = False) -> Tensor:
    """Mean query loss after adapting each task's head to its support set: ANIL's meta-objective.

    Equal, value and gradient, to `ml.meta_loss(model, batch, inner_steps, head_rates(model, inner_lr))`, at
    the cost of an inner loop over a head instead of the whole network. batch tensors: (meta_batch, k, 1).
    """
    head = _check_mlp(model)
    check_points(batch.x_support, batch.y_support)
    check_points(batch.x_query, batch.y_query, "query")
    if batch.x_support.dim() != 3:
        raise ValueError(f"batch tensors must have a leading meta_batch dimension, (meta_batch, k, 1), "
                         f"got {tuple(batch.x_support.shape)}")
    weight, bias = model.layers[head].weight, model.layers[head].bias
    if batch.x_support.dtype != weight.dtype:
        raise TypeError(f"the batch is {batch.x_support.dtype} but the model is {weight.dtype}; convert one, "
                        "e.g. model.double()")
    k = batch.x_support.shape[1]
    phi = features(model, torch.cat([batch.x_support, batch.x_query], dim=1))  # the body runs once
    weight, bias = adapt_head(phi[:, :k], batch.y_support, weight, bias, inner_steps, inner_lr, first_order)
    return mse(head_predict(phi[:, k:], weight, bias), batch.y_query) / batch.x_query.shape[0]


class ANIL(nn.Module):
    """ANIL's meta-objective, `anil_loss`, with fixed inner-loop settings: an objective for `meta_train`."""

    def __init__(self, inner_steps: int = 1, inner_lr: float = 0.01, first_order: bool = False) -> None:
        super().__init__()
        check_inner(inner_steps, inner_lr)
        self.inner_steps, self.inner_lr = inner_steps, check_float("inner_lr", inner_lr)
        self.first_order = bool(first_order)

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        return anil_loss(model, batch, self.inner_steps, self.inner_lr, self.first_order)

    def extra_repr(self) -> str:
        return f"inner_steps={self.inner_steps}, inner_lr={self.inner_lr:g}, first_order={self.first_order}"
