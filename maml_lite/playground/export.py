"""Export the playground's starting points for the static web page:
`python -m maml_lite.playground.export`.

The static playground (web/playground/ in the repository) runs notebook 04's inner loop in plain
JavaScript, with no kernel and no server. It needs only numbers: the weights every model starts from
and, for a model that adapts its own way, what its update needs. This module writes them as one JSON
object, wrapped in a one-line script assignment (`window.MAML_LITE_WEIGHTS = {...};`) so the page
also works opened as a file, where browsers refuse to fetch JSON:

    name          starts from (model, method)
                  one step (x_support, y_support: the K points)
    maml, fomaml, reptile, pretrain   load_pretrained(name)
                  SGD on every weight at the page's inner_lr
    scratch       a fresh network (seed 0), MAML's SGD
                  SGD on every weight at inner_lr
    metasgd       load_pretrained("metasgd")
                  SGD at its learned per-weight rates (method.rates())
    anil          load_pretrained("anil")
                  SGD on the last layer only (ANIL's head), at inner_lr
    cavia         load_pretrained("cavia")
                  SGD on 2 context inputs at the method's inner_lr (1.0)
    lstm_opt, meta_learner   load_pretrained(name)
                  the learned LSTM update rule (method.rule)

Weights are written as float32's shortest round-trip decimals, so `Math.fround` of each number in
the browser is the checkpoint's weight bit for bit. `reference` computes what the page must show
with the package's own functions (tests/browser/test_static_playground.py compares the two);
`--check` fails when the tracked file is not what a fresh export writes (tests/test_export_web.py).

    python -m maml_lite.playground.export  # write web/playground/weights.js
    python -m maml_lite.playground.export --check  # exit 1 if that file differs from a fresh export
    python -m maml_lite.playground.export --out PATH  # anywhere else
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .. import __version__
from ..method import MAML, Method
from ..methods import load_pretrained
from ..methods.anil import ANIL
from ..methods.cavia import CAVIA
from ..methods.learned_opt import LearnedOptimizer, LSTMRule, MetaLearnerRule
from ..methods.metasgd import MetaSGD
from ..plots import COLORS, LABELS
from ..tasks import SineTasks
from .logic import load_models

FORMAT = "maml_lite-web-v1"
PREFIX = "window.MAML_LITE_WEIGHTS = "
DEFAULT_OUT = Path("web") / "playground" / "weights.js"
# name -> (the notebook that shows it, how it adapts); the page lists them in this order
MODELS = {
    "maml": ("04", "sgd"), "fomaml": ("04", "sgd"), "reptile": ("04", "sgd"),
    "pretrain": ("04", "sgd"), "scratch": ("04", "sgd"), "metasgd": ("06", "rates"),
    "anil": ("07", "head"), "cavia": ("07", "context"), "lstm_opt": ("07", "rule"),
    "meta_learner": ("07", "rule"),
}
N_GRID = 200  # the playground's x grid: its curves and its MSE against the true function
MAX_STEPS = 10


def _decimal(v: np.float32) -> str:
    """float32's shortest decimal that reads back to the same float32 (plain, or with an exponent
    if tiny/huge)."""
    if v == 0:
        return "0"
    if 1e-4 <= abs(v) < 1e6:
        return np.format_float_positional(v, unique=True, trim="-")
    return np.format_float_scientific(v, unique=True, trim="-")


def _floats(t: Tensor) -> list[str]:
    """Each entry of a float tensor, row-major, as `_decimal` writes it."""
    return [_decimal(v) for v in t.detach().to(torch.float32).flatten().numpy()]


def _tensors(named: dict[str, Tensor]) -> list[dict]:
    """[{"name", "shape", "data"}] in the given order; data row-major, as decimal strings
    (see _floats)."""
    return [{"name": n, "shape": list(t.shape), "data": _floats(t)} for n, t in named.items()]


def load(name: str) -> tuple[nn.Module, Method]:
    """The model `name` starts from, and the method that adapts it."""
    if name not in MODELS:
        raise ValueError(f"unknown playground model {name!r}; the exported ones are: "
                         f"{', '.join(MODELS)}")
    model, method = load_models()["scratch"] if name == "scratch" else load_pretrained(name)
    expected = {"rates": MetaSGD, "head": ANIL, "context": CAVIA, "rule": LearnedOptimizer,
                "sgd": MAML}
    if not isinstance(method, expected[MODELS[name][1]]):
        raise TypeError(f"{name} adapts by {type(method).__name__}, which the page does not port; "
                        "update MODELS")
    return model, method


def _rule_entry(rule: nn.Module) -> dict:
    if isinstance(rule, LSTMRule):
        return {"kind": "lstm", "hidden": rule.out.in_features, "out_scale": float(rule.out_scale),
                "p": 10.0, "weights": _tensors(dict(rule.state_dict()))}
    if isinstance(rule, MetaLearnerRule):
        return {"kind": "meta_learner", "hidden": rule.lstm.hidden_size, "p": 10.0,
                "weights": _tensors(dict(rule.state_dict()))}
    raise TypeError(f"no JavaScript version of the update rule {type(rule).__name__}")


def model_entry(name: str) -> dict:
    """One model as the page reads it: label, colour, architecture, start weights and its update."""
    model, method = load(name)
    notebook, kind = MODELS[name]
    entry = {"name": name, "label": LABELS.get(name, name), "color": COLORS[name],
             "notebook": notebook, "update": kind, "sizes": list(model.sizes),
             "activation": model.activation,
             "params": _tensors({n: p for n, p in model.named_parameters()})}
    if kind == "rates":
        entry["rates"] = _tensors(method.rates())
    elif kind == "head":
        head = len(model.sizes) - 2
        entry["head"] = [f"layers.{head}.weight", f"layers.{head}.bias"]
    elif kind == "context":
        entry["inner_lr"], entry["n_context"] = method.inner_lr, method.n_context
    elif kind == "rule":
        entry["rule"] = _rule_entry(method.rule)
    return entry


def payload(names: Sequence[str] = tuple(MODELS)) -> dict:
    """Everything the page reads: the task ranges, the grid and the models, in order."""
    tasks = SineTasks()
    return {"format": FORMAT, "maml_lite": __version__,
            "source": "python -m maml_lite.playground.export",
            "tasks": {"amplitude": list(tasks.amplitude), "phase": list(tasks.phase),
                      "x_range": list(tasks.x_range)},
            "n_grid": N_GRID, "max_steps": MAX_STEPS, "truth_color": COLORS["truth"],
            "models": [model_entry(n) for n in names]}


def _dump(value: object) -> str:
    """JSON with the decimal strings of _tensors written as bare numbers; one model per line
    (readable diffs)."""
    if isinstance(value, dict) and "data" in value and "shape" in value:
        return ('{"name": ' + json.dumps(value["name"]) + ', "shape": ' + json.dumps(value["shape"])
                + ', "data": [' + ",".join(value["data"]) + "]}")
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list) and value and isinstance(value[0], dict) and "update" in value[0]:
        return "[\n" + ",\n".join(_dump(v) for v in value) + "\n]"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    return json.dumps(value)


def render(data: dict) -> str:
    """The weights file's text: a comment, then one assignment of the JSON object."""
    return ("// Generated by `python -m maml_lite.playground.export` from maml_lite's shipped "
            "checkpoints: do not edit.\n"
            + PREFIX + _dump(data) + ";\n")


