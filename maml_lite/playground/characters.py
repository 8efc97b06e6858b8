"""The character playground: pick characters from the test alphabets, give one drawing of each, and
watch each model's predictions on the other drawings change step by step.

`episode` and `probabilities` are plain functions (testable without a browser);
`CharacterPlayground` is core ipywidgets (7.7.1 and 8 alike) around a PNG drawn by matplotlib, so
it works wherever the sine playground's sliders do (JupyterLab, Colab, VS Code, Voila). Each change
of characters or drawing adapts every model once, all steps at a time; the steps slider only
redraws. One exception boundary turns anything unexpected into a message. Taught in
notebooks/08_few_shot_characters.ipynb.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable
from pathlib import Path

import anywidget
import ipywidgets as w
import matplotlib.pyplot as plt
import torch
import traitlets
from torch import nn

from ..omniglot import DRAWERS, FewShotBatch, OmniglotTasks
from ..plots import COLORS, LABELS

MAX_STEPS = 10
Models = dict[str, tuple[nn.Module, nn.Module]]


class DrawPad(anywidget.AnyWidget):
    """A pad to draw a character on: drawpad.js sends `ink`, 28 x 28 numbers in [0, 1] row by row
    (empty after "clear")."""

    _esm = (Path(__file__).parent / "drawpad.js").read_text(encoding="utf-8")
    ink = traitlets.List().tag(sync=True)

    def __repr__(self) -> str:
        return "DrawPad()"


def check_drawing(ink: object) -> torch.Tensor | None:
    """A drawing from the pad as an image (1, 28, 28), or None for an empty pad."""
    if not isinstance(ink, (list, tuple)) or len(ink) not in (0, 28 * 28):
        raise ValueError("a drawing is 28 x 28 = 784 ink values; clear the pad and draw again")
    if not ink:
        return None
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 1 for v in ink):
        raise ValueError("a drawing's ink values must be numbers between 0 and 1")
    return torch.tensor(ink, dtype=torch.float32).view(1, 28, 28)


def episode(tasks: OmniglotTasks, classes: list[int], support_drawer: int) -> FewShotBatch:
    """One episode: drawing `support_drawer` (0..19) of each class is its one example, the other 19
    drawings of each are the queries. Label k is classes[k]."""
    if not 2 <= len(classes) <= tasks.n_classes or len(set(classes)) != len(classes):
        raise ValueError(f"pick 2 to {tasks.n_classes} different characters, got {classes}")
    if not 0 <= support_drawer < DRAWERS:
        raise ValueError(f"the example drawing must be 0..{DRAWERS - 1}, got {support_drawer}")
    images = tasks.images[torch.tensor(classes)].float().div(255).unsqueeze(2)  # (n, 20, 1, 28, 28)
    others = [d for d in range(DRAWERS) if d != support_drawer]
    n = len(classes)
    return FewShotBatch(images[:, support_drawer].unsqueeze(0), torch.arange(n).unsqueeze(0),
                        images[:, others].flatten(0, 1).unsqueeze(0),
                        torch.arange(n).repeat_interleave(len(others)).unsqueeze(0),
                        torch.tensor([classes]))


def with_drawing(batch: FewShotBatch, drawing: torch.Tensor) -> FewShotBatch:
    """The episode with a drawing (1, 28, 28) as one more query, the last: scored by no accuracy,
    it joins the queries' batch-norm statistics."""
    x = torch.cat([batch.x_query, drawing.view(1, 1, 1, 28, 28)], dim=1)
    return FewShotBatch(batch.x_support, batch.y_support, x, batch.y_query, batch.classes)


def probabilities(models: Models, batch: FewShotBatch, steps: int = MAX_STEPS
                  ) -> dict[str, torch.Tensor]:
    """Each model's class probabilities on the queries after 0..steps steps: (steps + 1, n, n_way).
    A model whose head has another number of rows starts every class equal (ConvNet.with_ways)."""
    n_way = batch.classes.shape[1]
    out = {}
    for name, (model, method) in models.items():
        model = model.with_ways(n_way) if model.n_way != n_way else model
        logits = method.trajectory(model, batch.x_support, batch.y_support, batch.x_query, steps)
        out[name] = logits[:, 0].softmax(-1)
    return out


