"""Learned optimisers: the update rule itself meta-trained, beside (or instead of) MAML's
initialisation.

    SGD (MAML)      theta_{t+1} = theta_t - alpha g_t              alpha fixed, theta_0 learned
    LSTM optimiser  theta_{t+1} = theta_t + m(g_t, h_t; phi)       (Andrychowicz et al. 2016)
    meta-learner    theta_{t+1} = f_t o theta_t - i_t o g_t        (Ravi & Larochelle 2017)
                    i_t, f_t = sigmoid(W [h_t, theta_t, i_{t-1} / f_{t-1}] + b), theta_0 learned

g_t is the gradient of task i's support loss at theta_t. Both rules are *coordinate-wise*: one small
LSTM shared by every coordinate of every parameter, fed the gradient preprocessed as (log|g| / p,
sign g) (Andrychowicz et al., appendix A), so it works for a network of any size. As in both papers,
g_t enters as a constant (d g_t / d phi = 0): no second derivatives. They are trained on the mean of
the query losses after steps 1..T (Andrychowicz et al.'s weights w_t = 1), so every step is asked to
help, not only the last.

The state an inner step moves is all of the network's numbers as one vector per task, with the
rule's memory. `LSTMOptimizer` and `MetaLearner` are the two methods; learn_init=False keeps the
model (e.g. MAML's) as a fixed start. Taught in notebooks/07_beyond_maml.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..adapt import task_loss
from ..checks import MAX_INNER_STEPS, check_int
from ..method import Method
from ..model import Params, predict


def preprocess(g: Tensor, p: float = 10.0) -> Tensor:
    """(log|g| / p, sign g) where |g| >= e^-p, else (-1, e^p g): (...,) -> (..., 2). Andrychowicz et
    al., app. A."""
    big = g.abs() >= math.exp(-p)
    first = torch.where(big, g.abs().clamp_min(math.exp(-p)).log() / p, torch.full_like(g, -1.0))
    second = torch.where(big, g.sign(), math.exp(p) * g)
    return torch.stack([first, second], dim=-1)


class LSTMRule(nn.Module):
    """Andrychowicz et al.'s optimiser: a two-layer LSTM per coordinate, theta +=
    out_scale * Linear(h).

    The output layer starts at zero, so the untrained optimiser leaves the parameters where
    they are.
    """

    def __init__(self, hidden: int = 20, out_scale: float = 0.1) -> None:
        super().__init__()
        check_int("hidden", hidden, 1, 512)
        self.cells = nn.ModuleList([nn.LSTMCell(2, hidden), nn.LSTMCell(hidden, hidden)])
        self.out, self.out_scale = nn.Linear(hidden, 1), out_scale
        # it starts by doing nothing: a MAML start stays intact until it learns
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, theta: Tensor, grad: Tensor, loss: Tensor,
                state: tuple | None) -> tuple[Tensor, tuple]:
        """theta, grad: (meta_batch, n_coords); loss: (meta_batch,). Returns the next theta and
        LSTM state."""
        h = preprocess(grad).reshape(-1, 2)
        state = state or (None,) * len(self.cells)
        new_state = []
        for cell, s in zip(self.cells, state):
            h, c = cell(h, s)
            new_state.append((h, c))
        return theta + self.out_scale * self.out(h).view_as(theta), tuple(new_state)


class MetaLearnerRule(nn.Module):
    """Ravi & Larochelle's meta-learner: the parameters are an LSTM's cell state, f and i its gates.

    Each gate reads the LSTM's hidden state h_t, the coordinate's value theta_t and the gate's
    previous value.
    They start at f = sigmoid(5) ~ 0.993 and i = sigmoid(-4.6) ~ 0.01: plain SGD at MAML's rate.
    """

    def __init__(self, hidden: int = 20) -> None:
        super().__init__()
        check_int("hidden", hidden, 1, 512)
        self.lstm = nn.LSTMCell(4, hidden)  # reads the preprocessed gradient and loss
        # W [h, theta, previous gate] + b for (i, f), in three parts
        self.gates = nn.Linear(hidden, 2)
        self.theta_weight, self.previous_weight = (nn.Parameter(torch.zeros(2)),
                                                   nn.Parameter(torch.zeros(2)))
        nn.init.uniform_(self.gates.weight, -0.01, 0.01)
        with torch.no_grad():
            self.gates.bias.copy_(torch.tensor([-4.6, 5.0]))

    def forward(self, theta: Tensor, grad: Tensor, loss: Tensor,
                state: tuple | None) -> tuple[Tensor, tuple]:
        """theta, grad: (meta_batch, n_coords); loss: (meta_batch,). Returns the next theta and
        the state."""
        x = torch.cat([preprocess(grad), preprocess(loss)[:, None].expand(*grad.shape, 2)], dim=-1)
        lstm_state, previous = state or (None, theta.new_zeros(*theta.shape, 2))
        h, c = self.lstm(x.reshape(-1, 4), lstm_state)
        z = (self.gates(h).view(*theta.shape, 2) + theta[..., None] * self.theta_weight
             + previous * self.previous_weight)
        gates = torch.sigmoid(z)
        i, f = gates.unbind(-1)
        return f * theta - i * grad, ((h, c), gates)


def flatten(params: Mapping[str, Tensor]) -> Tensor:
    """Per-task parameters {name: (meta_batch, *shape)} as one vector per task,
    (meta_batch, n_coords)."""
    return torch.cat([p.flatten(1) for p in params.values()], dim=1)


def unflatten(theta: Tensor, model: nn.Module) -> Params:
    """The inverse of `flatten`: theta (meta_batch, n_coords) -> {name: (meta_batch, *shape)} like
    the model's."""
    sizes = [p.numel() for p in model.parameters()]
    return {n: v.view(theta.shape[0], *p.shape)
            for (n, p), v in zip(model.named_parameters(), torch.split(theta, sizes, dim=1))}


