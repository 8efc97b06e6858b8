"""Meta-training: MAML, first-order MAML, Reptile, and the paper's pretrained baseline.

    MAML    theta <- theta - beta * grad_theta sum_i L_query_i(theta - alpha grad L_support_i(theta))
    FOMAML  the same, with the inner gradient treated as a constant (no Hessian term)
    Meta-SGD MAML with a learned per-parameter inner step size alpha (Li et al. 2017), trained jointly
    Reptile theta <- theta - beta * mean_i (theta - phi_i), phi_i = SGD on task i's points
    pretrain ordinary regression on the points of all tasks pooled together (no adaptation)

The outer optimiser is Adam (the paper's choice). The whole meta-batch goes through the network in
one batched pass. Run `python -m maml_lite.train --help` to regenerate a shipped checkpoint.
Taught in notebooks/02_maml.ipynb and 03_first_order_maml.ipynb.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .adapt import adapt, check_inner, mse
from .model import MLP, Activation, predict, rescale_units, smooth_relu
from .tasks import SineTasks, TaskBatch, _check_count

METHODS = ("maml", "fomaml", "reptile", "pretrain", "metasgd")
DEFAULT_INNER_STEPS = {"maml": 1, "fomaml": 1, "reptile": 5, "pretrain": 0, "metasgd": 1}
SMOOTHING_FRACTION = 0.8  # relu_smoothing: the share of iterations trained through the smooth ReLU


class DivergenceError(ValueError):
    """Meta-training produced a non-finite loss or gradient; the model keeps its last finite state."""


@dataclass
class History:
    """What meta_train did: the mean training loss every `log_every` iterations."""

    method: str
    iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    unit_scales: list[Tensor] | None = None  # learn_unit_scales: one (width,) per hidden layer, folded in


def check_method(method: str) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {METHODS}, got {type(method).__name__}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def meta_loss(model: nn.Module, batch: TaskBatch, first_order: bool = False, inner_steps: int = 1,
              inner_lr: float | Mapping[str, Tensor] = 0.01,
              step_weights: Sequence[float] | None = None,
              params: Mapping[str, Tensor] | None = None) -> Tensor:
    """Mean query loss after adapting to each task's support set: MAML's meta-objective.

    Its gradient with respect to the model's parameters is the (second-order, or first-order if
    `first_order`) meta-gradient. batch tensors: (meta_batch, k, 1).
    step_weights: optional, one weight per inner step: the objective becomes sum_s w_s * (query loss
    after step s), MAML++'s multi-step loss (Antoniou et al. 2019), which asks the initialisation to
    be good after every step, not only the last. Default: only the last step counts.
    params: where adaptation starts (default: the model's own parameters), e.g. a rescaled copy.
    """
    if step_weights is None:
        adapted = adapt(model, batch.x_support, batch.y_support, inner_steps, inner_lr, first_order, params=params)
        return mse(predict(model, adapted, batch.x_query), batch.y_query) / batch.x_query.shape[0]
    check_step_weights(step_weights, inner_steps)
    total, meta_batch = 0.0, batch.x_query.shape[0]
    for weight in step_weights:
        params = adapt(model, batch.x_support, batch.y_support, 1, inner_lr, first_order, params=params)
        if weight:
            total = total + weight * (mse(predict(model, params, batch.x_query), batch.y_query) / meta_batch)
    return total


def check_step_weights(step_weights: Sequence[float], inner_steps: int) -> None:
    weights = list(step_weights)
    if len(weights) != inner_steps:
        raise ValueError(f"step_weights needs one weight per inner step ({inner_steps}), got {len(weights)}")
    if not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"step_weights must be finite numbers >= 0 with a positive sum, got {weights}")


def check_relu_smoothing(model: nn.Module, relu_smoothing: tuple[float, float]) -> None:
    if not (isinstance(model, MLP) and model.activation == "relu"):
        raise ValueError("relu_smoothing rounds off a ReLU's kinks while training; it needs a maml_lite ReLU MLP")
    betas = list(relu_smoothing) if isinstance(relu_smoothing, (tuple, list)) else None
    if (betas is None or len(betas) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < math.inf for b in betas)
            or betas[0] > betas[1]):
        raise ValueError(f"relu_smoothing must be (beta_start, beta_end), finite, 0 < beta_start <= beta_end, e.g. "
                         f"(3, 100); got {relu_smoothing!r}")


def check_smooth_layers(model: MLP, smooth_layers: Sequence[int]) -> None:
    hidden = len(model.sizes) - 2
    layers = list(smooth_layers) if isinstance(smooth_layers, (tuple, list)) else None
    if (not layers or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= hidden for n in layers)
            or len(set(layers)) != len(layers)):
        raise ValueError(f"smooth_layers must name distinct hidden layers, numbered 1 to {hidden} from the input, e.g. "
                         f"(2,); got {smooth_layers!r}")


def reptile_direction(model: nn.Module, batch: TaskBatch, inner_steps: int = 5,
                      inner_lr: float = 0.01) -> tuple[dict[str, Tensor], Tensor]:
    """Reptile's pseudo-gradient mean_i (theta - phi_i), and the mean task loss after adapting.

    phi_i is `inner_steps` of SGD on all of task i's points (support and query together).
    """
    x = torch.cat([batch.x_support, batch.x_query], dim=1)
    y = torch.cat([batch.y_support, batch.y_query], dim=1)
    phi = adapt(model, x, y, inner_steps, inner_lr, first_order=True)
    with torch.no_grad():
        loss = mse(predict(model, phi, x), y) / x.shape[0]
        direction = {n: p - phi[n].mean(0) for n, p in model.named_parameters()}
    return direction, loss


def pretrain_loss(model: nn.Module, batch: TaskBatch) -> Tensor:
    """Ordinary regression on the points of all tasks pooled together: the paper's baseline."""
    x = torch.cat([batch.x_support, batch.x_query], dim=1).reshape(-1, 1)
    y = torch.cat([batch.y_support, batch.y_query], dim=1).reshape(-1, 1)
    return mse(model(x), y)


def smoothing_beta(iteration: int, iterations: int, relu_smoothing: tuple[float, float]) -> float | None:
    """relu_smoothing's schedule: beta grows geometrically from beta_start to beta_end over the first
    SMOOTHING_FRACTION of the iterations (1-based); None (the exact ReLU) after that."""
    beta_start, beta_end = relu_smoothing
    span = SMOOTHING_FRACTION * iterations
    if iteration > span:
        return None
    return beta_start * (beta_end / beta_start) ** (iteration / span)


@contextmanager
def using_activation(model: MLP, activation: Activation | tuple[Activation, ...]) -> Iterator[None]:
    """Run `model` with another activation for a while; its own is restored however the block ends."""
    own, model.activation = model.activation, activation
    try:
        yield
    finally:
        model.activation = own


def _divergence_message(method: str, iteration: int, what: str, inner_lr: float, outer_lr: float,
                        inner_steps: int) -> str:
    return (
        f"{method} training stopped at iteration {iteration}: the {what} became non-finite (NaN or inf). "
        f"The model keeps its parameters from before this iteration. Likely cause: a learning rate too large "
        f"(inner_lr={inner_lr}, outer_lr={outer_lr}; the paper uses 0.01 and 0.001)"
        + (f" or too many unrolled inner steps (inner_steps={inner_steps})" if inner_steps > 1 else "")
        + ". Lower it and run again."
    )


def meta_train(
    model: nn.Module,
    method: str = "maml",
    iterations: int = 1000,
    seed: int = 0,
    meta_batch: int = 25,
    k_shot: int = 10,
    k_query: int | None = None,
    inner_steps: int | None = None,
    inner_lr: float = 0.01,
    outer_lr: float = 1e-3,
    schedule: str = "constant",
    step_weights: Sequence[float] | None = None,
    learn_unit_scales: bool = False,
    relu_smoothing: tuple[float, float] | None = None,
    smooth_layers: Sequence[int] | None = None,
    tasks: SineTasks = SineTasks(),
    log_every: int = 100,
    callback: Callable[[History], None] | None = None,
    progress: bool = True,
) -> History:
    """Train `model` in place by `method`; returns the loss history.

    Each iteration samples `meta_batch` tasks with `k_shot` support and `k_query` (default: k_shot)
    query points.
    inner_steps defaults to 1 for MAML/FOMAML (the paper) and 5 for Reptile. schedule "cosine"
    decays outer_lr to zero over `iterations`. `callback(history)` runs every `log_every`
    iterations (e.g. to draw a live loss curve). step_weights (MAML, FOMAML, Meta-SGD): weigh the
    query loss after every inner step, see `meta_loss`. learn_unit_scales (MAML, FOMAML, ReLU MLPs):
    also learn one scale per hidden unit, adapting from `rescale_units(params, scales)`: the same
    function, with per-unit step sizes hidden in the weights. The meta-objective stays MAML's (plain
    SGD at inner_lr on the network's weights); only the outer loop's coordinates change. At the end the
    scales are folded into the weights (history.unit_scales keeps them), so the model stays a plain MLP.
    relu_smoothing=(beta_start, beta_end) (ReLU MLPs): for the first 80% of the iterations the network
    runs through smooth_relu(beta), beta growing geometrically from beta_start to beta_end, then through
    the exact ReLU. ReLU has no second derivative, so MAML's meta-gradient cannot see how an inner step
    moves its kinks; a smooth start lets it. The model stays a ReLU MLP. smooth_layers: which hidden
    layers (1 = the first) run through the softplus; the others keep the exact ReLU. Default: all.
    "metasgd" also learns a per-parameter inner step size, starting at inner_lr, and leaves it on the
    model as `model.learned_inner_lr` (a dict shaped like the parameters; pass it as `inner_lr` to
    adapt/evaluate). Ctrl-C stops cleanly: the model and the history so far are kept, with
    history.interrupted = True. Deterministic for a given seed and model init.
    """
    check_method(method)
    _check_count("iterations", iterations, 0)
    _check_count("log_every", log_every, 1)
    inner_steps = DEFAULT_INNER_STEPS[method] if inner_steps is None else inner_steps
    k_query = k_shot if k_query is None else k_query
    check_inner(inner_steps, inner_lr)
    if not (isinstance(outer_lr, (int, float)) and math.isfinite(outer_lr) and outer_lr > 0):
        raise ValueError(f"outer_lr must be a finite number > 0, got {outer_lr!r}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if step_weights is not None:
        if method in ("reptile", "pretrain"):
            raise ValueError(f"step_weights weigh MAML's query losses; {method} has none")
        check_step_weights(step_weights, inner_steps)
    log_scales = None
    if learn_unit_scales:
        if method not in ("maml", "fomaml"):
            raise ValueError(f"learn_unit_scales changes where MAML's inner loop starts; {method} has no such loop")
        if not (isinstance(model, MLP) and model.activation == "relu"):
            raise ValueError("learn_unit_scales needs a maml_lite ReLU MLP: the rescaling symmetry "
                             "relu(c z) = c relu(z) (c > 0) keeps the function only for ReLU")
        log_scales = [torch.zeros(width, requires_grad=True) for width in model.sizes[1:-1]]
    if relu_smoothing is not None:
        check_relu_smoothing(model, relu_smoothing)
    if smooth_layers is not None:
        if relu_smoothing is None:
            raise ValueError("smooth_layers picks the layers that relu_smoothing rounds off; set relu_smoothing too")
        check_smooth_layers(model, smooth_layers)

    def smoothed(beta: float) -> Activation | tuple[Activation, ...]:  # the activation(s) while smoothing
        smooth = smooth_relu(beta)
        if smooth_layers is None:
            return smooth
        return tuple(smooth if n in smooth_layers else "relu" for n in range(1, len(model.sizes) - 1))

    def starting_params() -> dict[str, Tensor] | None:  # where adaptation starts: the model's weights, maybe rescaled
        if log_scales is None:
            return None
        return rescale_units(dict(model.named_parameters()), [s.exp() for s in log_scales])

    generator = torch.Generator().manual_seed(seed)
    rates = None
    if method == "metasgd":  # learned rates start at inner_lr, or where an earlier run left them
        start_rates = getattr(model, "learned_inner_lr", None) or {
            n: torch.full_like(p, inner_lr) for n, p in model.named_parameters()}
        rates = {n: r.detach().clone().requires_grad_() for n, r in start_rates.items()}
    params = list(model.parameters()) + (list(rates.values()) if rates else []) + (log_scales or [])
    optimizer = torch.optim.Adam(params, lr=outer_lr)
    lr_at = (lambda i: 0.5 * (1 + math.cos(math.pi * i / iterations))) if schedule == "cosine" else (lambda i: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    history = History(method)
    running, completed, start = 0.0, 0, time.perf_counter()
    bar = tqdm(range(1, iterations + 1), desc=method, disable=not progress, leave=False)
    try:
        for it in bar:
            batch = tasks.sample(meta_batch, k_shot, k_query, generator=generator)
            optimizer.zero_grad()
            beta = None if relu_smoothing is None else smoothing_beta(it, iterations, relu_smoothing)
            with nullcontext() if beta is None else using_activation(model, smoothed(beta)):
                if method == "reptile":
                    direction, loss = reptile_direction(model, batch, inner_steps, inner_lr)
                    for n, p in model.named_parameters():
                        p.grad = direction[n]
                else:
                    loss = (pretrain_loss(model, batch) if method == "pretrain"
                            else meta_loss(model, batch, method == "fomaml", inner_steps, rates or inner_lr,
                                           step_weights, starting_params()))
                if not torch.isfinite(loss):
                    raise DivergenceError(_divergence_message(method, it, "loss", inner_lr, outer_lr, inner_steps))
                if method != "reptile":
                    loss.backward()
            if not all(torch.isfinite(p.grad).all() for p in params):
                optimizer.zero_grad()
                raise DivergenceError(_divergence_message(method, it, "meta-gradient", inner_lr, outer_lr, inner_steps))
            optimizer.step()
            scheduler.step()
            completed = it
            running += loss.item()
            if it % log_every == 0:
                history.iterations.append(it)
                history.loss.append(running / log_every)
                running = 0.0
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
                if callback is not None:
                    callback(history)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted: {method} stopped after {completed} of {iterations} iterations; "
              "the model and the history so far are kept.")
    finally:
        bar.close()
        if log_scales is not None:  # fold the scales into the weights: the same function, the learned steps
            with torch.no_grad():
                for name, value in starting_params().items():
                    model.get_parameter(name).copy_(value)
            history.unit_scales = [s.detach().exp() for s in log_scales]
        if rates is not None:
            model.learned_inner_lr = {n: r.detach().clone() for n, r in rates.items()}
        history.seconds = time.perf_counter() - start
    return history


def _command(argv: list[str]) -> str:
    """The shell command that reproduces these weights (--note only annotates the card, so it is left out)."""
    args = list(argv)
    if "--note" in args:
        i = args.index("--note")
        del args[i:i + 2]
    return shlex.join(["python", "-m", "maml_lite.train", *[a for a in args if not a.startswith("--note=")]])


def main(argv: list[str] | None = None) -> None:
    """CLI: train one checkpoint and write it with a JSON model card beside it."""
    from .checkpoints import save_checkpoint
    from .evaluate import evaluate
    from .model import make_model

    ap = argparse.ArgumentParser(prog="python -m maml_lite.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=METHODS, default="maml")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--meta-batch", type=int, default=25)
    ap.add_argument("--k-shot", type=int, default=10, help="support points per task")
    ap.add_argument("--k-query", type=int, default=None, help="query points per task (default: k-shot)")
    ap.add_argument("--inner-steps", type=int, default=None)
    ap.add_argument("--inner-lr", type=float, default=0.01)
    ap.add_argument("--outer-lr", type=float, default=1e-3)
    ap.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    ap.add_argument("--step-weights", type=lambda v: [float(w) for w in v.split(",")], default=None,
                    help="weights of the query loss after each inner step, e.g. 0.7,0.3 (MAML++'s multi-step loss)")
    ap.add_argument("--learn-unit-scales", action="store_true",
                    help="also learn per-unit scales (ReLU's rescaling symmetry), folded into the weights at the end")
    ap.add_argument("--relu-smoothing", type=lambda v: tuple(float(b) for b in v.split(",")), default=None,
                    metavar="BETA_START,BETA_END",
                    help="train through a softplus whose sharpness grows from BETA_START to BETA_END over the first "
                         "80%% of iterations, then through the ReLU, e.g. 3,100")
    ap.add_argument("--smooth-layers", type=lambda v: tuple(int(n) for n in v.split(",")), default=None,
                    metavar="N[,N...]", help="hidden layers (1 = the first) that --relu-smoothing rounds off, e.g. 2; "
                                             "default: all")
    ap.add_argument("--eval-tasks", type=int, default=1000)
    ap.add_argument("--note", default="", help="why this recipe: goes into the model card")
    ap.add_argument("--out", type=Path, required=True, help="checkpoint path, e.g. maml_lite/checkpoints/maml.pt")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = make_model()
    config = {k: v for k, v in vars(args).items() if k not in ("out", "note", "eval_tasks")}
    history = meta_train(model, args.method, args.iterations, args.seed, meta_batch=args.meta_batch,
                         k_shot=args.k_shot, k_query=args.k_query, inner_steps=args.inner_steps,
                         inner_lr=args.inner_lr, outer_lr=args.outer_lr, schedule=args.schedule,
                         step_weights=args.step_weights, learn_unit_scales=args.learn_unit_scales,
                         relu_smoothing=args.relu_smoothing, smooth_layers=args.smooth_layers)
    card = {
        "name": args.out.stem,
        "method": args.method,
        "config": config,
        "recipe_note": args.note,
        "command": _command(argv if argv is not None else sys.argv[1:]),
        "training_seconds": round(history.seconds, 1),
        "interrupted": history.interrupted,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "final_train_loss": history.loss[-1] if history.loss else None,
        "evaluation": {
            f"K={k}": evaluate(model, k, n_tasks=args.eval_tasks,
                                  inner_lr=getattr(model, "learned_inner_lr", args.inner_lr)).to_dict()
            for k in (5, 10, 20)
        },
    }
    save_checkpoint(model, args.out, method=args.method)
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    for k, table in card["evaluation"].items():
        print(k, "MSE after 0/1/5/10 steps:", [round(table["mean"][s], 3) for s in (0, 1, 5, 10)],
              "non-finite at 10:", table["nonfinite"][10])
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} ({history.seconds:.0f} s of training)")


if __name__ == "__main__":
    main()
