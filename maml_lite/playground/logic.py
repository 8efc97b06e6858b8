"""The playground's logic, no widgets: sample points, adapt every model to them, score its curves.

`update` adapts each model {name: (model, method)} through its method's own `trajectory` and returns
a read-only `State`: predictions for steps 0..inner_steps, MSE against the true curve, divergence,
and messages about what the controls produced. Methods that adapt by plain SGD on the weights
(`method.sgd_on_weights`) step at `update`'s inner_lr, the others their own way (learned rates, a
context, a learned rule). Networks of one architecture and activation whose methods step by MAML's
SGD are adapted in one pass, their weights stacked as the meta-batch. Taught in notebook 04.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from torch import Tensor, nn

from ..checks import MAX_INNER_STEPS, check_float, check_int
from ..method import MAML, Method
from ..methods import load_pretrained
from ..model import MLP, make_model
from ..plots import LABELS
from ..tasks import SineTasks

MODELS = ("maml", "fomaml", "reptile", "pretrain", "scratch")  # notebook 04's five, in order
MAX_STEPS = 10  # the steps slider goes 0..MAX_STEPS
MAX_K = 20  # the K slider goes 1..MAX_K
N_GRID = 200  # x values the curves and the MSE are computed on
DIVERGED = 1e6  # a prediction larger than this (or NaN/inf) counts as diverged
Y_LIMIT = 20.0  # support points lie within |y| <= Y_LIMIT: the plot's largest y-range
TASKS = SineTasks()  # the meta-training ranges: amplitude [0.1, 5], phase [0, pi], x [-5, 5]
Models = Mapping[str, tuple[nn.Module, Method]]


def load_models(scratch_seed: int = 0) -> dict[str, tuple[nn.Module, Method]]:
    """Notebook 04's five: four shipped checkpoints and a fresh network fine-tuned by MAML's SGD
    (the same for a given seed; the global RNG is left untouched)."""
    models = {name: load_pretrained(name) for name in MODELS[:-1]}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(scratch_seed)
        models["scratch"] = (make_model(), MAML())
    return models


def sample_points(amplitude: float, phase: float, k_shot: int, one_half: bool = False,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K support points of y = A sin(x - phase), x uniform on [-5, 5] (on [0, 5] if one_half).

    Returns x, y: (k_shot,) each. The same seed gives the same x; a larger K only adds points.
    """
    check_int("k_shot", k_shot, 0, MAX_K)
    amplitude, phase = check_float("amplitude", amplitude), check_float("phase", phase)
    u = torch.rand(MAX_K, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    lo, hi = (0.0, TASKS.x_range[1]) if one_half else TASKS.x_range
    x = (lo + (hi - lo) * u[:k_shot]).numpy()
    return x, amplitude * np.sin(x - phase)


def random_task(generator: torch.Generator) -> tuple[float, float, int]:
    """(amplitude, phase, point seed) drawn from the meta-training distribution with `generator`."""
    (a_lo, a_hi), (p_lo, p_hi) = TASKS.amplitude, TASKS.phase
    u = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return round(a_lo + (a_hi - a_lo) * u[0], 2), round(p_lo + (p_hi - p_lo) * u[1], 2), seed


@dataclass(frozen=True)
class State:
    """What `update` computed, read-only: everything the view draws. Arrays are numpy float64.

    x_grid, y_true:      (N_GRID,) the true curve
    x_points, y_points:  (k,) the support points
    predictions[name]:   (inner_steps + 1, N_GRID), row s = after s steps; NaN rows once diverged
    mse[name]:           (inner_steps + 1,) MSE against the true curve; inf once diverged
    diverged_at[name]:   the first step whose prediction was NaN, inf or huge, else None
    messages:            plain sentences for the message area (empty when all is well)
    """

    x_grid: np.ndarray
    y_true: np.ndarray
    x_points: np.ndarray
    y_points: np.ndarray
    amplitude: float
    phase: float
    inner_steps: int
    inner_lr: float
    predictions: Mapping[str, np.ndarray]
    mse: Mapping[str, np.ndarray]
    diverged_at: Mapping[str, int | None]
    messages: tuple[str, ...]

    @property
    def k_shot(self) -> int:
        return len(self.x_points)

    def step(self, step: int) -> int:
        """`step` clipped to the steps this state holds."""
        return min(max(step, 0), self.inner_steps)

    def curve(self, name: str, step: int) -> np.ndarray | None:
        """Model `name`'s prediction after `step` steps, or None once it diverged (never NaN)."""
        s, at = self.step(step), self.diverged_at[name]
        return None if at is not None and s >= at else self.predictions[name][s]

    def mse_at(self, name: str, step: int) -> float:
        """Model `name`'s MSE after `step` steps (inf once diverged)."""
        return float(self.mse[name][self.step(step)])

    def table(self, step: int | None = None) -> str:
        """The MSE of every model after `step` steps (default: the last), one line each."""
        s = self.inner_steps if step is None else self.step(step)
        rows = [f"MSE on {N_GRID} x in [-5, 5] after {s} step(s), K={self.k_shot}:"]
        for name in self.mse:
            value = self.mse_at(name, s)
            shown = f"{value:8.3f}" if math.isfinite(value) else "diverged"
            rows.append(f"  {label(name):24s}{shown}")
        return "\n".join(rows)


def label(name: str) -> str:
    return LABELS.get(name, name)


def check_models(models: object) -> dict[str, tuple[nn.Module, Method]]:
    """models as {name: (model, method)}, or a TypeError that says how to build it."""
    pairs = models.items() if isinstance(models, Mapping) and models else [("", None)]
    for name, pair in pairs:
        if not (isinstance(name, str) and isinstance(pair, tuple) and len(pair) == 2
                and isinstance(pair[0], nn.Module) and isinstance(pair[1], Method)):
            raise TypeError("models must be a non-empty dict {name: (model, method)}, e.g. "
                            "load_models() or {'maml': ml.load_pretrained('maml')}; "
                            f"got {models!r:.80}")
    return dict(models)


def check_support(x_points: object, y_points: object) -> tuple[np.ndarray, np.ndarray]:
    """Support points as float arrays (k,), or a ValueError: one y per x, each inside the plot."""
    x, y = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (x_points, y_points))
    if x.shape != y.shape:
        raise ValueError(f"x_points and y_points need one y per x; got {len(x)} x and {len(y)} y")
    (lo, hi), bad = TASKS.x_range, ~(np.abs(y) <= Y_LIMIT)  # NaN fails every comparison
    bad |= ~((lo <= x) & (x <= hi))
    if bad.any():
        i = int(bad.argmax())
        raise ValueError(f"a support point must lie inside the plot, x in [{lo:g}, {hi:g}] and y "
                         f"in [{-Y_LIMIT:g}, {Y_LIMIT:g}]; got ({x[i]:g}, {y[i]:g})")
    return x, y


