"""CAVIA (Zintgraf et al. 2019, "Fast context adaptation via meta-learning"): adapt a context, not the network.

    network        f_theta(x, c): an MLP on x joined with a context vector c (n_context numbers)
    inner loop     c_i = 0;  c_i <- c_i - alpha * grad_c L_support_i(f_theta(., c_i))      (inner_steps times)
    meta-objective mean_i L_query_i(f_theta(., c_i)), minimised over theta by the outer loop

The network's weights are shared by every task and never adapted; a task is told apart only by its context,
a few numbers found by gradient descent on its support points (alpha = 1.0 in the paper). For the sine tasks
two numbers suffice in principle (amplitude and phase); `contexts` shows what the network learned to put there.

A satellite of the core: `CAVIA` is an objective for `meta_train`, and `adapter()` plugs context adaptation
into the core's test protocol: `ml.evaluate(model, 5, adapter=adapter())`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from .adapt import mse, task_mse
from .checks import check_float, check_hidden, check_inner, check_int, check_points, check_steps
from .evaluate import Adapter, grid_targets
from .model import MLP
from .tasks import TaskBatch

MAX_CONTEXT = 1000  # context sizes beyond this are surely a mistake


def make_cavia_model(n_context: int = 2, hidden: Sequence[int] = (40, 40)) -> MLP:
    """CAVIA's network: (n, 1 + n_context) -> (n, 1), x joined with the context. Seed torch first for a fixed init."""
    check_int("n_context", n_context, 1, MAX_CONTEXT)
    return MLP((1 + n_context, *check_hidden(hidden), 1))


def context_size(model: nn.Module) -> int:
    """The model's n_context: its input size minus one (for x). Refuses a model that takes no context."""
    if not isinstance(model, MLP):
        raise TypeError(f"CAVIA needs the core MLP with 1 + n_context inputs, e.g. make_cavia_model(2); "
                        f"got {type(model).__name__}")
    n_context = model.sizes[0] - 1
    if n_context < 1:
        raise ValueError(f"the model takes {model.sizes[0]} input (x alone), so it has no room for a context: CAVIA's "
                         "network takes x and the context, e.g. make_cavia_model(n_context=2)")
    return n_context


def with_context(x: Tensor, context: Tensor) -> Tensor:
    """x joined with each task's context: x (meta_batch, n, 1), context (meta_batch, n_context)
    -> (meta_batch, n, 1 + n_context). Also one task: x (n, 1), context (n_context,) -> (n, 1 + n_context)."""
    if (not isinstance(x, Tensor) or not isinstance(context, Tensor) or x.dim() not in (2, 3) or x.shape[-1] != 1
            or context.dim() != x.dim() - 1 or context.shape[:-1] != x.shape[:-2]):
        shapes = [tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in (x, context)]
        raise ValueError(f"x must be (meta_batch, n, 1) and context (meta_batch, n_context) (or (n, 1) and "
                         f"(n_context,) for one task), got {shapes[0]} and {shapes[1]}")
    return torch.cat([x, context.unsqueeze(-2).expand(*x.shape[:-1], context.shape[-1])], dim=-1)


def adapt_context(model: nn.Module, x_support: Tensor, y_support: Tensor, inner_steps: int = 1,
                  inner_lr: float = 1.0, first_order: bool = False, context: Tensor | None = None) -> Tensor:
    """Each task's context after `inner_steps` SGD steps on its support points; the network is not adapted.

    x_support, y_support: (meta_batch, k, 1). context: where to start, (meta_batch, n_context); default zeros,
    as in the paper. Returns (meta_batch, n_context), differentiable with respect to the network through every
    step unless first_order (then the inner gradients are constants).
    """
    n_context = context_size(model)
    check_points(x_support, y_support)
    check_inner(inner_steps, inner_lr)
    check_float("inner_lr", inner_lr)
    if x_support.dim() != 3:
        raise ValueError(f"x_support must have a leading meta_batch dimension, (meta_batch, k, 1), got "
                         f"{tuple(x_support.shape)}; for one task use x[None] and y[None]")
    dtype = model.layers[0].weight.dtype
    if x_support.dtype != dtype:
        raise TypeError(f"x_support is {x_support.dtype} but the model is {dtype}; convert one, e.g. model.double()")
    shape = (x_support.shape[0], n_context)
    if context is None:
        context = torch.zeros(shape, dtype=dtype)
    elif not isinstance(context, Tensor) or context.shape != shape:
        raise ValueError(f"context must be one starting context per task, shape {shape}, "
                         f"got {tuple(context.shape) if isinstance(context, Tensor) else type(context).__name__}")
    if not context.requires_grad:
        context = context.detach().requires_grad_()
    with torch.enable_grad():  # the inner loop needs gradients even inside torch.no_grad()
        for _ in range(inner_steps):
            loss = mse(model(with_context(x_support, context)), y_support)  # a sum over tasks: one gradient each
            (grad,) = torch.autograd.grad(loss, [context], create_graph=not first_order)
            context = context - inner_lr * grad
    return context


