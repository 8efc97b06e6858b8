"""Saving and safely loading small meta-trained models.

A checkpoint is a `torch.save`d dict of plain tensors, strings and ints, read back with
`torch.load(weights_only=True)`, which cannot run code, and checked field by field before anything is
built. The shipped ones live in maml_lite/checkpoints/, each with a JSON model card (recipe, versions,
training time, scores). A satellite may store tensors of its own beside the weights as `extras` (e.g.
Meta-SGD's learned step sizes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

import torch
from torch import Tensor

from .model import ACTIVATIONS, MLP

PRETRAINED = ("maml", "fomaml", "reptile", "pretrain", "metasgd", "maml_plus", "anil", "cavia", "lstm_opt",
              "meta_learner")
FORMAT = "maml_lite-checkpoint-v1"
MAX_WIDTH, MAX_LAYERS = 4096, 16  # a file asking for more is refused before anything is allocated


def shipped(name: str, suffix: str = ".pt") -> Path:
    """The path of a shipped checkpoint (suffix ".pt") or its model card (".json")."""
    if not isinstance(name, str):
        raise TypeError(f"checkpoint name must be a string, one of {PRETRAINED}, got {type(name).__name__}")
    if name not in PRETRAINED:
        raise ValueError(f"unknown checkpoint {name!r}; the shipped ones are: {', '.join(PRETRAINED)}")
    return Path(str(files("maml_lite") / "checkpoints" / f"{name}{suffix}"))


def save_checkpoint(model: MLP, path: str | Path, extras: Mapping[str, Mapping[str, Tensor]] | None = None,
                    **meta: str) -> None:
    """Write `model` (an MLP) to `path` with its architecture, string metadata and optional tensor extras."""
    if not isinstance(model, MLP) or not isinstance(model.activation, str):
        raise TypeError(f"save_checkpoint saves a maml_lite MLP with a named activation, got {model!r}")
    payload = {"format": FORMAT, "sizes": list(model.sizes), "activation": model.activation, **meta,
               "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    for key, tensors in (extras or {}).items():
        payload[key] = {k: v.detach().clone() for k, v in tensors.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def _finite_tensors(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, Tensor) and v.is_floating_point() and v.isfinite().all()
        for k, v in value.items())


def read_checkpoint(path: str | Path) -> tuple[MLP, dict[str, dict[str, Tensor]]]:
    """The model in a checkpoint and its extras; any malformed file raises ValueError naming the path."""
    path = Path(path)
    fix = "Regenerate it with `python -m maml_lite.cli --out PATH` (its model card gives the recipe)."
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}. {fix}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a maml_lite checkpoint. {fix}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, a pickle with code in it, ...
        first = (str(e).splitlines() or [""])[0][:200]
        raise ValueError(f"{path} is not a readable maml_lite checkpoint (truncated or corrupt?): "
                         f"{type(e).__name__}: {first}. {fix}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a maml_lite checkpoint (expected format {FORMAT!r}). {fix}")
    sizes, activation = payload.get("sizes"), payload.get("activation")
    if not (isinstance(sizes, list) and 2 <= len(sizes) <= MAX_LAYERS and activation in ACTIVATIONS
            and all(type(n) is int and 1 <= n <= MAX_WIDTH for n in sizes)):
        raise ValueError(f"{path} describes an unknown architecture (sizes={sizes!r}, activation={activation!r}); "
                         f"expected up to {MAX_LAYERS} layer sizes between 1 and {MAX_WIDTH} and one of "
                         f"{sorted(ACTIVATIONS)}. {fix}")
    expected = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layers.{i}.weight"], expected[f"layers.{i}.bias"] = (n_out, n_in), (n_out,)
    state = payload.get("state_dict")
    found = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, Tensor)} if isinstance(state, dict) else None
    if found != expected or not _finite_tensors(state):
        problem = "NaN or inf weights" if found == expected else f"weights of another shape: expected {expected}"
        raise ValueError(f"{path} holds {problem}{'' if found == expected else f', found {found}'}. {fix}")
    extras = {}
    for key, value in payload.items():
        if key in ("format", "sizes", "activation", "state_dict"):
            continue
        if not isinstance(value, str) and not _finite_tensors(value):
            raise ValueError(f"{path}: field {key!r} must be a string or a dict of finite float tensors. {fix}")
        if isinstance(value, dict):
            extras[key] = value
    model = MLP(sizes, activation)
    model.load_state_dict(state)
    return model, extras


def load_checkpoint(path: str | Path) -> MLP:
    """Read the model in a checkpoint written by save_checkpoint (extras: see read_checkpoint)."""
    return read_checkpoint(path)[0]


def load_pretrained(name: str) -> MLP:
    """The shipped meta-trained model `name` (one of PRETRAINED): an MLP (n, 1) -> (n, 1); CAVIA's also reads
    its context, (n, 1 + n_context). Its card (model_card) says how it adapts."""
    return load_checkpoint(shipped(name))


def model_card(name: str) -> dict:
    """The JSON model card of a shipped checkpoint: recipe, versions, training time, evaluation."""
    return json.loads(shipped(name, ".json").read_text())
