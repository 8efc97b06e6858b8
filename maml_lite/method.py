"""What a method is: how a model adapts to a new task, and the loss that meta-trains it to
adapt well.

A method says three things; everything else follows from them, the same way for every method:

    start(model, x_support)                  -> state_0    where each task's adaptation starts
    step(model, state, x_support, y_support, -> state_s+1  one inner step on the support points,
         create_graph)                                     differentiable if create_graph
                                                           (second order)
    predict(model, state, x)                 -> the adapted model's predictions on x

    forward(model, batch)    its meta-training loss: the query loss after `inner_steps` steps,
                             differentiated through the steps (second order) unless
                             `first_order`; meta_train minimises it
    trajectory(model, x_support, y_support, x, m)
                             predictions on x after 0, 1, ..., m steps, (m + 1, meta_batch, n,
                             out), with no graph kept: what `evaluate` scores and the playground
                             draws

MAML's state is the network's weights and its step is SGD; first-order MAML is the same with the
Hessian term dropped; Pretrain trains on all tasks' points pooled and adapts by the same SGD. Every
other method (maml_lite/methods/) is a subclass that changes one of the three: per-parameter step
sizes (Meta-SGD), only the head (ANIL), a context vector instead of the weights (CAVIA), a learned
update rule, or its training loss (Reptile, MAML++'s multi-step loss). Taught in
notebooks/02_maml.ipynb.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .adapt import Rate, dtype_of, query_loss, sgd_step, start_params
from .checks import MAX_INNER_STEPS, check_inner, check_int, check_points
from .model import make_model, predict
from .tasks import TaskBatch

# whatever a method adapts: a dict of weights, a head, a context, weights and an optimiser's memory
State = Any


def check_dtypes(method: nn.Module, model: nn.Module) -> torch.dtype:
    """The model's dtype, once the method's own tensors (rates, an update rule) have it too."""
    dtype = dtype_of(model)
    own = {t.dtype for t in (*method.parameters(), *method.buffers()) if t.is_floating_point()}
    if own - {dtype}:
        raise TypeError(f"the method's own tensors are {sorted(map(str, own))} but the model is "
                        f"{dtype}: convert one, e.g. method.to({dtype}) or model.to({own.pop()})")
    return dtype


def check_batch(batch: TaskBatch, model: nn.Module, method: nn.Module) -> None:
    """A meta-batch's shapes and dtypes, checked without tensor operations (so, once per call,
    for free)."""
    dtype = check_dtypes(method, model)
    check_points(batch.x_support, batch.y_support, dtype=dtype, finite=False)
    check_points(batch.x_query, batch.y_query, "query", dtype=dtype, finite=False)
    if (batch.x_support.dim() != batch.x_query.dim()
            or batch.x_support.shape[0] != batch.x_query.shape[0]):
        raise ValueError("a meta-batch's support and query points need the same leading meta_batch "
                         f"dimension, got {tuple(batch.x_support.shape)} and "
                         f"{tuple(batch.x_query.shape)}")


def detached(state: State) -> State:
    """A state with every tensor in it detached (tensors, dicts, tuples and lists of them, None)."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: detached(v) for k, v in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(detached(v) for v in state)
    return state


