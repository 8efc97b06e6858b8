"""Meta-training: one outer loop, and the objectives it minimises.

    MAML     theta <- theta - beta * grad_theta mean_i L_query_i(theta - alpha grad L_support_i(theta))
    FOMAML   the same, with the inner gradient treated as a constant (no Hessian term)
    Pretrain ordinary regression on the points of all tasks pooled together (the paper's baseline)

An objective is an nn.Module called as objective(model, batch) -> loss: meta_train takes Adam steps along
the gradient of that loss, for the model's parameters *and the objective's own* (e.g. learned step sizes).
That is the one seam where every variant plugs in (maml_lite.reptile, metasgd, maml_plus, anil, cavia,
learned_opt). Taught in notebooks/02_maml.ipynb and 03_first_order_maml.ipynb; `python -m maml_lite.cli`
regenerates the shipped checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .adapt import meta_loss, mse
from .checks import check_float, check_inner, check_int
from .tasks import SineTasks, TaskBatch


class MAML(nn.Module):
    """MAML's meta-objective, `meta_loss`, with fixed inner-loop settings; first_order=True is FOMAML."""

    def __init__(self, inner_steps: int = 1, inner_lr: float = 0.01, first_order: bool = False) -> None:
        super().__init__()
        check_inner(inner_steps, inner_lr)
        self.inner_steps, self.inner_lr, self.first_order = inner_steps, float(inner_lr), bool(first_order)

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        return meta_loss(model, batch, self.inner_steps, self.inner_lr, self.first_order)

    def extra_repr(self) -> str:
        return f"inner_steps={self.inner_steps}, inner_lr={self.inner_lr:g}, first_order={self.first_order}"


class Pretrain(nn.Module):
    """Ordinary regression on the points of all tasks pooled together: the paper's baseline."""

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        x = torch.cat([batch.x_support, batch.x_query], dim=1).reshape(-1, 1)
        y = torch.cat([batch.y_support, batch.y_query], dim=1).reshape(-1, 1)
        return mse(model(x), y)


OBJECTIVES: dict[str, Callable[[], nn.Module]] = {  # the paper's settings, by name
    "maml": MAML, "fomaml": lambda: MAML(first_order=True), "pretrain": Pretrain}


class DivergenceError(ValueError):
    """Training met a non-finite loss or gradient. The model keeps its last finite parameters and
    `error.history` the losses logged so far."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What meta_train did: the mean training loss every `log_every` iterations."""

    objective: str
    iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


def _diverged(iteration: int, what: str, objective: nn.Module, outer_lr: float) -> str:
    return (f"training stopped at iteration {iteration}: the {what} became NaN or inf. The model keeps its parameters "
            f"from before this iteration and error.history the losses so far. Likely cause: a learning rate too large "
            f"or too many unrolled inner steps ({objective!r}, outer_lr={outer_lr:g}; the paper uses 1 inner step at "
            "0.01 and 0.001). Lower it and run again.")


def meta_train(model: nn.Module, objective: str | nn.Module = "maml", iterations: int = 1000, seed: int = 0,
               meta_batch: int = 25, k_shot: int = 10, k_query: int | None = None, outer_lr: float = 1e-3,
               schedule: str = "constant", log_every: int = 100, callback: Callable[[History], None] | None = None,
               progress: bool = True) -> History:
    """Train `model` in place: Adam on the gradient of objective(model, batch) for fresh meta-batches.

    objective: "maml", "fomaml", "pretrain" (the paper's settings), or an objective module such as MAML(inner_steps=5)
    or maml_lite.reptile.Reptile(); its own parameters are trained too. Each iteration samples `meta_batch` tasks
    with `k_shot` support and `k_query` (default: k_shot) query points. schedule "cosine" decays outer_lr to 0.
    callback(history) runs every `log_every` iterations. Ctrl-C stops cleanly (history.interrupted); a
    non-finite loss or gradient raises DivergenceError before the step that would spoil the weights.
    Deterministic for a given seed and model init.
    """
    if isinstance(objective, str) and objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)} or pass an objective "
                         "module, e.g. maml_lite.reptile.Reptile() or maml_lite.metasgd.MetaSGD(model)")
    objective = OBJECTIVES[objective]() if isinstance(objective, str) else objective
    if not isinstance(objective, nn.Module):
        raise TypeError(f"objective must be a name or an nn.Module, got {type(objective).__name__}")
    k_query = k_shot if k_query is None else k_query
    for name, value, low in (("iterations", iterations, 0), ("seed", seed, 0), ("meta_batch", meta_batch, 1),
                             ("k_shot", k_shot, 1), ("k_query", k_query, 1), ("log_every", log_every, 1)):
        check_int(name, value, low)
    check_float("outer_lr", outer_lr, strict=True)
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")

    tasks, generator = SineTasks(), torch.Generator().manual_seed(seed)
    params = [*model.parameters(), *objective.parameters()]
    optimizer = torch.optim.Adam(params, lr=outer_lr)
    cosine = lambda i: 0.5 * (1 + math.cos(math.pi * i / max(iterations, 1)))  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine if schedule == "cosine" else lambda i: 1.0)
    history = History(type(objective).__name__)
    running, done, start = 0.0, 0, time.perf_counter()
    bar = tqdm(range(1, iterations + 1), desc=history.objective, disable=not progress, leave=False)
    try:
        for it in bar:
            batch = tasks.sample(meta_batch, k_shot, k_query, generator=generator)
            optimizer.zero_grad()
            loss = objective(model, batch)
            if loss.isfinite():
                loss.backward()
            if not (loss.isfinite() and all(p.grad.isfinite().all() for p in params if p.grad is not None)):
                what = "loss" if not loss.isfinite() else "meta-gradient"
                raise DivergenceError(_diverged(it, what, objective, outer_lr), history)
            optimizer.step()
            scheduler.step()
            running, done = running + loss.item(), it
            if it % log_every == 0:
                history.iterations.append(it)
                history.loss.append(running / log_every)
                running = 0.0
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
                if callback is not None:
                    callback(history)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted after {done} of {iterations} iterations; the model and the history so far are kept.")
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history
