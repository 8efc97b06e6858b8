"""Learned optimisers: the update rule itself meta-trained, beside (or instead of) MAML's initialisation.

    SGD (MAML)               theta_{t+1} = theta_t - alpha g_t                    alpha fixed, theta_0 learned
    LSTM optimiser           theta_{t+1} = theta_t + m(g_t, h_t; phi)             (Andrychowicz et al. 2016)
    meta-learner             theta_{t+1} = f_t o theta_t - i_t o g_t              (Ravi & Larochelle 2017)
                             i_t, f_t = sigmoid(W [h_t, theta_t, i_{t-1} / f_{t-1}] + b), theta_0 learned

g_t is the gradient of task i's support loss at theta_t. Both rules are *coordinate-wise*: one small LSTM
shared by every coordinate of every parameter, fed the gradient preprocessed as (log|g| / p, sign g)
(Andrychowicz et al., appendix A), so it works for a network of any size. As in both papers, g_t enters as
a constant (d g_t / d phi = 0): no second derivatives. They are trained on the mean of the query losses after
steps 1..T (Andrychowicz et al.'s weights w_t = 1), so every step is asked to help, not only the last.

A satellite of the core: `LearnedOptimizer(rule, inner_steps, learn_init)` is an objective for `meta_train`
(the rule's weights are its parameters; learn_init=False keeps the model, e.g. MAML's, as a fixed start), and
`adapter(rule)` scores a rule with `evaluate`. Taught in notebooks/07_beyond_maml.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .adapt import mse, task_mse
from .checkpoints import read_checkpoint, shipped
from .checks import MAX_INNER_STEPS, check_int, check_points, check_steps
from .evaluate import Adapter, grid_targets
from .model import Params, predict
from .tasks import TaskBatch

KEY = "update_rule"  # where a checkpoint keeps the rule's weights


def preprocess(g: Tensor, p: float = 10.0) -> Tensor:
    """(log|g| / p, sign g) where |g| >= e^-p, else (-1, e^p g): (...,) -> (..., 2). Andrychowicz et al., app. A."""
    big = g.abs() >= math.exp(-p)
    first = torch.where(big, g.abs().clamp_min(math.exp(-p)).log() / p, torch.full_like(g, -1.0))
    second = torch.where(big, g.sign(), math.exp(p) * g)
    return torch.stack([first, second], dim=-1)


class LSTMRule(nn.Module):
    """Andrychowicz et al.'s optimiser: a two-layer LSTM per coordinate, theta += out_scale * Linear(h).

    The output layer starts at zero, so the untrained optimiser leaves the parameters where they are.
    """

    def __init__(self, hidden: int = 20, out_scale: float = 0.1) -> None:
        super().__init__()
        check_int("hidden", hidden, 1, 512)
        self.cells = nn.ModuleList([nn.LSTMCell(2, hidden), nn.LSTMCell(hidden, hidden)])
        self.out, self.out_scale = nn.Linear(hidden, 1), out_scale
        nn.init.zeros_(self.out.weight)  # it starts by doing nothing: a MAML start stays intact until it learns
        nn.init.zeros_(self.out.bias)

    def forward(self, theta: Tensor, grad: Tensor, loss: Tensor, state: tuple | None) -> tuple[Tensor, tuple]:
        """theta, grad: (meta_batch, n_coords); loss: (meta_batch,). Returns the next theta and LSTM state."""
        h = preprocess(grad).reshape(-1, 2)
        state = state or (None,) * len(self.cells)
        new_state = []
        for cell, s in zip(self.cells, state):
            h, c = cell(h, s)
            new_state.append((h, c))
        return theta + self.out_scale * self.out(h).view_as(theta), tuple(new_state)


class MetaLearnerRule(nn.Module):
    """Ravi & Larochelle's meta-learner: the parameters are an LSTM's cell state, f and i its gates.

    Each gate reads the LSTM's hidden state h_t, the coordinate's value theta_t and the gate's previous value.
    They start at f = sigmoid(5) ~ 0.993 and i = sigmoid(-4.6) ~ 0.01: plain SGD at MAML's rate.
    """

    def __init__(self, hidden: int = 20) -> None:
        super().__init__()
        check_int("hidden", hidden, 1, 512)
        self.lstm = nn.LSTMCell(4, hidden)  # reads the preprocessed gradient and loss
        self.gates = nn.Linear(hidden, 2)  # W [h, theta, previous gate] + b for (i, f), in three parts
        self.theta_weight, self.previous_weight = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
        nn.init.uniform_(self.gates.weight, -0.01, 0.01)
        with torch.no_grad():
            self.gates.bias.copy_(torch.tensor([-4.6, 5.0]))

    def forward(self, theta: Tensor, grad: Tensor, loss: Tensor, state: tuple | None) -> tuple[Tensor, tuple]:
        """theta, grad: (meta_batch, n_coords); loss: (meta_batch,). Returns the next theta and the state."""
        x = torch.cat([preprocess(grad), preprocess(loss)[:, None].expand(*grad.shape, 2)], dim=-1)
        lstm_state, previous = state or (None, theta.new_zeros(*theta.shape, 2))
        h, c = self.lstm(x.reshape(-1, 4), lstm_state)
        z = self.gates(h).view(*theta.shape, 2) + theta[..., None] * self.theta_weight + previous * self.previous_weight
        gates = torch.sigmoid(z)
        i, f = gates.unbind(-1)
        return f * theta - i * grad, ((h, c), gates)


def _flat(params: Mapping[str, Tensor]) -> Tensor:
    return torch.cat([p.flatten(1) for p in params.values()], dim=1)


def _unflat(vector: Tensor, like: Mapping[str, Tensor]) -> Params:
    out, start = {}, 0
    for n, p in like.items():
        out[n] = vector[:, start:start + p[0].numel()].view_as(p)
        start += p[0].numel()
    return out


def rollout(model: nn.Module, rule: nn.Module, x_support: Tensor, y_support: Tensor, steps: int,
            learn_init: bool = True, detach: bool = False) -> Iterator[Params]:
    """The parameters before and after each of `steps` updates by `rule`, one per task: yields steps + 1 dicts.

    x_support, y_support: (meta_batch, k, 1). Each yielded tensor has a leading meta_batch dimension.
    learn_init=False treats the model's parameters as a constant start; detach=True cuts the graph after
    every step (for evaluation: constant memory however many steps).
    """
    check_points(x_support, y_support)
    check_int("steps", steps, 0, MAX_INNER_STEPS)
    if x_support.dim() != 3:
        raise ValueError(f"x_support must be a batch (meta_batch, k, 1), got {tuple(x_support.shape)}")
    n_tasks = x_support.shape[0]
    params = {n: (p if learn_init else p.detach()).expand(n_tasks, *p.shape) for n, p in model.named_parameters()}
    theta, state = _flat(params), None
    yield params
    for _ in range(steps):
        with torch.enable_grad():  # the support gradient, even inside torch.no_grad()
            leaf = theta if theta.requires_grad else theta.detach().requires_grad_()
            losses = task_mse(predict(model, _unflat(leaf, params), x_support), y_support)
            grad = torch.autograd.grad(losses.sum(), leaf)[0]  # a constant input, as in both papers
        theta, state = rule(theta, grad, losses.detach(), state)
        if detach:
            theta, state = theta.detach(), _detach(state)
        yield _unflat(theta, params)


def _detach(state: object) -> object:
    if isinstance(state, Tensor):
        return state.detach()
    return None if state is None else type(state)(_detach(s) for s in state)


class LearnedOptimizer(nn.Module):
    """Objective for meta_train: the mean query loss after each of `inner_steps` updates by `rule`.

    The rule's weights are this objective's parameters, so meta_train learns them; with learn_init=True the
    model's parameters (the start) are learned too, with False they stay fixed.
    """

    def __init__(self, rule: nn.Module, inner_steps: int = 5, learn_init: bool = True) -> None:
        super().__init__()
        if not isinstance(rule, (LSTMRule, MetaLearnerRule)):
            raise TypeError(f"rule must be an LSTMRule or a MetaLearnerRule, got {type(rule).__name__}")
        check_int("inner_steps", inner_steps, 1, MAX_INNER_STEPS)
        self.rule, self.inner_steps, self.learn_init = rule, inner_steps, bool(learn_init)

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        check_points(batch.x_query, batch.y_query, "query")
        trajectory = rollout(model, self.rule, batch.x_support, batch.y_support, self.inner_steps, self.learn_init)
        next(trajectory)  # the start is not scored
        losses = [mse(predict(model, params, batch.x_query), batch.y_query) for params in trajectory]
        return torch.stack(losses).mean() / batch.x_query.shape[0]

    def extra_repr(self) -> str:
        return f"inner_steps={self.inner_steps}, learn_init={self.learn_init}"


def task_errors(model: nn.Module, rule: nn.Module, batch: TaskBatch, steps: list[int], chunk: int = 20) -> Tensor:
    """Each task's grid MSE after each step count in `steps` of `rule`: (len(steps), n_tasks), like SGD's.

    Tasks go through in chunks of `chunk`, so 1000 tasks need no more memory than 20: the rule's LSTM state is
    (chunk * 1761, hidden) per layer. `benchmarks/notebook_runtime.py` measures what that keeps notebook 07 to.
    """
    steps = check_steps(steps, ascending=True)
    check_int("chunk", chunk, 1)
    out = []
    for start in range(0, batch.x_support.shape[0], chunk):
        part = TaskBatch(*(t[start:start + chunk] for t in (batch.x_support, batch.y_support, batch.x_query,
                                                              batch.y_query, batch.amplitude, batch.phase)))
        x_grid, y_grid = grid_targets(part)
        errors = []
        with torch.no_grad():  # no graph through the rule: only each step's support gradient is computed
            for step, params in enumerate(rollout(model, rule, part.x_support, part.y_support, steps[-1], detach=True)):
                if step in steps:
                    errors.append(task_mse(predict(model, params, x_grid), y_grid))
        out.append(torch.stack(errors))
    return torch.cat(out, dim=1)


def adapter(rule: nn.Module) -> Adapter:
    """`evaluate(model, k, adapter=adapter(rule))` scores the rule from the model's parameters."""
    return lambda model, batch, steps: task_errors(model, rule, batch, steps)


