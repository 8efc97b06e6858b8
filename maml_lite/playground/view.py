"""The playground's view: core ipywidgets (7.7.1 and 8 alike) around a clickable canvas.

`ClickCanvas` is an anywidget: canvas.js draws its `plot` trait on an HTML canvas and sends clicks
back in data coordinates, wherever anywidget runs (JupyterLab 4, VS Code, Voila, Colab). The steps
slider only redraws (every step is computed once per change of points); the other sliders recompute
on release. One exception boundary (`_guarded`) wraps every callback: what a control cannot do (a
click outside the axes, nothing to undo) and anything unexpected become a message, not a traceback.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path

import anywidget
import ipywidgets as w
import numpy as np
import torch
import traitlets

from ..plots import COLORS, LABELS
from . import logic
from .logic import MAX_STEPS, TASKS, Models, label

NUMBERS = {1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight"}


class ClickCanvas(anywidget.AnyWidget):
    """The plot, drawn in the browser from `plot`; a click calls on_click(x, y), numbers or None."""

    _esm = (Path(__file__).parent / "canvas.js").read_text(encoding="utf-8")
    plot = traitlets.Dict().tag(sync=True)

    def __init__(self, on_click: Callable[[object, object], None]) -> None:
        super().__init__()
        self.on_click = on_click
        self.on_msg(self._receive)

    def __repr__(self) -> str:  # short and the same in every anywidget version (no trait dump)
        return "ClickCanvas()"

    def _receive(self, _widget: object, content: dict, _buffers: object) -> None:
        """canvas.js's one message, {"event": "click", "x": ..., "y": ...} in data coordinates."""
        self.on_click(content.get("x"), content.get("y"))


def _tagged(css: str, widget: w.DOMWidget) -> w.DOMWidget:
    widget.add_class(f"maml-{css}")  # stable names for the browser tests and for styling
    return widget