def cavia_loss(model: nn.Module, batch: TaskBatch, inner_steps: int = 1, inner_lr: float = 1.0,
               first_order: bool = False) -> Tensor:
    """Mean query loss after adapting each task's context to its support set: CAVIA's meta-objective.

    Scaled like `ml.meta_loss`: each task's query MSE, summed over tasks, divided by meta_batch.
    """
    check_points(batch.x_query, batch.y_query, "query")
    context = adapt_context(model, batch.x_support, batch.y_support, inner_steps, inner_lr, first_order)
    return mse(model(with_context(batch.x_query, context)), batch.y_query) / batch.x_query.shape[0]


class CAVIA(nn.Module):
    """CAVIA's meta-objective, `cavia_loss`, with fixed settings: an objective for `meta_train`."""

    def __init__(self, n_context: int = 2, inner_steps: int = 1, inner_lr: float = 1.0,
                 first_order: bool = False) -> None:
        super().__init__()
        self.n_context = check_int("n_context", n_context, 1, MAX_CONTEXT)
        check_inner(inner_steps, inner_lr)
        self.inner_steps, self.inner_lr = inner_steps, check_float("inner_lr", inner_lr)
        self.first_order = bool(first_order)

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        if context_size(model) != self.n_context:
            raise ValueError(f"the model takes {model.sizes[0]} inputs but CAVIA(n_context={self.n_context}) needs "
                             f"1 + {self.n_context}; build it with make_cavia_model(n_context={self.n_context})")
        return cavia_loss(model, batch, self.inner_steps, self.inner_lr, self.first_order)

    def extra_repr(self) -> str:
        return (f"n_context={self.n_context}, inner_steps={self.inner_steps}, inner_lr={self.inner_lr:g}, "
                f"first_order={self.first_order}")


def task_errors(model: nn.Module, batch: TaskBatch, steps: Iterable[int] = range(11),
                inner_lr: float = 1.0) -> Tensor:
    """Each task's MSE on the paper's 100-point test grid after each number of context steps: (len(steps), n_tasks).

    The contract of `maml_lite.evaluate.task_errors`, with the context adapted instead of the weights: from
    zeros, by plain SGD at inner_lr on each task's support points, one step at a time (nothing is
    differentiated through). steps: ascending.
    """
    steps = check_steps(steps, ascending=True)
    check_inner(steps[-1], inner_lr)
    check_float("inner_lr", inner_lr)
    x_grid, y_grid = grid_targets(batch)
    x_grid, y_grid = x_grid.to(batch.x_support.dtype), y_grid.to(batch.x_support.dtype)
    context = adapt_context(model, batch.x_support, batch.y_support, 0).detach()  # zeros, after all checks
    errors = []
    for step in range(steps[-1] + 1):
        if step in steps:
            with torch.no_grad():
                errors.append(task_mse(model(with_context(x_grid, context)), y_grid))
        if step < steps[-1]:
            context = adapt_context(model, batch.x_support, batch.y_support, 1, inner_lr, first_order=True,
                                    context=context).detach()
    return torch.stack(errors)


def adapter(inner_lr: float = 1.0) -> Adapter:
    """CAVIA's adaptation for the core's test protocol: `ml.evaluate(model, k, steps, adapter=adapter())`."""
    inner_lr = check_float("inner_lr", inner_lr)

    def cavia_adapter(model: nn.Module, batch: TaskBatch, steps: list[int]) -> Tensor:
        return task_errors(model, batch, steps, inner_lr)

    return cavia_adapter


def contexts(model: nn.Module, batch: TaskBatch, inner_steps: int = 1, inner_lr: float = 1.0) -> Tensor:
    """Each task's adapted context, (n_tasks, n_context), detached: plot it against batch.amplitude and batch.phase."""
    return adapt_context(model, batch.x_support, batch.y_support, inner_steps, inner_lr, first_order=True).detach()