def rule_from(weights: Mapping[str, Tensor]) -> nn.Module:
    """The update rule whose weights (a state dict, as a checkpoint keeps them) are `weights`, frozen."""
    for kind, hidden_key in ((LSTMRule, "cells.0.weight_hh"), (MetaLearnerRule, "lstm.weight_hh")):
        if hidden_key in weights and weights[hidden_key].dim() == 2:
            rule = kind(hidden=weights[hidden_key].shape[1])
            if {n: p.shape for n, p in rule.state_dict().items()} == {n: w.shape for n, w in weights.items()}:
                rule.load_state_dict(weights)
                return rule.requires_grad_(False)
    raise ValueError(f"these weights are not an LSTMRule's or a MetaLearnerRule's: {sorted(weights)}")


def load_rule(name_or_path: str | Path) -> tuple[nn.Module, nn.Module]:
    """(start model, frozen update rule) from a learned-optimiser checkpoint: a shipped name or a .pt path."""
    path = Path(name_or_path) if str(name_or_path).endswith(".pt") else shipped(str(name_or_path))
    model, extras = read_checkpoint(path)
    if KEY not in extras:
        raise ValueError(f"{path} holds no learned update rule; it is not a learned-optimiser checkpoint "
                         f"(the shipped ones are lstm_opt and meta_learner)")
    try:
        return model, rule_from(extras[KEY])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
