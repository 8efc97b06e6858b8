"""A live playground: adapt five sine regressors to K points and watch them move, step by step.

Two layers, kept apart so the logic can be tested without a browser:

* pure logic -- `sample_points` draws K support points from a task and `update` adapts every model
  to them (all models in one batched pass, every step 0..inner_steps at once) and returns a `State`:
  predictions on a grid of 200 x, each model's MSE against the true curve, and plain-language
  messages. `update` never raises: bad input becomes a message.
* the view -- `Playground`: core ipywidgets (the same API in ipywidgets 7 and 8) around one
  matplotlib figure. With the ipympl backend (`%matplotlib widget`) the figure is a clickable canvas;
  elsewhere (Colab) it is a static image redrawn on every change.

Taught in notebooks/04_live_adaptation.ipynb.
"""

from __future__ import annotations

import html
import io
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .adapt import adapt
from .checkpoints import load_pretrained
from .model import MLP, make_model, predict
from .plots import COLORS, LABELS
from .tasks import SineTasks

MODELS = ("maml", "fomaml", "reptile", "pretrain", "scratch")  # the playground's five models, in order
NUMBERS = {2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight"}
MAX_STEPS = 10           # the steps slider goes 0..MAX_STEPS
MAX_INNER_STEPS = 100    # update() caps inner_steps here so a typo cannot freeze a lecture
MAX_K = 20               # the K slider goes 1..MAX_K
N_GRID = 200             # x values the curves and the MSE are computed on
DIVERGED = 1e6           # a prediction larger than this (or NaN/inf) counts as diverged
TASKS = SineTasks()      # the meta-training ranges: amplitude [0.1, 5], phase [0, pi], x [-5, 5]
CLICK_HINT = ("Clicking to place points needs ipympl: run <code>%pip install ipympl</code>, restart the "
              "kernel and run the notebook again (it switches to <code>%matplotlib widget</code>). "
              "The sliders below work everywhere.")
COLAB_HINT = ("Clicking to place points needs ipympl, which does not work on Colab; the sliders below do everything "
              "else. To click, open the notebook on Binder or in a local JupyterLab.")


# ----------------------------------------------------------------------------------------------------
# Pure logic
# ----------------------------------------------------------------------------------------------------

# A model that adapts its own way (a learned optimiser, CAVIA's context):
# adapter(x (k, 1), y (k, 1), steps, x_grid (N_GRID, 1)) -> predictions after 0..steps steps, (steps + 1, N_GRID).
PlaygroundAdapter = Callable[[Tensor, Tensor, int, Tensor], Tensor]


def rule_adapter(model: nn.Module, rule: nn.Module) -> PlaygroundAdapter:
    """`model` adapted by a learned update rule (maml_lite.learned_opt), for update/Playground's `adapters`."""
    from .learned_opt import rollout

    def run(x: Tensor, y: Tensor, steps: int, x_grid: Tensor) -> Tensor:
        if not len(x):  # nothing to adapt to: the start, at every step
            with torch.no_grad():
                return model(x_grid)[:, 0].expand(steps + 1, -1)
        trajectory = rollout(model, rule, x[None], y[None], steps, detach=True)
        with torch.no_grad():
            return torch.stack([predict(model, params, x_grid[None])[0, :, 0] for params in trajectory])
    return run


def context_adapter(model: nn.Module, inner_lr: float = 1.0) -> PlaygroundAdapter:
    """CAVIA's `model` adapting its context (maml_lite.cavia) at inner_lr, for update/Playground's `adapters`."""
    from .cavia import adapt_context, context_size, with_context

    def run(x: Tensor, y: Tensor, steps: int, x_grid: Tensor) -> Tensor:
        context, out = torch.zeros(1, context_size(model)), []
        for step in range(steps + 1):
            if step and len(x):  # one more step from where the last one ended
                context = adapt_context(model, x[None], y[None], 1, inner_lr, first_order=True, context=context)
                context = context.detach()
            with torch.no_grad():
                out.append(model(with_context(x_grid[None], context))[0, :, 0])
        return torch.stack(out)
    return run


def load_models(scratch_seed: int = 0) -> dict[str, nn.Module]:
    """The five playground models: the four shipped checkpoints and a fresh network (fixed seed)."""
    models = {name: load_pretrained(name) for name in ("maml", "fomaml", "reptile", "pretrain")}
    models["scratch"] = scratch_model(scratch_seed)
    return models


def scratch_model(seed: int = 0) -> MLP:
    """A freshly initialised network, the same for a given seed (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_model()


def sample_points(amplitude: float, phase: float, k_shot: int, one_half: bool = False,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K support points of y = A sin(x - phase): x uniform on [-5, 5] (or on [0, 5] if one_half).

    The same seed gives the same x positions, and a larger K only adds points: the first K of a
    fixed sequence are used. Returns x, y of shape (k_shot,).
    """
    k_shot = max(0, int(k_shot))
    u = torch.rand(max(k_shot, MAX_K), generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    lo, hi = (0.0, TASKS.x_range[1]) if one_half else TASKS.x_range
    x = (lo + (hi - lo) * u[:k_shot]).numpy()
    return x, amplitude * np.sin(x - phase)


def random_task(generator: torch.Generator) -> tuple[float, float, int]:
    """(amplitude, phase, point seed) drawn from the meta-training distribution with `generator`."""
    a_lo, a_hi = TASKS.amplitude
    p_lo, p_hi = TASKS.phase
    u = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return round(a_lo + (a_hi - a_lo) * u[0], 2), round(p_lo + (p_hi - p_lo) * u[1], 2), seed


@dataclass(frozen=True)
class State:
    """What `update` computed: everything the view draws. Arrays are numpy float64.

    x_grid, y_true:        (N_GRID,) the true curve
    x_points, y_points:    (k,) the support points actually used (cleaned, clipped)
    predictions[name]:     (inner_steps + 1, N_GRID), row s = after s steps; NaN rows once diverged
    mse[name]:             (inner_steps + 1,) MSE against the true curve on the grid; inf once diverged
    diverged_at[name]:     the first step whose prediction was NaN/inf or huge, else None
    messages:              plain sentences for the widget's message area (empty when all is well)
    """

    x_grid: np.ndarray
    y_true: np.ndarray
    x_points: np.ndarray
    y_points: np.ndarray
    amplitude: float
    phase: float
    inner_steps: int
    inner_lr: float
    predictions: dict[str, np.ndarray]
    mse: dict[str, np.ndarray]
    diverged_at: dict[str, int | None]
    messages: tuple[str, ...]

    @property
    def k_shot(self) -> int:
        return len(self.x_points)

    def step(self, step: int) -> int:
        """`step` clipped to the steps this state holds."""
        return min(max(int(step), 0), self.inner_steps)

    def curve(self, name: str, step: int) -> np.ndarray | None:
        """Model `name`'s prediction after `step` steps, or None if it diverged (never NaN)."""
        if name not in self.predictions:
            return None
        s = self.step(step)
        at = self.diverged_at.get(name)
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
            rows.append(f"  {LABELS.get(name, name):24s}" + (f"{value:8.3f}" if math.isfinite(value) else "diverged"))
        return "\n".join(rows)


def _number(value: object, name: str, default: float, messages: list[str]) -> float:
    """value as a finite float, or `default` with a message."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out):
        messages.append(f"{name} must be a finite number, got {value!r}; using {default:g}.")
        return default
    return out


def _points(x_points: object, y_points: object, messages: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Clean support points: numbers only, matching lengths, finite, x clipped to [-5, 5]."""
    arrays = []
    for name, values in (("x_points", x_points), ("y_points", y_points)):
        try:
            a = np.zeros(0) if values is None else np.asarray(
                values.detach().cpu() if isinstance(values, Tensor) else values, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            messages.append(f"{name} could not be read as numbers ({type(values).__name__}); ignoring the points.")
            return np.zeros(0), np.zeros(0)
        arrays.append(a)
    x, y = arrays
    if len(x) != len(y):
        n = min(len(x), len(y))
        messages.append(f"x_points and y_points have different lengths ({len(x)} and {len(y)}); using the first {n}.")
        x, y = x[:n], y[:n]
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        bad = int((~finite).sum())
        messages.append(f"Ignored {bad} point{'s' * (bad > 1)} with NaN or inf coordinates.")
        x, y = x[finite], y[finite]
    lo, hi = TASKS.x_range
    outside = (x < lo) | (x > hi)
    if outside.any():
        n = int(outside.sum())
        messages.append(f"Moved {n} point{'s' * (n > 1)} with x outside [{lo:g}, {hi:g}] to the edge of the range.")
        x = np.clip(x, lo, hi)
    return x, y


def _inner(inner_steps: object, inner_lr: object, messages: list[str]) -> tuple[int, float]:
    """Valid (inner_steps, inner_lr), with a message for each value that had to be replaced."""
    steps = inner_steps
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        messages.append(f"inner_steps must be a whole number, got {inner_steps!r}; using 0.")
        steps = 0
    elif steps < 0:
        messages.append(f"inner_steps must be >= 0, got {steps}; using 0.")
        steps = 0
    elif steps > MAX_INNER_STEPS:
        messages.append(f"inner_steps={steps} is more than the playground computes; using {MAX_INNER_STEPS}.")
        steps = MAX_INNER_STEPS
    lr = _number(inner_lr, "inner_lr", 0.0, messages)
    if lr < 0:
        messages.append(f"inner_lr must be >= 0 (a negative rate climbs the loss), got {lr:g}; using 0.")
        lr = 0.0
    return int(steps), lr


def _groups(models: Mapping[str, nn.Module]) -> list[list[str]]:
    """Model names grouped so each group can be adapted in one batched pass (same MLP architecture)."""
    groups: dict[object, list[str]] = {}
    for name, model in models.items():
        key = (model.sizes, model.activation) if isinstance(model, MLP) else ("single", name)
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def _trajectory(models: list[nn.Module], x: Tensor, y: Tensor, steps: int, lr: float,
                rates: list[Mapping[str, Tensor] | None], x_grid: Tensor) -> Tensor:
    """Predictions on x_grid after 0..steps SGD steps, for each model: (steps + 1, n_models, N_GRID).

    The models share one architecture: their parameters are stacked with a leading model dimension, and
    all take each step together through the package's own `adapt`, one batched pass per step (a model that
    is not a maml_lite MLP forms a group of one). rates: one entry per model, its own per-parameter step
    sizes (Meta-SGD) or None to step at lr. x, y: (k, 1); x_grid: (N_GRID, 1).
    """
    b = len(models)
    named = [{n: p.detach() for n, p in m.named_parameters()} for m in models]
    step_size: float | dict[str, Tensor] = lr
    if b == 1 and not isinstance(models[0], MLP):  # any other torch module: adapted alone, unbatched
        params, xs, ys, grid = named[0], x, y, x_grid
        step_size = rates[0] if rates[0] is not None else lr
    else:
        params = {n: torch.stack([p[n] for p in named]) for n in named[0]}  # (b, *parameter shape)
        xs, ys, grid = x.expand(b, *x.shape), y.expand(b, *y.shape), x_grid.expand(b, *x_grid.shape)
        if any(r is not None for r in rates):
            step_size = {n: torch.stack([r[n].detach() if r is not None else torch.full_like(p[i], lr)
                                         for i, r in enumerate(rates)]) for n, p in params.items()}
    history = [params]
    for _ in range(steps if x.shape[0] else 0):
        params = adapt(models[0], xs, ys, 1, step_size, first_order=True, params=params)
        params = {n: p.detach() for n, p in params.items()}
        history.append(params)
    with torch.no_grad():
        out = torch.stack([predict(models[0], h, grid).view(b, -1) for h in history])
    return out.expand(steps + 1, *out.shape[1:]) if len(history) < steps + 1 else out


def update(
    models: Mapping[str, nn.Module],
    x_points: object,
    y_points: object,
    amplitude: float,
    phase: float,
    inner_steps: int = MAX_STEPS,
    inner_lr: float = 0.01,
    rates: Mapping[str, Mapping[str, Tensor]] | None = None,
    adapters: Mapping[str, PlaygroundAdapter] | None = None,
) -> State:
    """Adapt every model to the support points for 0..inner_steps SGD steps; never raises.

    models: {name: model}, e.g. `load_models()`; MLPs sharing an architecture are adapted together.
    rates: {name: per-parameter step sizes} for models that bring their own (Meta-SGD); the rest step at inner_lr.
    adapters: {name: PlaygroundAdapter} for models that adapt their own way (rule_adapter, context_adapter).
    x_points, y_points: the K support points, (k,) or (k, 1), any array-like (k may be 0).
    amplitude, phase: the true task y = A sin(x - phase), for the curve and the MSE.
    Bad input (no points, NaN, x outside [-5, 5], a diverging inner_lr, ...) becomes a message.
    """
    messages: list[str] = []
    try:
        return _update(models, x_points, y_points, amplitude, phase, inner_steps, inner_lr, rates or {},
                       adapters or {}, messages)
    except Exception as e:  # the playground must keep working whatever happens
        messages.append(f"Could not adapt the models ({type(e).__name__}: {e}). Try other settings.")
        x_grid = np.linspace(*TASKS.x_range, N_GRID)
        a = amplitude if isinstance(amplitude, (int, float)) and math.isfinite(amplitude) else 1.0
        p = phase if isinstance(phase, (int, float)) and math.isfinite(phase) else 0.0
        return State(x_grid, a * np.sin(x_grid - p), np.zeros(0), np.zeros(0), float(a), float(p), 0, 0.0,
                     {}, {}, {}, tuple(messages))


def _update(models, x_points, y_points, amplitude, phase, inner_steps, inner_lr, rates, adapters,
            messages: list[str]) -> State:
    amplitude = _number(amplitude, "amplitude", 1.0, messages)
    phase = _number(phase, "phase", 0.0, messages)
    (a_lo, a_hi), (p_lo, p_hi) = TASKS.amplitude, TASKS.phase
    if not a_lo <= amplitude <= a_hi:
        messages.append(f"Amplitude {amplitude:g} is outside the meta-training range [{a_lo:g}, {a_hi:g}]: "
                        "the meta-learned models never saw such a task, expect them to do worse.")
    if not p_lo <= phase <= p_hi + 1e-9:
        messages.append(f"Phase {phase:.2f} is outside the meta-training range [0, pi = {p_hi:.2f}]: "
                        "the meta-learned models never saw such a task, expect them to do worse.")
    steps, lr = _inner(inner_steps, inner_lr, messages)
    x, y = _points(x_points, y_points, messages)
    if len(x) == 0:
        messages.append("No support points: showing the models before adaptation. "
                        "Move the K slider or click on the plot to add points.")

    if not isinstance(models, Mapping):
        messages.append(f"models must be a dict {{name: model}}, got {type(models).__name__}.")
        models = {}
    usable = {n: m for n, m in models.items() if isinstance(m, nn.Module)}
    for name in models.keys() - usable.keys():
        messages.append(f"Skipped {name!r}: not a torch model.")
    if not usable:
        messages.append("No models to adapt: pass {name: model}, e.g. maml_lite.widgets.load_models().")

    x_grid = np.linspace(*TASKS.x_range, N_GRID)
    y_true = amplitude * np.sin(x_grid - phase)
    xs = torch.tensor(x, dtype=torch.float32).view(-1, 1)
    ys = torch.tensor(y, dtype=torch.float32).view(-1, 1)
    xg = torch.tensor(x_grid, dtype=torch.float32).view(-1, 1)
    yt = torch.tensor(y_true, dtype=torch.float32)

    runs = [(group, lambda g=group: _trajectory([usable[n] for n in g], xs, ys, steps, lr, [rates.get(n) for n in g],
                                                xg)) for group in _groups(usable)]
    for name, adapter in adapters.items():
        runs.append(([name], lambda a=adapter: a(xs, ys, steps, xg).reshape(steps + 1, 1, N_GRID)))
    predictions, mse, diverged_at = {}, {}, {}
    for group, run in runs:
        try:
            out = run().float()
        except Exception as e:  # one model's failure must not take the others down
            messages.append(f"Could not adapt the models: {', '.join(group)} ({type(e).__name__}: {e}); "
                            "the others are shown.")
            continue
        bad = ~torch.isfinite(out).all(-1) | (out.abs().amax(-1) > DIVERGED)  # (steps + 1, b)
        bad = torch.cummax(bad.to(torch.int8), dim=0).values.bool()          # once diverged, stay diverged
        err = ((out - yt) ** 2).mean(-1).masked_fill(bad, math.inf)
        out = out.masked_fill(bad.unsqueeze(-1), math.nan)
        for i, name in enumerate(group):
            predictions[name] = out[:, i].double().numpy()
            mse[name] = err[:, i].double().numpy()
            first = int(bad[:, i].to(torch.int8).argmax()) if bad[:, i].any() else None
            diverged_at[name] = first
    order = [n for n in [*usable, *adapters] if n in predictions]
    predictions, mse, diverged_at = ({n: d[n] for n in order} for d in (predictions, mse, diverged_at))

    gone = {n: s for n, s in diverged_at.items() if s is not None}
    own_rates = {n for n in gone if n in rates}
    if own_rates:
        which = ", ".join(f"{LABELS.get(n, n)} (step {gone.pop(n)})" for n in sorted(own_rates))
        messages.append(f"Diverged: {which}. Its step sizes were meta-learned for ONE step, so further steps "
                        "overshoot (notebook 06); the inner learning rate slider does not apply to it.")
    own_rule = {n for n in gone if n in adapters}
    if own_rule:
        which = ", ".join(f"{LABELS.get(n, n)} (step {gone.pop(n)})" for n in sorted(own_rule))
        messages.append(f"Diverged: {which}. It adapts by its own learned rule, which the inner learning rate "
                        "slider does not change (notebook 07).")
    if gone:
        which = ", ".join(f"{LABELS.get(n, n)} (step {s})" for n, s in gone.items())
        messages.append(f"Diverged with inner_lr={lr:g}: {which}. Each step overshoots and the prediction blows "
                        "up; lower the inner learning rate (the paper uses 0.01).")
    return State(x_grid, y_true, x, y, amplitude, phase, steps, lr, predictions, mse, diverged_at, tuple(messages))


# ----------------------------------------------------------------------------------------------------
# The view
# ----------------------------------------------------------------------------------------------------

def ipympl_active() -> bool:
    """True when matplotlib's backend is ipympl (`%matplotlib widget`): figures are clickable widgets."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend == "widget"


class Playground:
    """The widget: sliders and buttons (core ipywidgets only) around one figure of the five models.

    Display `playground.widget`. Every control calls `update` (via `recompute`) or only redraws
    (the steps slider: all steps are computed once per change of points, the slider just picks).
    Sliders that trigger computation report only on release (`continuous_update=False`), so a drag
    never queues stale work. Callbacks never raise: errors go to the message area.
    """

    def __init__(self, models: Mapping[str, nn.Module], amplitude: float = 4.0, phase: float = 0.5,
                 k_shot: int = 5, inner_lr: float = 0.01, steps: int = MAX_STEPS, seed: int = 0,
                 clickable: bool | None = None, rates: Mapping[str, Mapping[str, Tensor]] | None = None,
                 adapters: Mapping[str, PlaygroundAdapter] | None = None) -> None:
        import ipywidgets as w

        self.models = dict(models)
        self.rates = dict(rates or {})  # {name: learned per-parameter step sizes} (Meta-SGD)
        self.adapters = dict(adapters or {})  # {name: its own adaptation} (learned optimisers, CAVIA)
        self.names = [*self.models, *self.adapters]
        self.rng = torch.Generator().manual_seed(seed)
        self.point_seed = seed
        self.clicked: list[tuple[float, float]] = []
        self.source = "sampled"           # "sampled" (K slider) or "clicked" (placed on the plot)
        self.state: State | None = None
        self.timings = {"compute_ms": math.nan, "redraw_ms": math.nan}
        self._holding = False
        self._view_messages: list[str] = []

        wide = {"description_width": "initial"}
        self.amplitude = w.FloatSlider(value=amplitude, min=0.0, max=8.0, step=0.1, description="amplitude A",
                                       continuous_update=False, readout_format=".1f", style=wide)
        self.phase = w.FloatSlider(value=phase, min=0.0, max=round(2 * math.pi, 2), step=0.05,
                                   description="phase φ", continuous_update=False, readout_format=".2f", style=wide)
        self.new_task = w.Button(description="new random task", tooltip="draw A and φ from the meta-training range")
        self.k_shot = w.IntSlider(value=k_shot, min=1, max=MAX_K, description="K points", continuous_update=False,
                                  style=wide)
        self.one_half = w.Checkbox(value=False, description="all points on one half (x ≥ 0)", style=wide)
        self.undo = w.Button(description="undo click", tooltip="remove the last clicked point")
        self.clear = w.Button(description="clear points", tooltip="remove all points; click on the plot to add")
        self.steps = w.IntSlider(value=min(max(steps, 0), MAX_STEPS), min=0, max=MAX_STEPS, description="inner steps",
                                 continuous_update=True, style=wide)
        self.inner_lr = w.FloatLogSlider(value=inner_lr, base=10, min=-4, max=1, step=0.25, description="inner lr α",
                                         continuous_update=False, readout_format=".3g", style=wide)
        self.points_info = w.HTML()
        self.readouts = w.HTML()  # one widget for all five: one message to the browser per update, not five
        self.messages = w.HTML()
        self.note = w.HTML()
        for widget, css in ((self.amplitude, "amplitude-slider"), (self.phase, "phase-slider"),
                            (self.new_task, "new-task"), (self.k_shot, "k-slider"), (self.one_half, "half-toggle"),
                            (self.undo, "undo"), (self.clear, "clear"), (self.steps, "steps-slider"),
                            (self.inner_lr, "lr-slider"), (self.points_info, "points-info"),
                            (self.messages, "messages"), (self.note, "note"), (self.readouts, "readouts")):
            widget.add_class(f"maml-{css}")

        self.clickable = ipympl_active() if clickable is None else bool(clickable)
        self._make_figure()
        if not self.clickable:
            self.note.value = f"<i>{COLAB_HINT if 'google.colab' in sys.modules else CLICK_HINT}</i>"

        self.amplitude.observe(self._safe(self._on_task), names="value")
        self.phase.observe(self._safe(self._on_task), names="value")
        self.inner_lr.observe(self._safe(self._on_task), names="value")
        self.k_shot.observe(self._safe(self._on_sampled), names="value")
        self.one_half.observe(self._safe(self._on_sampled), names="value")
        self.steps.observe(self._safe(self._on_steps), names="value")
        self.new_task.on_click(self._safe(lambda _: self.new_random_task()))
        self.undo.on_click(self._safe(lambda _: self.undo_point()))
        self.clear.on_click(self._safe(lambda _: self.clear_points()))

        row = lambda *children: w.HBox(list(children), layout=w.Layout(flex_flow="row wrap"))  # noqa: E731
        self.widget = w.VBox([
            self.view,
            self.readouts,
            row(self.amplitude, self.phase, self.new_task),
            row(self.k_shot, self.one_half, self.undo, self.clear),
            row(self.steps, self.inner_lr),
            self.points_info,
            self.messages,
            self.note,
        ])
        self.widget.add_class("maml-playground")
        self._safe(lambda: self.recompute())()

    # -- figure ---------------------------------------------------------------------------------------
    def _make_figure(self) -> None:
        import ipywidgets as w
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(7.6, 3.5), dpi=80)  # 608 x 280 px: every repaint is PNG-encoded, keep it small
        self.figure.subplots_adjust(left=0.07, right=0.74, bottom=0.13, top=0.9)  # fixed: no layout work per draw
        self.canvas = None
        if self.clickable:
            try:  # an ipympl canvas without pyplot, so later plt calls cannot draw on it
                from ipympl.backend_nbagg import Canvas, FigureManager

                self.canvas = Canvas(self.figure)
                FigureManager(self.canvas, 0)
                self.canvas.toolbar_visible = False
                self.canvas.header_visible = False
                self.canvas.footer_visible = False
                self.canvas.resizable = False
                self.canvas.add_class("maml-canvas")
                self.canvas.mpl_connect("button_press_event", self._safe(self._on_click))
                self.view = self.canvas
            except Exception as e:  # ipympl missing or incompatible: fall back to the static image
                self.clickable = False
                self._view_messages.append(f"Could not start the clickable figure ({type(e).__name__}); "
                                           "showing a static image instead.")
        if not self.clickable:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(self.figure)
            self.view = w.Image(format="png")
            self.view.add_class("maml-image")

        # Everything that moves is "animated": a full draw paints the rest once (axes, ticks, legend) and
        # keeps it as the background; an update restores it and paints only the moving parts (blitting).
        ax = self.ax = self.figure.add_subplot()
        self.truth_line, = ax.plot([], [], "--", color=COLORS["truth"], lw=1.5, label=LABELS["truth"])
        self.lines = {name: ax.plot([], [], color=COLORS.get(name), lw=2, label=LABELS.get(name, name))[0]
                      for name in self.names}
        self.points_line, = ax.plot([], [], "o", color=COLORS["truth"], ms=6, zorder=5, label="support points")
        self.moving = [self.truth_line, *self.lines.values(), self.points_line]  # text is slow to paint: none here
        for artist in self.moving:
            artist.set_animated(True)
        count = NUMBERS.get(len(self.names), len(self.names))
        ax.set(xlim=TASKS.x_range, ylim=(-6, 6), xlabel="x", ylabel="y", title=f"{count} models adapting to the points")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small", borderaxespad=0)
        self._background = None
        self.figure.canvas.mpl_connect("draw_event", self._safe(self._on_draw))

    def _on_draw(self, event: object) -> None:
        """After a full draw: keep the static parts as the background, then paint the moving parts."""
        self._background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        for artist in self.moving:
            self.figure.draw_artist(artist)

    def _render(self, full: bool) -> None:
        """Repaint: everything (full, e.g. new y-limits) or only the moving parts over the background."""
        canvas = self.figure.canvas
        if full or self._background is None:
            if self.clickable:  # the browser asks for the full draw when it is ready (and not before)
                self._background = None
                canvas.draw_idle()
                return
            canvas.draw()  # fires draw_event -> _on_draw
        else:
            canvas.restore_region(self._background)
            for artist in self.moving:
                self.figure.draw_artist(artist)
            if self.clickable:
                canvas.blit(self.figure.bbox)  # ipympl sends the changed pixels to the browser
        if not self.clickable:
            from PIL import Image

            with io.BytesIO() as buf:
                Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
                self.view.value = buf.getvalue()

    # -- actions (also the scripting API) -------------------------------------------------------------
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The current support points: the clicked ones, or K sampled from the task."""
        if self.source == "clicked":
            xy = np.array(self.clicked, dtype=np.float64).reshape(-1, 2)
            return xy[:, 0], xy[:, 1]
        return sample_points(self.amplitude.value, self.phase.value, self.k_shot.value, self.one_half.value,
                             self.point_seed)

    def add_point(self, x: float, y: float) -> None:
        """Place a support point at (x, y) (what a click on the plot does)."""
        if self.source != "clicked":
            self.source, self.clicked = "clicked", []
        self.clicked.append((float(x), float(y)))
        self.recompute()

    def undo_point(self) -> None:
        """Remove the last clicked point."""
        if self.source == "clicked" and self.clicked:
            self.clicked.pop()
            self.recompute()
        else:
            self._view_messages.append("Nothing to undo: no clicked points.")
            self._show_messages()

    def clear_points(self) -> None:
        """Remove every support point (the models show their un-adapted predictions)."""
        self.source, self.clicked = "clicked", []
        self.recompute()

    def new_random_task(self) -> None:
        """Draw amplitude, phase and point positions from the meta-training distribution (seeded)."""
        amplitude, phase, self.point_seed = random_task(self.rng)
        with self._hold():
            self.amplitude.value, self.phase.value = amplitude, phase
        self.recompute()

    def recompute(self) -> None:
        """Adapt every model for 0..MAX_STEPS steps to the current points, then redraw."""
        x, y = self.points()
        start = time.perf_counter()
        self.state = update(self.models, x, y, self.amplitude.value, self.phase.value, MAX_STEPS, self.inner_lr.value,
                            self.rates, self.adapters)
        self.timings["compute_ms"] = 1e3 * (time.perf_counter() - start)
        self.redraw()

    def redraw(self) -> None:
        """Show the current state after `steps` steps: curves, points, readouts, messages."""
        state, step = self.state, self.steps.value
        if state is None:
            return
        start = time.perf_counter()
        self.truth_line.set_data(state.x_grid, state.y_true)
        self.points_line.set_data(state.x_points, state.y_points)
        for name, line in self.lines.items():
            y = state.curve(name, step)
            line.set_visible(y is not None)
            if y is not None:
                line.set_data(state.x_grid, y)
        need = max(1.3 * abs(state.amplitude), 1.15 * float(np.abs(state.y_points).max(initial=0.0)))
        lim = 6.0 if need <= 6 else 2.0 * math.ceil(need / 2)  # few distinct limits: most updates only blit
        full = self.ax.get_ylim() != (-lim, lim)
        if full:
            self.ax.set_ylim(-lim, lim)
        cells = []
        for name, text in self.readout_texts().items():
            cells.append(f'<span class="maml-mse maml-mse-{html.escape(name)}"><span style="color:'
                         f'{COLORS.get(name, "#333")}">&#9632;</span> {html.escape(LABELS.get(name, name))}: '
                         f"<b>{text}</b></span>")
        self.readouts.value = f'<div style="display:flex;flex-wrap:wrap;column-gap:18px">{"".join(cells)}</div>'
        how = ("placed by clicking (undo / clear to remove)" if self.source == "clicked"
               else f"sampled from the task{' on x ≥ 0' if self.one_half.value else ''} (K slider"
                    + ("; or click the plot to place your own)" if self.clickable else ")"))
        s = state.step(step)
        self.points_info.value = (f"<b>A = {state.amplitude:.2f}, φ = {state.phase:.2f}, after {s} "
                                  f"step{'s' * (s != 1)} at α = {state.inner_lr:g}</b> &middot; {state.k_shot} "
                                  f"support point{'s' * (state.k_shot != 1)} {how}.")
        self._show_messages()
        self._render(full)
        self.timings["redraw_ms"] = 1e3 * (time.perf_counter() - start)

    def readout_texts(self) -> dict[str, str]:
        """What the readouts show for each model at the current step: "MSE 0.123", "diverged (step 3)"."""
        state, step, out = self.state, self.steps.value, {}
        for name in self.names:
            if state is None or name not in state.mse:
                out[name] = "n/a"
            elif state.curve(name, step) is None:
                out[name] = f"diverged (step {state.diverged_at[name]})"
            else:
                out[name] = f"MSE {state.mse_at(name, step):.3f}"
        return out

    # -- plumbing -------------------------------------------------------------------------------------
    def _show_messages(self) -> None:
        lines = list(self.state.messages if self.state else ()) + self._view_messages
        self._view_messages = []
        self.messages.value = "".join(f"<div>&#9888; {html.escape(m)}</div>" for m in lines)

    @contextmanager
    def _hold(self) -> Iterator[None]:
        """Set several controls at once without recomputing after each."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def _safe(self, fn: Callable) -> Callable:
        """fn wrapped so that an exception becomes a message in the widget, never a traceback."""
        def wrapped(*args: object) -> None:
            try:
                fn(*args)
            except Exception as e:
                self._view_messages.append(f"Something went wrong ({type(e).__name__}: {e}); "
                                           "the playground is still usable.")
                try:
                    self._show_messages()
                except Exception:
                    pass
        return wrapped

    def _on_task(self, change: dict) -> None:
        if not self._holding:
            self.recompute()

    def _on_sampled(self, change: dict) -> None:
        self.source = "sampled"
        self.recompute()

    def _on_steps(self, change: dict) -> None:
        self.redraw()

    def _on_click(self, event: object) -> None:
        if getattr(event, "inaxes", None) is not self.ax or event.xdata is None or event.ydata is None:
            return
        self.add_point(event.xdata, event.ydata)