class Method(nn.Module):
    """A meta-learning method: `start`, `step` and `predict` define it; training and
    adapting follow."""

    name: ClassVar[str] = ""  # how cards, recipes and the CLI call it
    eval_chunk: ClassVar[int] = 100  # tasks adapted at once by `evaluate` (bounds its memory)
    inner_steps: int = 1
    first_order: bool = False
    # True when adapting is plain SGD on the network's weights at one step size, inner_lr (so a copy
    # with another inner_lr adapts at that step size: the playground's slider); False where the
    # steps are its own
    sgd_on_weights: ClassVar[bool] = False

    def start(self, model: nn.Module, x_support: Tensor) -> State:
        raise NotImplementedError

    def step(self, model: nn.Module, state: State, x_support: Tensor, y_support: Tensor,
             create_graph: bool) -> State:
        raise NotImplementedError

    def predict(self, model: nn.Module, state: State, x: Tensor) -> Tensor:
        raise NotImplementedError

    def loss_weights(self) -> tuple[float, ...]:
        """How much the query loss after step 0, 1, ..., inner_steps counts in `forward`: the
        last only."""
        return (0.0,) * self.inner_steps + (1.0,)

    def states(self, model: nn.Module, x_support: Tensor, y_support: Tensor, steps: int,
               create_graph: bool = False, start: State | None = None) -> Iterator[State]:
        """The inner loop: the state before any step, then after each of `steps` steps. Under
        torch.no_grad() the start is detached from the model, so each step differentiates its
        support loss alone.
        start: where to start instead of `self.start(model, x_support)`, one per task."""
        state = self.start(model, x_support) if start is None else start
        state = state if torch.is_grad_enabled() else detached(state)
        yield state
        for _ in range(steps):
            state = self.step(model, state, x_support, y_support, create_graph)
            yield state

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        """The meta-training loss: sum_s w_s * mean_i L_query_i(state_s), w = loss_weights()."""
        check_batch(batch, model, self)
        weights, total = self.loss_weights(), 0.0
        second_order = not self.first_order
        for s, state in enumerate(self.states(model, batch.x_support, batch.y_support,
                                              self.inner_steps, second_order)):
            if weights[s]:
                total = total + weights[s] * query_loss(self.predict(model, state, batch.x_query),
                                                        batch.y_query)
        return total

    @torch.no_grad()
    def trajectory(self, model: nn.Module, x_support: Tensor, y_support: Tensor, x: Tensor,
                   steps: int, start: State | None = None) -> Tensor:
        """Predictions on x after 0..steps inner steps: (steps + 1, meta_batch, n, out), no
        graph kept.

        x_support, y_support: (meta_batch, k, 1), k may be 0 (then every step is the start); x:
        (meta_batch, n, 1). start: a state to start from instead of `self.start` (e.g. several
        networks' weights stacked as the meta_batch, where the model serves only as their
        architecture: the playground's batched pass).
        """
        check_int("steps", steps, 0, MAX_INNER_STEPS)
        dtype = check_dtypes(self, model)
        if x_support.shape[1]:
            check_points(x_support, y_support, dtype=dtype)
        states = self.states(model, x_support, y_support, steps if x_support.shape[1] else 0,
                             start=start)
        out = torch.stack([self.predict(model, state, x) for state in states])
        return out.expand(steps + 1, *out.shape[1:])

    def bytes_per_task(self, model: nn.Module, n_points: int, steps_kept: int) -> int:
        """About how much memory one task takes while adapting on n_points points with the graph of
        `steps_kept` steps alive (training keeps them all; evaluation one): the network's
        activations for every point (x8 for what autograd keeps) and the adapted parameters (x4:
        weights, gradients, updates)."""
        per_point = getattr(model, "floats_per_point", lambda: 0)()
        floats = 8 * per_point * n_points + 4 * sum(p.numel() for p in model.parameters())
        return 4 * floats * max(steps_kept, 1)

    def finish(self, model: nn.Module) -> None:
        """Called once after meta-training, before the model is saved (e.g. to fold learned scales
        into it)."""

    def make_model(self) -> nn.Module:
        """A fresh network for this method (seed torch first): the paper's 1-40-40-1 ReLU MLP."""
        return make_model()

    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this method: type(self)(**config), or (model, **config)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters
                 if p not in ("self", "model")]
        return {p: getattr(self, p) for p in names}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())


class MAML(Method):
    """MAML (Finn et al. 2017): adapt every weight by SGD at inner_lr from the learned start.

    theta'_i = theta - alpha grad L_support_i(theta), inner_steps times; the loss is mean_i
    L_query_i(theta'_i). first_order=True drops the Hessian term (FOMAML).
    """

    name = "maml"
    sgd_on_weights = True

    def __init__(self, inner_steps: int = 1, inner_lr: float = 0.01,
                 first_order: bool = False) -> None:
        super().__init__()
        check_inner(inner_steps, inner_lr)
        self.inner_steps, self.inner_lr, self.first_order = (inner_steps, float(inner_lr),
                                                             bool(first_order))

    def rates(self) -> Rate:
        """The inner step size: one number here; a subclass may give one per parameter entry."""
        return self.inner_lr

    def start(self, model: nn.Module, x_support: Tensor) -> State:
        return start_params(model, x_support)

    def step(self, model: nn.Module, params: State, x_support: Tensor, y_support: Tensor,
             create_graph: bool) -> State:
        return sgd_step(model, params, x_support, y_support, self.rates(), create_graph)

    def predict(self, model: nn.Module, params: State, x: Tensor) -> Tensor:
        return predict(model, params, x)


class FOMAML(MAML):
    """First-order MAML: MAML's loss with the inner gradients treated as constants (no
    Hessian term)."""

    name = "fomaml"

    def __init__(self, inner_steps: int = 1, inner_lr: float = 0.01) -> None:
        super().__init__(inner_steps, inner_lr, first_order=True)


class Pretrain(MAML):
    """The paper's baseline: ordinary regression on the points of all tasks pooled together, then
    fine-tuning by SGD at inner_lr like MAML's."""

    name = "pretrain"

    def __init__(self, inner_lr: float = 0.01) -> None:
        super().__init__(inner_steps=0, inner_lr=inner_lr)

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        x = torch.cat([batch.x_support, batch.x_query], dim=1)
        y = torch.cat([batch.y_support, batch.y_query], dim=1)
        return query_loss(model(x.flatten(0, 1)), y.flatten(0, 1))