def render(batch: FewShotBatch, probs: dict[str, torch.Tensor], step: int, names: list[str],
           query: int = 0, drawing: torch.Tensor | None = None) -> bytes:
    """The picture as PNG bytes: each class's example and one other drawing, and for each model the
    probabilities it gives that drawing of each class after `step` steps, with its accuracy on all
    the queries. With a `drawing` (1, 28, 28), the probabilities' last row is for it: a row of bar
    charts shows them."""
    n = batch.classes.shape[1]
    per_class = batch.y_query.shape[1] // n
    rows, ratios = (4, [1, 1, 2.2, 1.6]) if drawing is not None else (3, [1, 1, 2.2])
    fig = plt.figure(figsize=(9.5, 4.6 + 1.7 * (drawing is not None)), dpi=80)
    grid = fig.add_gridspec(rows, max(n, len(probs) + 1), height_ratios=ratios, hspace=0.8)
    for k in range(n):
        for row, image, what in ((0, batch.x_support[0, k], "example"),
                                 (1, batch.x_query[0, k * per_class + query], "new drawing")):
            ax = fig.add_subplot(grid[row, k])
            ax.imshow(image[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"class {k}: {what}" if row == 0 else what, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    shown = torch.arange(n) * per_class + query
    n_query = batch.y_query.shape[1]
    for i, (name, p) in enumerate(probs.items()):
        ax = fig.add_subplot(grid[2, i])
        accuracy = (p[step, :n_query].argmax(-1) == batch.y_query[0]).float().mean()
        ax.imshow(p[step][shown].numpy(), vmin=0, vmax=1, cmap="Blues")
        ax.set_title(f"{LABELS.get(name, name)}\n{100 * accuracy:.0f}% of {n_query} right",
                     fontsize=8, color=COLORS.get(name, "black"))
        ax.set_xlabel("predicted class", fontsize=8)
        ax.set_ylabel("true class" if i == 0 else "", fontsize=8)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.tick_params(labelsize=7)
    if drawing is not None:
        ax = fig.add_subplot(grid[3, 0])
        ax.imshow(drawing[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title("your drawing", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        for i, (name, p) in enumerate(probs.items()):
            ax = fig.add_subplot(grid[3, i + 1])
            ax.bar(range(n), p[step, -1].numpy(), color=COLORS.get(name, "black"))
            ax.set(ylim=(0, 1), xticks=range(n))
            ax.set_title(f"{LABELS.get(name, name)}: class {int(p[step, -1].argmax())}", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(f"After {step} step{'s' * (step != 1)}: p(class | new drawing), darker = more "
                 "probable", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


class CharacterPlayground:
    """Pick an alphabet and characters, the drawing each class is shown by, and the steps; display
    `.widget`. models: {name: (model, method)} (e.g. the shipped omniglot checkpoints)."""

    def __init__(self, models: Models, n_way: int = 5, seed: int = 0) -> None:
        self.models, self.n_way = models, n_way
        self.tasks = OmniglotTasks("test", n_way)
        self.generator = torch.Generator().manual_seed(seed)
        names = self.tasks.alphabets
        self.alphabet = w.Dropdown(options=names, value=names[0], description="alphabet")
        self.new = w.Button(description="new characters")
        self.drawer = w.IntSlider(1, 1, DRAWERS, description="example drawing",
                                  continuous_update=False, style={"description_width": "initial"})
        self.steps = w.IntSlider(0, 0, MAX_STEPS, description="inner steps",
                                 style={"description_width": "initial"})
        self.picture = w.Image(format="png")
        self.pad = DrawPad()
        self.messages = w.HTML()
        self.drawing: torch.Tensor | None = None
        self.alphabet.observe(self._guarded(lambda _: self._new_characters()), "value")
        self.new.on_click(self._guarded(lambda _: self._new_characters()))
        self.drawer.observe(self._guarded(lambda _: self._adapt()), "value")
        self.steps.observe(self._guarded(lambda _: self._draw()), "value")
        self.pad.observe(self._guarded(lambda _: self._drawn()), "ink")
        hint = w.HTML("<i>Draw a character here: which class does each model say it is?</i>")
        self.widget = w.VBox([w.HBox([self.alphabet, self.new]), w.HBox([self.drawer, self.steps]),
                              w.HBox([self.picture, w.VBox([hint, self.pad])]), self.messages])
        for widget, css in ((self.widget, "characters"), (self.picture, "characters-picture"),
                            (self.pad, "drawpad"), (self.messages, "characters-messages")):
            widget.add_class(f"maml-{css}")  # stable names for the browser tests
        self._guarded(lambda _: self._new_characters())(None)

    def _guarded(self, action: Callable[[object], None]) -> Callable[[object], None]:
        def run(change: object) -> None:
            try:
                self.messages.value = ""
                action(change)
            except Exception as error:  # the one boundary: a message, never a traceback
                self.messages.value = (f"<b>Could not update:</b> {html.escape(str(error))}. "
                                       "Try other characters or fewer steps.")
        return run

    def _new_characters(self) -> None:
        pool = [c for c, a in enumerate(self.tasks.class_alphabet) if a == self.alphabet.value]
        pick = torch.randperm(len(pool), generator=self.generator)[:self.n_way]
        self.classes = sorted(pool[i] for i in pick.tolist())
        self._adapt()

    def _drawn(self) -> None:
        self.drawing = check_drawing(self.pad.ink)
        self._adapt()

    def _adapt(self) -> None:
        self.batch = episode(self.tasks, self.classes, self.drawer.value - 1)
        batch = self.batch if self.drawing is None else with_drawing(self.batch, self.drawing)
        with torch.no_grad():
            self.probs = probabilities(self.models, batch, MAX_STEPS)
        self._draw()

    def _draw(self) -> None:
        self.picture.value = render(self.batch, self.probs, self.steps.value, list(self.models),
                                    drawing=self.drawing)
