"""Meta-training: one outer loop for every method.

    theta <- theta - beta * grad_theta method(model, batch)
             (Adam, one fresh meta-batch per iteration)

A method (maml_lite.method) is an nn.Module called as method(model, batch) -> loss: meta_train takes
Adam steps along the gradient of that loss, for the model's parameters *and the method's own*
(learned step sizes, an update rule). For MAML the loss is mean_i L_query_i(theta - alpha grad
L_support_i(theta)), so its gradient is the second-order meta-gradient. Taught in
notebooks/02_maml.ipynb; `python -m maml_lite.cli` regenerates the shipped checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .adapt import dtype_of
from .checks import check_float, check_int, check_memory
from .method import FOMAML, MAML, Pretrain
from .tasks import SineTasks

METHODS: dict[str, Callable[[], nn.Module]] = {  # the paper's settings, by name
    "maml": MAML, "fomaml": FOMAML, "pretrain": Pretrain}


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


def _diverged(iteration: int, what: str, method: nn.Module, outer_lr: float) -> str:
    return (f"training stopped at iteration {iteration}: the {what} became NaN or inf. The model "
            "keeps its parameters from before this iteration and error.history the losses so far. "
            "Likely cause: a learning rate too large or too many unrolled inner steps "
            f"({method!r}, outer_lr={outer_lr:g}; the paper uses 1 inner step at 0.01 and 0.001). "
            "Lower it and run again.")


def _method(method: str | nn.Module) -> nn.Module:
    if isinstance(method, str) and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)} or pass a "
                         "method module, e.g. maml_lite.methods.reptile.Reptile() or "
                         "ml.MAML(inner_steps=5)")
    method = METHODS[method]() if isinstance(method, str) else method
    if not isinstance(method, nn.Module):
        raise TypeError(f"method must be a name or an nn.Module, got {type(method).__name__}")
    return method


def _check_settings(model: nn.Module, method: nn.Module, iterations: int, seed: int,
                    meta_batch: int, k_shot: int, k_query: int, outer_lr: float, schedule: str,
                    log_every: int) -> None:
    """meta_train's arguments, and the memory one iteration needs, checked before any work."""
    for name, value, low in (("iterations", iterations, 0), ("seed", seed, 0),
                             ("meta_batch", meta_batch, 1), ("k_shot", k_shot, 1),
                             ("k_query", k_query, 1), ("log_every", log_every, 1)):
        check_int(name, value, low)
    check_float("outer_lr", outer_lr, strict=True)
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    steps = getattr(method, "inner_steps", 1)
    per_task = (method.bytes_per_task(model, k_shot + k_query, steps)
                if hasattr(method, "bytes_per_task") else 0)
    needed = meta_batch * per_task
    check_memory(f"one iteration of {meta_batch} tasks x {k_shot + k_query} points x {steps} inner "
                 "steps", needed, "meta_batch, k_shot, k_query or inner_steps")


def _scalar(loss: object, method: nn.Module) -> torch.Tensor:
    """The method's loss, if it is a scalar tensor that depends on the parameters (what
    backward needs)."""
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad):
        raise TypeError(f"{type(method).__name__} must return the loss as a scalar tensor that "
                        f"depends on the parameters, got {type(loss).__name__} "
                        f"{getattr(loss, 'shape', loss)}")
    return loss


def _finite_gradients(params: list[torch.Tensor]) -> bool:
    """Whether every gradient entry is finite: their sum is finite only if each one is (one check,
    not many)."""
    grads = [p.grad.reshape(-1) for p in params if p.grad is not None]
    return not grads or bool(torch.cat(grads).sum().isfinite())


def meta_train(model: nn.Module, method: str | nn.Module = "maml", iterations: int = 1000,
               seed: int = 0, meta_batch: int = 25, k_shot: int = 10, k_query: int | None = None,
               outer_lr: float = 1e-3, schedule: str = "constant", log_every: int = 100,
               callback: Callable[[History], None] | None = None, progress: bool = True,
               tasks: SineTasks | None = None) -> History:
    """Train `model` in place: Adam on the gradient of method(model, batch) for fresh meta-batches.

    method: "maml", "fomaml", "pretrain" (the paper's settings) or a method module such as
    ml.MAML(inner_steps=5) or maml_lite.methods.reptile.Reptile(); its own parameters are trained
    too. Each iteration samples `meta_batch` tasks from `tasks` (default: the paper's sine tasks)
    with `k_shot` support and `k_query` (default: k_shot) query points. schedule "cosine" decays
    outer_lr to 0. callback(history) runs every `log_every` iterations. Ctrl-C stops cleanly
    (history.interrupted); a non-finite loss or gradient raises DivergenceError before the step that
    would spoil the weights. Deterministic for a given seed and model init.
    """
    method, tasks = _method(method), SineTasks() if tasks is None else tasks
    k_query = k_shot if k_query is None else k_query
    _check_settings(model, method, iterations, seed, meta_batch, k_shot, k_query, outer_lr,
                    schedule, log_every)
    generator, dtype = torch.Generator().manual_seed(seed), dtype_of(model)
    params = [p for p in (*model.parameters(), *method.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=outer_lr, fused=True)
    cosine = lambda i: 0.5 * (1 + math.cos(math.pi * i / max(iterations, 1)))  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  cosine if schedule == "cosine" else lambda i: 1.0)
    history = History(type(method).__name__)
    running, done, start = 0.0, 0, time.perf_counter()
    bar = tqdm(range(1, iterations + 1), desc=history.objective, disable=not progress, leave=False)
    try:
        for it in bar:
            batch = tasks.sample(meta_batch, k_shot, k_query, generator=generator)
            # a float64 model: float64 tasks
            batch = batch if batch.x_support.dtype == dtype else batch.to(dtype)
            optimizer.zero_grad()
            loss = _scalar(method(model, batch), method)
            value = loss.item()
            if math.isfinite(value):
                loss.backward()
            if not (math.isfinite(value) and _finite_gradients(params)):
                what = "meta-gradient" if math.isfinite(value) else "loss"
                raise DivergenceError(_diverged(it, what, method, outer_lr), history)
            optimizer.step()
            scheduler.step()
            running, done = running + value, it
            if it % log_every == 0:
                history.iterations.append(it)
                history.loss.append(running / log_every)
                running = 0.0
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
                if callback is not None:
                    callback(history)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted after {done} of {iterations} iterations; the model and the history so "
              "far are kept.")
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history
