"""CAVIA (Zintgraf et al. 2019, "Fast context adaptation via meta-learning"): adapt a context, not
the network.

    network         f_theta(x, c): an MLP on x joined with a context vector c (n_context numbers)
    inner loop      c_i = 0;  c_i <- c_i - alpha * grad_c L_support_i(f_theta(., c_i))
                    (inner_steps times)
    meta-objective  mean_i L_query_i(f_theta(., c_i)), minimised over theta by the outer loop

The network's weights are shared by every task and never adapted; a task is told apart only by its
context, a few numbers found by gradient descent on its support points (alpha = 1.0 in the paper).
For the sine tasks two numbers suffice in principle (amplitude and phase); `contexts` shows what the
network learned to put there. Taught in notebooks/07_beyond_maml.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..adapt import task_loss
from ..checks import check_float, check_hidden, check_inner, check_int
from ..method import Method
from ..model import MLP
from ..tasks import TaskBatch

MAX_CONTEXT = 1000  # context sizes beyond this are surely a mistake


def make_cavia_model(n_context: int = 2, hidden: Sequence[int] = (40, 40)) -> MLP:
    """CAVIA's network: (n, 1 + n_context) -> (n, 1), x joined with the context. Seed torch first
    for a fixed init."""
    check_int("n_context", n_context, 1, MAX_CONTEXT)
    return MLP((1 + n_context, *check_hidden(hidden), 1))


def with_context(x: Tensor, context: Tensor) -> Tensor:
    """x joined with each task's context: x (meta_batch, n, 1), context (meta_batch, n_context)
    -> (meta_batch, n, 1 + n_context)."""
    return torch.cat([x, context.unsqueeze(-2).expand(*x.shape[:-1], context.shape[-1])], dim=-1)


class CAVIA(Method):
    """CAVIA: SGD at inner_lr on a context of n_context numbers per task, starting from zeros."""

    name = "cavia"

    def __init__(self, n_context: int = 2, inner_steps: int = 1, inner_lr: float = 1.0,
                 first_order: bool = False) -> None:
        super().__init__()
        self.n_context = check_int("n_context", n_context, 1, MAX_CONTEXT)
        check_inner(inner_steps, inner_lr)
        self.inner_steps, self.inner_lr = inner_steps, check_float("inner_lr", inner_lr)
        self.first_order = bool(first_order)

    def make_model(self) -> MLP:
        return make_cavia_model(self.n_context)

    def start(self, model: nn.Module, x_support: Tensor) -> Tensor:
        if not isinstance(model, MLP):
            raise TypeError("CAVIA needs the core MLP with 1 + n_context inputs, e.g. "
                            f"make_cavia_model(2); got {type(model).__name__}")
        if model.sizes[0] != 1 + self.n_context:
            raise ValueError(f"CAVIA(n_context={self.n_context}) needs a network that reads x and "
                             f"the context, 1 + {self.n_context} inputs: "
                             f"make_cavia_model({self.n_context}); got {model!r}")
        return torch.zeros(x_support.shape[0], self.n_context, dtype=x_support.dtype)

    def step(self, model: nn.Module, context: Tensor, x_support: Tensor, y_support: Tensor,
             create_graph: bool) -> Tensor:
        with torch.enable_grad():  # the inner loop needs gradients even inside torch.no_grad()
            context = context if context.requires_grad else context.detach().requires_grad_()
            # one gradient per task
            loss = task_loss(model(with_context(x_support, context)), y_support).sum()
            (grad,) = torch.autograd.grad(loss, [context], create_graph=create_graph)
        return context - self.inner_lr * grad

    def predict(self, model: nn.Module, context: Tensor, x: Tensor) -> Tensor:
        return model(with_context(x, context))


def contexts(model: nn.Module, method: CAVIA, batch: TaskBatch, steps: int = 1) -> Tensor:
    """Each task's context after `steps` inner steps, (n_tasks, n_context), detached: plot it
    against batch.amplitude and batch.phase."""
    with torch.no_grad():
        *_, context = method.states(model, batch.x_support, batch.y_support, steps)
    return context