def groups(models: Models) -> list[list[str]]:
    """Names of the models adapted in one pass: networks of one architecture and activation whose
    methods step and predict by MAML's SGD at one rate; any other model forms a group of its own."""
    keyed: dict[object, list[str]] = {}
    for name, (model, method) in models.items():
        kind = type(method)
        stacks = (isinstance(model, MLP) and method.sgd_on_weights and kind.step is MAML.step
                  and kind.predict is MAML.predict)
        key = (model.sizes, model.activation, method.inner_lr) if stacks else name
        keyed.setdefault(key, []).append(name)
    return list(keyed.values())


def adapt_together(members: list[tuple[nn.Module, Method]], x: Tensor, y: Tensor, grid: Tensor,
                   steps: int) -> Tensor:
    """Each member's predictions on grid after 0..steps steps, (steps + 1, len(members), n), by the
    first one's `trajectory`; members of a group start from their own states stacked as the
    meta-batch. x, y: (1, k, 1); grid: (1, n, 1)."""
    model, method = members[0]
    start = None
    if len(members) > 1:
        with torch.no_grad():
            starts = [m.start(net, x) for net, m in members]
        start = {n: torch.cat([s[n] for s in starts]) for n in starts[0]}
    xs, ys, grid = (t.expand(len(members), -1, -1) for t in (x, y, grid))
    return method.trajectory(model, xs, ys, grid, steps, start=start)[..., 0]