def parse(text: str) -> dict:
    """The JSON object in a weights file written by `render`."""
    start = text.find(PREFIX)
    if start < 0 or not text.rstrip().endswith(";"):
        raise ValueError("not a weights file written by maml_lite.playground.export (no "
                         f"{PREFIX.strip()!r} ... ;)")
    return json.loads(text[start + len(PREFIX):].rstrip().removesuffix(";"))


# --------------------------------------------------------------------------------------------------
# What the page must show, computed by the package
# --------------------------------------------------------------------------------------------------

def reference(name: str, x_support: Sequence[float], y_support: Sequence[float],
              inner_steps: int = MAX_STEPS, inner_lr: float = 0.01,
              dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Model `name`'s predictions on the playground's grid after 0..inner_steps steps, by
    the package.

    x_support, y_support: the K points, (k,) (k may be 0: then every row is the start, as in
    the playground).
    inner_lr applies to the models that step at the page's rate (MODELS' "sgd" and "head"). Steps
    are taken one at a time and detached, as the playground does. dtype: torch.float32 (what the
    notebooks compute) or torch.float64 (the page's precision: the same functions on the same
    float32 weights, rounded less).
    Returns (inner_steps + 1, N_GRID), float64.
    """
    model, method = load(name)
    model, method = model.to(dtype), copy.deepcopy(method).to(dtype)
    if MODELS[name][1] in ("sgd", "head"):  # these step at the page's rate
        method.inner_lr = float(inner_lr)
    x_grid = torch.linspace(-5.0, 5.0, N_GRID, dtype=torch.float64).to(dtype).view(1, -1, 1)
    x = torch.as_tensor(np.asarray(x_support, dtype=np.float64)).to(dtype).view(1, -1, 1)
    y = torch.as_tensor(np.asarray(y_support, dtype=np.float64)).to(dtype).view(1, -1, 1)
    # (inner_steps + 1, 1, N_GRID, 1)
    predictions = method.trajectory(model, x, y, x_grid, inner_steps)
    return predictions[:, 0, :, 0].double().numpy()


def diverged_at(predictions: np.ndarray, limit: float = 1e6) -> int | None:
    """The first step whose prediction is NaN, inf or above `limit` anywhere (the playground's
    rule), else None."""
    bad = (~np.isfinite(predictions).all(-1)
           | (np.abs(np.nan_to_num(predictions, nan=math.inf)).max(-1) > limit))
    return int(np.argmax(bad)) if bad.any() else None


def command_line(argv: list[str] | None, description: str, module: str, default_out: Path,
                 text: Callable[[], str], equivalent: Callable[[str], bool] | None = None) -> int:
    """A static page's exporter from the command line: write `text()` to --out (default
    `default_out`), or with --check write nothing and return 1 when --out is not what a fresh export
    writes. `equivalent(tracked)` may accept a tracked file whose text differs (its numbers
    deflated by another zlib build, say); it explains itself on stderr."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, default=default_out,
                    help=f"where to write (default: {default_out})")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if --out differs from a fresh export")
    args = ap.parse_args(argv)
    fresh, fix = text(), f"run `python -m {module} --out {args.out}`"
    if args.check:
        if not args.out.is_file():
            print(f"{args.out} does not exist: {fix}", file=sys.stderr)
            return 1
        tracked = args.out.read_text(encoding="utf-8")
        if tracked != fresh and not (equivalent and equivalent(tracked)):
            print(f"{args.out} is not what the shipped checkpoints export: {fix} and commit it",
                  file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(fresh.encode()) / 1024:.0f} KB)")
        return 0
    if not args.out.parent.is_dir():
        print(f"{args.out.parent} is not a folder: run from the repository root or pass --out",
              file=sys.stderr)
        return 1
    args.out.write_text(fresh, encoding="utf-8")
    print(f"wrote {args.out} ({len(fresh.encode()) / 1024:.0f} KB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_line(argv, __doc__.split("\n\n")[0], "maml_lite.playground.export",
                        DEFAULT_OUT, lambda: render(payload()))


if __name__ == "__main__":
    sys.exit(main())