class LearnedOptimizer(Method):
    """A learned update rule from the model's start: the rule's weights are this method's
    parameters, so meta_train learns them; with learn_init=True it learns the start (the model's
    weights) too.

    Trained on the mean query loss after each of `inner_steps` updates.
    """

    eval_chunk = 20  # the rule's LSTM state is (tasks * 1761, hidden) per layer: 20 tasks at a time

    def __init__(self, rule: nn.Module, inner_steps: int = 5, learn_init: bool = True) -> None:
        super().__init__()
        if not isinstance(rule, (LSTMRule, MetaLearnerRule)):
            raise TypeError("rule must be an LSTMRule or a MetaLearnerRule, got "
                            f"{type(rule).__name__}")
        check_int("inner_steps", inner_steps, 1, MAX_INNER_STEPS)
        self.rule, self.inner_steps, self.learn_init = rule, inner_steps, bool(learn_init)

    def loss_weights(self) -> tuple[float, ...]:
        return (0.0,) + (1.0 / self.inner_steps,) * self.inner_steps

    def start(self, model: nn.Module, x_support: Tensor) -> tuple[Tensor, object]:
        theta = torch.cat([p.flatten() for p in model.parameters()])
        theta = theta if self.learn_init else theta.detach()
        return theta.expand(x_support.shape[0], -1), None

    def step(self, model: nn.Module, state: tuple[Tensor, object], x_support: Tensor,
             y_support: Tensor, create_graph: bool) -> tuple[Tensor, object]:
        theta, memory = state
        with torch.enable_grad():  # the support gradient, even inside torch.no_grad()
            leaf = theta if theta.requires_grad else theta.detach().requires_grad_()
            losses = task_loss(predict(model, unflatten(leaf, model), x_support), y_support)
            grad = torch.autograd.grad(losses.sum(), leaf)[0]  # a constant input, as in both papers
        return self.rule(theta, grad, losses.detach(), memory)

    def predict(self, model: nn.Module, state: tuple[Tensor, object], x: Tensor) -> Tensor:
        return predict(model, unflatten(state[0], model), x)

    def bytes_per_task(self, model: nn.Module, n_points: int, steps_kept: int) -> int:
        """Method's estimate plus the rule's: every weight of every task carries the LSTM's state
        and gates through each step kept, about 16 * hidden numbers (measured: 2.2 MB per task and
        step for the 1761 weights of the paper's network at hidden 20)."""
        hidden = getattr(self, "hidden", 20)
        n_weights = sum(p.numel() for p in model.parameters())
        return (super().bytes_per_task(model, n_points, steps_kept)
                + 4 * 16 * hidden * n_weights * max(steps_kept, 1))


class LSTMOptimizer(LearnedOptimizer):
    """Andrychowicz et al.'s LSTM optimiser (an LSTMRule of `hidden` units)."""

    name = "lstm_opt"

    def __init__(self, hidden: int = 20, inner_steps: int = 5, learn_init: bool = True) -> None:
        super().__init__(LSTMRule(hidden), inner_steps, learn_init)
        self.hidden = hidden


class MetaLearner(LearnedOptimizer):
    """Ravi & Larochelle's meta-learner (a MetaLearnerRule of `hidden` units)."""

    name = "meta_learner"

    def __init__(self, hidden: int = 20, inner_steps: int = 5, learn_init: bool = True) -> None:
        super().__init__(MetaLearnerRule(hidden), inner_steps, learn_init)
        self.hidden = hidden