class Playground:
    """Sliders and buttons around one clickable plot of the models adapting. Display `.widget`.

    models: {name: (model, method)}; the other arguments are the controls' starting values.
    """

    def __init__(self, models: Models, amplitude: float = 4.0, phase: float = 0.5, k_shot: int = 5,
                 inner_lr: float = 0.01, steps: int = MAX_STEPS, seed: int = 0) -> None:
        self.models = logic.check_models(models)
        self.rng, self.point_seed = torch.Generator().manual_seed(seed), seed
        self.clicked: list[tuple[float, float]] = []
        self.source = "sampled"  # "sampled" (K slider) or "clicked" (placed on the plot)
        self.state, self.ylim, self._holding = None, (-6.0, 6.0), False

        wide = {"description_width": "initial"}
        lazy = {"continuous_update": False, "style": wide}  # recompute on release, not on drags
        self.amplitude = _tagged("amplitude-slider", w.FloatSlider(
            value=amplitude, min=0.0, max=8.0, step=0.1, description="amplitude A",
            readout_format=".1f", **lazy))
        self.phase = _tagged("phase-slider", w.FloatSlider(
            value=phase, min=0.0, max=round(2 * math.pi, 2), step=0.05, description="phase φ",
            readout_format=".2f", **lazy))
        self.new_task = _tagged("new-task", w.Button(
            description="new random task", tooltip="draw A and φ from the meta-training range"))
        self.k_shot = _tagged("k-slider", w.IntSlider(
            value=k_shot, min=1, max=logic.MAX_K, description="K points", **lazy))
        self.one_half = _tagged("half-toggle", w.Checkbox(
            value=False, description="all points on one half (x ≥ 0)", style=wide))
        self.undo = _tagged("undo", w.Button(description="undo click", tooltip="remove the last"))
        self.clear = _tagged("clear", w.Button(description="clear points", tooltip="remove all"))
        self.steps = _tagged("steps-slider", w.IntSlider(  # cheap: it only picks a computed step
            value=steps, min=0, max=MAX_STEPS, description="inner steps", style=wide))
        self.inner_lr = _tagged("lr-slider", w.FloatLogSlider(
            value=inner_lr, base=10, min=-4, max=1, step=0.25, description="inner lr α",
            readout_format=".3g", **lazy))
        for name, value in dict(amplitude=amplitude, phase=phase, k_shot=k_shot, steps=steps,
                                inner_lr=inner_lr).items():
            slider = getattr(self, name)
            if slider.value != value:  # a slider clamps values outside its range: refuse them
                base = getattr(slider, "base", None)  # a log slider's min and max are exponents
                lo, hi = (base**slider.min, base**slider.max) if base else (slider.min, slider.max)
                raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], the slider's range; "
                                 f"got {value!r}")
        self.canvas = _tagged("canvas", ClickCanvas(self._guarded(self._on_click)))
        self.readouts = _tagged("readouts", w.HTML())  # all models' in one: one message per update
        self.points_info = _tagged("points-info", w.HTML())
        self.messages = _tagged("messages", w.HTML())
        own = [label(n) for n, (_, method) in self.models.items() if not method.sgd_on_weights]
        their = "s with its" if len(own) == 1 else " with their"
        note = f"{', '.join(own)} adapt{their} own step sizes: the inner lr α moves the others."
        self.note = _tagged("note", w.HTML(f"<i>{html.escape(note)}</i>" if own else ""))

        recompute = self._guarded(lambda _: self._holding or self.recompute())
        for slider in (self.amplitude, self.phase, self.inner_lr):
            slider.observe(recompute, names="value")
        for control in (self.k_shot, self.one_half):
            control.observe(self._guarded(self._on_sampled), names="value")
        self.steps.observe(self._guarded(lambda _: self.redraw()), names="value")
        self.new_task.on_click(self._guarded(lambda _: self.new_random_task()))
        self.undo.on_click(self._guarded(lambda _: self.undo_point()))
        self.clear.on_click(self._guarded(lambda _: self.clear_points()))
        rows = [w.HBox(c, layout=w.Layout(flex_flow="row wrap")) for c in (
            [self.amplitude, self.phase, self.new_task], [self.k_shot, self.one_half, self.undo,
                                                          self.clear], [self.steps, self.inner_lr])]
        self.widget = _tagged("playground", w.VBox([self.canvas, self.readouts, *rows,
                                                    self.points_info, self.messages, self.note]))
        self._guarded(self.recompute)()

    # -- actions (also the scripting API) ---------------------------------------------------------
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The current support points: the clicked ones, or K sampled from the task."""
        if self.source == "clicked":
            xy = np.array(self.clicked, dtype=np.float64).reshape(-1, 2)
            return xy[:, 0], xy[:, 1]
        return logic.sample_points(self.amplitude.value, self.phase.value, self.k_shot.value,
                             self.one_half.value, self.point_seed)

    def add_point(self, x: float, y: float) -> None:
        """Place a support point at (x, y), as a click does: x in [-5, 5], |y| <= Y_LIMIT."""
        logic.check_support([x], [y])
        if self.source != "clicked":
            self.source, self.clicked = "clicked", []
        self.clicked.append((float(x), float(y)))
        self.recompute()

    def undo_point(self) -> None:
        """Remove the last clicked point."""
        if self.source != "clicked" or not self.clicked:
            raise ValueError("Nothing to undo: no clicked points.")
        self.clicked.pop()
        self.recompute()

    def clear_points(self) -> None:
        """Remove every support point (the models show their un-adapted predictions)."""
        self.source, self.clicked = "clicked", []
        self.recompute()

    def new_random_task(self) -> None:
        """Draw amplitude, phase and point positions from the meta-training range (seeded)."""
        amplitude, phase, self.point_seed = logic.random_task(self.rng)
        self._holding = True  # one recompute for both sliders, not one each
        try:
            self.amplitude.value, self.phase.value = amplitude, phase
        finally:
            self._holding = False
        self.recompute()

    def recompute(self) -> None:
        """Adapt every model for 0..MAX_STEPS steps to the current points, then redraw."""
        x, y = self.points()
        self.state = logic.update(self.models, x, y, self.amplitude.value, self.phase.value,
                                  MAX_STEPS, self.inner_lr.value)
        self.redraw()

    def redraw(self) -> None:
        """Show the state after `steps` steps: the plot, the readouts, the points line, messages."""
        state, step = self.state, self.steps.value
        need = max(1.3 * state.amplitude, 1.15 * np.abs(state.y_points).max(initial=0.0))
        lim = min(logic.Y_LIMIT, 6.0 if need <= 6 else 2.0 * math.ceil(need / 2))  # few ranges
        self.ylim, n = (-lim, lim), len(state.predictions)
        rounded = lambda a: None if a is None else np.round(a, 4).tolist()  # noqa: E731
        self.canvas.plot = {
            "title": f"{NUMBERS.get(n, n)} model{'s' * (n != 1)} adapting to the points",
            "xlabel": "x", "ylabel": "y", "xlim": list(TASKS.x_range), "ylim": [-lim, lim],
            "x": rounded(state.x_grid), "truth": rounded(state.y_true),
            "truth_label": LABELS["truth"],
            "truth_color": COLORS["truth"], "points_label": "support points",
            "points": np.stack([state.x_points, state.y_points], 1).tolist(),
            "curves": [{"label": label(name), "color": COLORS.get(name, "#333333"),
                        "y": rounded(state.curve(name, step))} for name in state.predictions]}
        cells = "".join(f'<span class="maml-mse maml-mse-{html.escape(name)}"><span style="color:'
                        f'{COLORS.get(name, "#333333")}">&#9632;</span> {html.escape(label(name))}:'
                        f" <b>{text}</b></span>" for name, text in self.readout_texts().items())
        self.readouts.value = f'<div style="display:flex;flex-wrap:wrap;gap:0 1.5em">{cells}</div>'
        how = ("placed by clicking (undo / clear to remove)" if self.source == "clicked" else
               f"sampled from the task{' on x ≥ 0' if self.one_half.value else ''} (K slider; or "
               "click the plot to place your own)")
        s, k = state.step(step), state.k_shot
        self.points_info.value = (f"<b>A = {state.amplitude:.2f}, φ = {state.phase:.2f}, after "
                                  f"{s} step{'s' * (s != 1)} at α = {state.inner_lr:g}</b> "
                                  f"&middot; {k} support point{'s' * (k != 1)} {how}.")
        self._show(state.messages)

    def readout_texts(self) -> dict[str, str]:
        """Each model's readout at the current step: "MSE 0.123" or "diverged (step 3)"."""
        state, step = self.state, self.steps.value
        return {name: f"MSE {state.mse_at(name, step):.3f}" if state.curve(name, step) is not None
                else f"diverged (step {state.diverged_at[name]})" for name in state.predictions}

    # -- plumbing ---------------------------------------------------------------------------------
    def _show(self, lines: tuple[str, ...] | list[str]) -> None:
        self.messages.value = "".join(f"<div>&#9888; {html.escape(m)}</div>" for m in lines)

    def _guarded(self, fn: Callable) -> Callable:
        """fn as a widget callback, inside the playground's one exception boundary: a ValueError
        (what a control cannot do) is shown as it is, anything else as a bug."""
        def call(*args: object) -> None:
            try:
                fn(*args)
            except Exception as e:  # the playground's only broad catch: no traceback in a lecture
                text = str(e) if isinstance(e, ValueError) else (
                    f"Something went wrong ({type(e).__name__}: {e}); the playground still works.")
                self._show([*(self.state.messages if self.state else ()), text])
        return call

    def _on_sampled(self, _change: object) -> None:
        self.source = "sampled"
        self.recompute()

    def _on_click(self, x: object, y: object) -> None:
        (x0, x1), (y0, y1) = TASKS.x_range, self.ylim
        numbers = all(isinstance(v, (int, float)) for v in (x, y))
        if not (numbers and x0 <= x <= x1 and y0 <= y <= y1):
            raise ValueError(f"Click inside the axes to place a point: x from {x0:g} to {x1:g}, "
                             f"y from {y0:g} to {y1:g}.")
        self.add_point(x, y)
