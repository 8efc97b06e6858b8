"""Plot helpers shared by the notebooks. Each takes an `ax`, draws one thing, and returns the ax.

One colour per method in every notebook (Okabe-Ito, readable by colour-blind viewers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from .evaluate import EvalResult

COLORS = {
    "maml": "#0072B2",      # blue
    # navy: MAML tuned: multi-step loss, unit scales, smooth start (notebook 06)
    "maml_plus": "#1B2A6B",
    "fomaml": "#56B4E9",    # sky blue
    "reptile": "#009E73",   # green
    "pretrain": "#D55E00",  # vermillion: the pretrained baseline, fine-tuned
    "scratch": "#999999",   # grey: a randomly initialised network, fine-tuned on the K points
    "metasgd": "#CC79A7",   # purple
    # orange: Ravi & Larochelle's meta-learner, learned start and update (notebook 07)
    "meta_learner": "#E69F00",
    "lstm_opt": "#8C564B",  # brown: Andrychowicz et al.'s LSTM optimiser from MAML's start
    "anil": "#44AA99",      # teal: MAML adapting its head only
    "cavia": "#882255",     # wine: CAVIA, adapting 2 context parameters
    "protonet": "#EE3377",  # magenta: prototypical networks (notebook 08)
    # the few-shot pretrained baseline: the pretrained colour, as the same idea
    "finetune": "#D55E00",
    "truth": "#000000",
}
LABELS = {
    "maml": "MAML", "maml_plus": "MAML, tuned", "fomaml": "first-order MAML", "reptile": "Reptile",
    "pretrain": "pretrained, fine-tuned", "scratch": "random init", "metasgd": "Meta-SGD",
    "truth": "true function", "meta_learner": "meta-learner (R&L)", "lstm_opt": "LSTM optimiser",
    "anil": "ANIL", "cavia": "CAVIA", "protonet": "ProtoNet", "finetune": "pretrained, head refit",
}

# Finn et al. 2017, Appendix C, Table 2: 5-shot MSE after 1 / 5 / 10 gradient steps.
PAPER_TABLE2 = {"maml": {1: 0.67, 5: 0.38, 10: 0.35}, "pretrain": {1: 2.41, 5: 2.23, 10: 2.19}}


def color(name: str) -> str:
    """The colour of a method; unknown names fall back to the matplotlib cycle."""
    return COLORS.get(name, None)


def plot_task(ax: Axes, x, y_true, x_points=None, y_points=None,
              title: str = "A sine task") -> Axes:
    """The true curve (x, y_true: (n, 1) or (n,)) and optionally the K support points."""
    ax.plot(np.ravel(x), np.ravel(y_true), color=COLORS["truth"], lw=1.5, ls="--",
            label=LABELS["truth"])
    if x_points is not None:
        ax.scatter(np.ravel(x_points), np.ravel(y_points), color=COLORS["truth"], zorder=5, s=30,
                   label=f"K={len(np.ravel(x_points))} points")
    ax.set(title=title, xlabel="x", ylabel="y")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_predictions(ax: Axes, x, predictions: Mapping[str, object],
                     styles: Mapping[str, dict] | None = None) -> Axes:
    """Curves of several models on x. predictions: {method name or label: (n, 1) array}."""
    for name, y in predictions.items():
        style = {"color": color(re.split(r"[ ,]", name)[0]), "lw": 2,
                 **(styles or {}).get(name, {})}
        ax.plot(np.ravel(x), np.ravel(y), label=LABELS.get(name, name), **style)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_mse_vs_steps(ax: Axes, results: Mapping[str, EvalResult],
                      title: str | None = None) -> Axes:
    """Figure 3 of the paper: mean MSE against gradient steps, with 95% CI bands."""
    for name, r in results.items():
        steps, mean, ci = np.array(r.steps), np.array(r.mean), np.array(r.ci95)
        c = color(name)
        ax.plot(steps, mean, "o-", color=c, label=LABELS.get(name, name), ms=4)
        ax.fill_between(steps, mean - ci, mean + ci, color=c, alpha=0.2)
    k = next(iter(results.values())).k_shot
    ax.set(title=title or f"K={k}: error after fine-tuning steps",
           xlabel="number of gradient steps", ylabel="mean squared error")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_loss(ax: Axes, curves: Mapping[str, tuple], title: str = "Training loss",
              ylabel: str = "loss") -> Axes:
    """Loss curves. curves: {method: (iterations, losses)}."""
    for name, (its, losses) in curves.items():
        ax.plot(its, losses, color=color(name), label=LABELS.get(name, name))
    ax.set(title=title, xlabel="iteration", ylabel=ylabel, yscale="log")
    ax.legend(loc="best", fontsize="small")
    return ax


def table2(results: Mapping[str, EvalResult], steps=(1, 5, 10)) -> str:
    """Table 2 of the paper side by side with ours: 'ours +- CI (paper)' per method and step count,
    or the number of diverged tasks where there are any (their errors make the mean meaningless)."""
    head = f"{'method':24s}" + "".join(f"{f'{s} step' + ('s' if s > 1 else ''):>24s}"
                                       for s in steps)
    rows = [f"K={next(iter(results.values())).k_shot}, MSE +- 95% CI (paper's value)", head]
    for name, r in results.items():
        cells = []
        for s in steps:
            (m, c), bad = r.at(s), r.diverged[r.steps.index(s)]
            paper = PAPER_TABLE2.get(name, {}).get(s) if r.k_shot == 5 else None
            cell = f"{bad} diverged" if bad else f"{m:.2f} +- {c:.2f}"
            cells.append(cell + (f" ({paper:.2f})" if paper is not None else "       "))
        rows.append(f"{LABELS.get(name, name):24s}" + "".join(f"{cell:>24s}" for cell in cells))
    return "\n".join(rows)
