"""ANIL (Raghu et al. 2020, "Rapid learning or feature reuse?"): MAML with an inner loop on the
head only.

    features        phi_theta(x)  the last hidden layer's activations (the body: every layer but
                    the last)
    inner loop      (w'_i, b'_i) = (w, b) - alpha * grad_(w, b) L_support_i(w phi_theta(x) + b)
    meta-objective  mean_i L_query_i(w'_i phi_theta(x) + b'_i), minimised over theta, w and b by
                    the outer loop

The body is shared by every task and never adapted; the state an inner step moves is only the head:
a (1, hidden) weight and a (1,) bias per task. The paper's finding is that MAML's rapid learning is
mostly this feature reuse. Applied to MAML's own network, `ANIL()` adapts its head alone ("MAML,
head only"). Taught in notebooks/07_beyond_maml.ipynb.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..adapt import mse
from ..checks import check_float, check_inner
from ..method import Method
from ..model import ACTIVATIONS, MLP, forward

# weight (meta_batch, 1, h), bias (meta_batch, 1), support features
Head = tuple[Tensor, Tensor, Tensor]


def features(model: MLP, x: Tensor) -> Tensor:
    """The body's output, the last hidden layer's activations: x (n, 1) or (meta_batch, n, 1) ->
    (..., n, hidden).

    The model's output is head(features): weight phi + bias with the last layer's weight and bias.
    """
    head = len(model.layers) - 1
    acts = (model.activation if isinstance(model.activation, (tuple, list))
            else (model.activation,) * head)
    body = {n: p for n, p in model.named_parameters() if not n.startswith(f"layers.{head}.")}
    last = ACTIVATIONS[acts[-1]] if isinstance(acts[-1], str) else acts[-1]
    return last(forward(body, x, tuple(acts[:-1])))


def head_predict(phi: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """The head, task by task: phi (meta_batch, n, h), weight (meta_batch, 1, h), bias (meta_batch,
    1) -> weight phi + bias, (meta_batch, n, 1)."""
    return torch.baddbmm(bias.unsqueeze(-2), phi, weight.transpose(-1, -2))


class ANIL(Method):
    """ANIL: SGD at inner_lr on the last layer alone, `inner_steps` steps in training; the body
    is fixed."""

    name = "anil"
    sgd_on_weights = True  # plain SGD at inner_lr, on the head's weights

    def __init__(self, inner_steps: int = 1, inner_lr: float = 0.01,
                 first_order: bool = False) -> None:
        super().__init__()
        check_inner(inner_steps, inner_lr)
        self.inner_steps, self.inner_lr = inner_steps, check_float("inner_lr", inner_lr)
        self.first_order = bool(first_order)

    def start(self, model: nn.Module, x_support: Tensor) -> Head:
        if not isinstance(model, MLP) or len(model.layers) < 2:
            raise TypeError("ANIL adapts the last layer of the core MLP (maml_lite.MLP, e.g. "
                            "ml.make_model()) on top of at least one hidden layer; got "
                            f"{type(model).__name__}")
        head, n = model.layers[-1], x_support.shape[0]
        # the body never adapts: its features of the support points are computed once, for
        # every step
        return (head.weight.expand(n, *head.weight.shape), head.bias.expand(n, 1),
                features(model, x_support))

    def step(self, model: nn.Module, state: Head, x_support: Tensor, y_support: Tensor,
             create_graph: bool) -> Head:
        weight, bias, phi = state
        with torch.enable_grad():  # the inner loop needs gradients even inside torch.no_grad()
            weight, bias = (t if t.requires_grad else t.detach().requires_grad_()
                            for t in (weight, bias))
            # a sum over tasks: one gradient each
            loss = mse(head_predict(phi, weight, bias), y_support)
            g_weight, g_bias = torch.autograd.grad(loss, [weight, bias], create_graph=create_graph)
        return (weight.add(g_weight, alpha=-self.inner_lr), bias.add(g_bias, alpha=-self.inner_lr),
                phi)

    def predict(self, model: nn.Module, state: Head, x: Tensor) -> Tensor:
        weight, bias, _ = state
        return head_predict(features(model, x), weight, bias)