def update(models: Models, x_points: object, y_points: object, amplitude: float, phase: float,
           inner_steps: int = MAX_STEPS, inner_lr: float = 0.01) -> State:
    """Adapt every model to the support points for 0..inner_steps steps; score it on the true curve.

    models: {name: (model, method)}; x_points, y_points: k points inside the plot (k may be 0);
    amplitude, phase: the true task y = A sin(x - phase). Methods with `sgd_on_weights` step at
    inner_lr, the others their own way.
    Raises TypeError/ValueError for arguments the playground's controls cannot produce.
    """
    models = check_models(models)
    x, y = check_support(x_points, y_points)
    amplitude, phase = check_float("amplitude", amplitude), check_float("phase", phase)
    inner_steps = check_int("inner_steps", inner_steps, 0, MAX_INNER_STEPS)
    inner_lr = check_float("inner_lr", inner_lr)
    x_grid = np.linspace(*TASKS.x_range, N_GRID)
    y_true = amplitude * np.sin(x_grid - phase)
    pairs = {}
    for name, (model, method) in models.items():
        if method.sgd_on_weights:  # plain SGD on the weights: a copy that steps at inner_lr
            method = copy.copy(method)
            method.inner_lr = inner_lr
        pairs[name] = (model, method)
    xs, ys, grid = (torch.tensor(a, dtype=torch.float32).view(1, -1, 1) for a in (x, y, x_grid))
    curves: dict[str, Tensor] = {}
    for group in groups(pairs):
        together = adapt_together([pairs[n] for n in group], xs, ys, grid, inner_steps)
        curves.update(zip(group, together.unbind(1)))
    predictions, mse, diverged_at = {}, {}, {}
    for name in models:
        p = curves[name].double().numpy()
        bad = np.logical_or.accumulate(~(np.abs(p) <= DIVERGED).all(-1))  # and stays diverged
        p[bad] = np.nan
        err = ((p - y_true) ** 2).mean(-1)
        err[bad] = np.inf
        p.setflags(write=False), err.setflags(write=False)
        predictions[name], mse[name] = p, err
        diverged_at[name] = int(bad.argmax()) if bad.any() else None
    messages = _messages(pairs, len(x), amplitude, phase, inner_lr, diverged_at)
    for a in (x_grid, y_true, x, y):
        a.setflags(write=False)
    frozen = [MappingProxyType(d) for d in (predictions, mse, diverged_at)]
    return State(x_grid, y_true, x, y, amplitude, phase, inner_steps, inner_lr, *frozen, messages)


def _messages(pairs: Models, k: int, amplitude: float, phase: float, inner_lr: float,
              diverged_at: Mapping[str, int | None]) -> tuple[str, ...]:
    """What the message area says about this update (every case the controls can produce)."""
    out = []
    if not k:
        out.append("No support points: showing the models before adaptation. "
                   "Move the K slider or click on the plot to add points.")
    (a_lo, a_hi), (p_lo, p_hi) = TASKS.amplitude, TASKS.phase
    if not a_lo <= amplitude <= a_hi:
        out.append(f"Amplitude {amplitude:g} is outside the meta-training range [{a_lo:g}, "
                   f"{a_hi:g}]: the meta-learned models never saw such a task, expect them to do "
                   "worse.")
    if not p_lo <= phase <= p_hi + 1e-9:
        out.append(f"Phase {phase:.2f} is outside the meta-training range [0, pi = {p_hi:.2f}]: "
                   "the meta-learned models never saw such a task, expect them to do worse.")
    broken = [n for n, s in diverged_at.items() if s == 0]
    if broken:
        who = "Every model" if len(broken) == len(pairs) else ", ".join(map(label, broken))
        out.append(f"{who}: NaN, inf or huge predictions before any step, so the step size is not "
                   "the cause; check the weights (e.g. load the checkpoint again).")
    for follows in (True, False):
        gone = [f"{label(n)} (step {s})" for n, s in diverged_at.items()
                if s and pairs[n][1].sgd_on_weights == follows]
        if gone and follows:
            out.append(f"Diverged with inner_lr={inner_lr:g}: {', '.join(gone)}. Each step "
                       "overshoots and the prediction blows up; lower the inner learning rate (the "
                       "paper uses 0.01).")
        elif gone:
            it = "It adapts with its" if len(gone) == 1 else "They adapt with their"
            out.append(f"Diverged: {', '.join(gone)}. {it} own step sizes, which the inner "
                       "learning rate slider does not change.")
    return tuple(out)
