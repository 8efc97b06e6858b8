"""Export the character playground's data for its static web page:
`python -m maml_lite.playground.export_characters`.

The static character playground (web/characters/ in the repository) runs notebook 08's playground
(maml_lite.playground.characters) in plain JavaScript, with no kernel and no server. It needs the
test split's drawings and the weights of the three shipped character classifiers notebook 08's
playground shows (first-order MAML adapts as MAML does), written here as one JSON
object in a one-line script assignment (`window.MAML_LITE_CHARACTERS = {...};`), so the page also
works opened as a file, where browsers refuse to fetch JSON:

    name       checkpoint          the page ports          what it ships
    maml       omniglot/maml       MAML's SGD on every     every weight (body and head) and
                                   weight (sgd)            inner_lr
    protonet   omniglot/protonet   prototypes (protos)     the conv body (the head is unused)
    finetune   omniglot/finetune   a refit head (head)     the conv body, inner_lr, weight_decay

Images are the test split's (46 characters x 20 drawings, 28 x 28 uint8 ink), deflated (zlib) and
base64; weights are the checkpoints' float32 numbers bit for bit, their bytes little-endian and
stored plane by plane (every number's first byte, then every second, ...: deflates 9% better) before
the same deflate and base64. The page inflates both with the browser's DecompressionStream.
`reference` computes what the page must show with the package's own playground functions
(tests/browser/test_static_characters.py compares the two); `--check` fails when the tracked file is
not what a fresh export writes (tests/test_export_characters.py).

    python -m maml_lite.playground.export_characters  # write web/characters/data.js
    python -m maml_lite.playground.export_characters --check  # exit 1 if it differs from an export
    python -m maml_lite.playground.export_characters --out PATH  # anywhere else
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..method import MAML, Method
from ..methods import load_pretrained
from ..methods.finetune import FineTune
from ..methods.protonet import ProtoNet
from ..omniglot import DRAWERS, OmniglotTasks, load_omniglot
from ..plots import COLORS, LABELS
from .characters import MAX_STEPS, check_drawing, episode, probabilities, with_drawing
from .export import command_line

FORMAT = "maml_lite-characters-v1"
PREFIX = "window.MAML_LITE_CHARACTERS = "
DEFAULT_OUT = Path("web") / "characters" / "data.js"
LICENSE = Path(__file__).resolve().parents[1] / "data" / "LICENSE"
# name -> how the page adapts it (convnet.js's METHODS) and the method class that must be behind it
MODELS = {"maml": ("sgd", MAML), "protonet": ("protos", ProtoNet),
          "finetune": ("head", FineTune)}
N_WAY = 5  # characters per episode, as CharacterPlayground's default


def _blob(array: np.ndarray) -> dict:
    """An array as the page decodes it (convnet.js's `decode`): uint8 deflated, or float32 as
    little-endian bytes plane by plane, deflated; then base64. Deterministic (zlib level 9)."""
    if array.dtype == np.uint8:
        raw, encoding = array.tobytes(), "zlib+base64"
    elif array.dtype == np.float32:
        raw = array.astype("<f4").view(np.uint8).reshape(-1, 4).T.tobytes()
        encoding = "shuffle4+zlib+base64"
    else:
        raise TypeError(f"no page encoding for {array.dtype}")
    return {"dtype": str(array.dtype), "encoding": encoding, "count": int(array.size),
            "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def decode(blob: dict) -> np.ndarray:
    """A `_blob` back as a flat array (what the page reads)."""
    raw = zlib.decompress(base64.b64decode(blob["data"]))
    if blob["dtype"] == "uint8":
        return np.frombuffer(raw, np.uint8)
    return np.frombuffer(raw, np.uint8).reshape(4, -1).T.copy().view("<f4").ravel()


@functools.cache
def _checkpoint(name: str) -> tuple[nn.Module, Method]:
    model, method = load_pretrained(f"omniglot/{name}")
    if not isinstance(method, MODELS[name][1]):
        raise TypeError(f"omniglot/{name} adapts by {type(method).__name__}, which the page does "
                        "not port; update MODELS and convnet.js")
    return model, method


def load(name: str, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, Method]:
    """A fresh copy of the shipped checkpoint omniglot/`name` in `dtype`: (model, method)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the exported ones are: {', '.join(MODELS)}")
    model, method = _checkpoint(name)
    return copy.deepcopy(model).to(dtype), copy.deepcopy(method).to(dtype)


def model_entry(name: str) -> dict:
    """One model as the page reads it: label, colour, how it adapts, and its weights in one blob
    (params: name, shape and offset of each tensor in it)."""
    model, method = load(name)
    adapt = MODELS[name][0]
    named = {n: p.detach() for n, p in model.named_parameters()
             if adapt == "sgd" or not n.startswith("head.")}  # the others never use the head
    params, offset = [], 0
    for n, p in named.items():
        params.append({"name": n, "shape": list(p.shape), "offset": offset})
        offset += p.numel()
    entry = {"name": name, "label": LABELS.get(name, name), "color": COLORS[name],
             "checkpoint": f"omniglot/{name}", "adapt": adapt, "hidden": model.hidden}
    if adapt in ("sgd", "head"):
        entry["inner_lr"] = method.inner_lr
    if adapt == "head":
        entry["weight_decay"] = method.weight_decay
    flat = np.concatenate([p.numpy().ravel() for p in named.values()]).astype(np.float32)
    return {**entry, "params": params, "weights": _blob(flat)}


def payload(names: Sequence[str] = tuple(MODELS)) -> dict:
    """All the page reads: the test split's alphabets, characters and drawings; the models."""
    tasks = OmniglotTasks("test", N_WAY)
    names_of = load_omniglot()["character_name"][tasks.characters.numpy()]
    return {"format": FORMAT, "maml_lite": __version__,
            "source": "python -m maml_lite.playground.export_characters",
            "max_steps": MAX_STEPS, "n_way": N_WAY, "drawers": DRAWERS,
            "alphabets": tasks.alphabets,
            "class_alphabet": [tasks.alphabets.index(a) for a in tasks.class_alphabet],
            "class_name": [str(n) for n in names_of],
            "images": {"shape": list(tasks.images.shape), **_blob(tasks.images.numpy())},
            "omniglot_license": LICENSE.read_text(encoding="utf-8"),
            "models": [model_entry(n) for n in names]}


def render(data: dict) -> str:
    """data.js's text: a comment, then one assignment of the JSON object (a model per line)."""
    head = {k: v for k, v in data.items() if k != "models"}
    models = ",\n".join(json.dumps(m) for m in data["models"])
    return ("// Generated by `python -m maml_lite.playground.export_characters` from maml_lite's "
            "shipped checkpoints and\n// Omniglot test drawings (Copyright (c) 2015 Brenden Lake, "
            "MIT licence: omniglot_license below): do not edit.\n"
            + PREFIX + json.dumps(head)[:-1] + ', "models": [\n' + models + "\n]};\n")


def parse(text: str) -> dict:
    """The JSON object in a data file written by `render`."""
    start = text.find(PREFIX)
    if start < 0 or not text.rstrip().endswith(";"):
        raise ValueError("not a data file written by maml_lite.playground.export_characters (no "
                         f"{PREFIX.strip()!r} ... ;)")
    return json.loads(text[start + len(PREFIX):].rstrip().removesuffix(";"))


def same_numbers(a: dict, b: dict) -> bool:
    """Whether two payloads hold the same fields and, decoded, the same arrays (so two exports
    differ at most in how a zlib build deflated them)."""
    def plain(value: object) -> object:
        if isinstance(value, dict) and "encoding" in value:
            return {**value, "data": decode(value).tobytes()}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value
    return plain(a) == plain(b)


# --------------------------------------------------------------------------------------------------
# What the page must show, computed by the package
# --------------------------------------------------------------------------------------------------

def reference(classes: Sequence[int], support_drawer: int, drawing: Sequence[float] | None = None,
              steps: int = MAX_STEPS, dtype: torch.dtype = torch.float64,
              names: Sequence[str] = tuple(MODELS)) -> dict[str, np.ndarray]:
    """Each model's probabilities after 0..steps steps, by the package's playground functions
    (`episode`, `probabilities`), as CharacterPlayground computes them.

    classes: test classes (0..45) in label order; support_drawer: 0..19, each class's example.
    drawing: 784 ink values in [0, 1] (the pad's), appended as the last query as the playground
    does (so it joins the queries' batch-norm statistics). dtype: torch.float64 (the page's
    precision, from the same float32 weights and the same float32 images) or torch.float32.
    Returns {name: (steps + 1, n_query (+ 1 with a drawing), n_way)} float64.
    """
    batch = episode(OmniglotTasks("test", N_WAY), list(classes), support_drawer)
    if drawing is not None:
        image = check_drawing(list(drawing))
        if image is None:
            raise ValueError("an empty drawing: pass None")
        batch = with_drawing(batch, image)
    batch = batch.to(dtype)
    with torch.no_grad():
        probs = probabilities({n: load(n, dtype) for n in names}, batch, steps)
    return {n: p.double().numpy() for n, p in probs.items()}


def accuracy(probs: np.ndarray, n_way: int = N_WAY, per_class: int = DRAWERS - 1) -> np.ndarray:
    """The fraction of the queries (class-major, `per_class` of each; a drawing after them is not
    scored) whose most probable class is theirs, after each step: (steps + 1, n, n_way) ->
    (steps + 1,)."""
    labels = np.repeat(np.arange(n_way), per_class)
    return (probs[:, :labels.size].argmax(-1) == labels).mean(-1)


def same_as_fresh(tracked: str, data: dict) -> bool:
    """Whether a tracked data.js holds `data`'s numbers, deflated by another zlib build perhaps
    (then it says so on stderr)."""
    try:
        same = same_numbers(parse(tracked), data)
    except (ValueError, KeyError, TypeError, zlib.error):
        return False
    if same:
        print("the same numbers, deflated by another zlib build "
              f"({zlib.ZLIB_RUNTIME_VERSION} here)", file=sys.stderr)
    return same


def main(argv: list[str] | None = None) -> int:
    data = payload()
    return command_line(argv, __doc__.split("\n\n")[0],
                        "maml_lite.playground.export_characters", DEFAULT_OUT,
                        lambda: render(data), lambda tracked: same_as_fresh(tracked, data))


if __name__ == "__main__":
    sys.exit(main())
