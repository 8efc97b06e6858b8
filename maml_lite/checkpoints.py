"""Saving and safely loading small meta-trained models.

A checkpoint is a `torch.save`d dict of plain tensors, strings and ints, read back with
`torch.load(weights_only=True)`, which cannot run code. The shipped ones live in
maml_lite/checkpoints/, each with a JSON model card (recipe, versions, training time, scores).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from .model import ACTIVATIONS, MLP

PRETRAINED = ("maml", "fomaml", "reptile", "pretrain", "metasgd", "maml_plus")
FORMAT = "maml_lite-checkpoint-v1"


def _shipped(name: str, suffix: str) -> Path:
    if not isinstance(name, str):
        raise TypeError(f"checkpoint name must be a string, one of {PRETRAINED}, got {type(name).__name__}")
    if name not in PRETRAINED:
        raise ValueError(f"unknown checkpoint {name!r}; the shipped ones are: {', '.join(PRETRAINED)}")
    return Path(str(files("maml_lite") / "checkpoints" / f"{name}{suffix}"))


def save_checkpoint(model: MLP, path: str | Path, **meta: str) -> None:
    """Write `model` (an MLP) to `path` with its architecture and string metadata."""
    if not isinstance(model, MLP):
        raise TypeError(f"save_checkpoint saves a maml_lite MLP, got {type(model).__name__}")
    payload = {"format": FORMAT, "sizes": list(model.sizes), "activation": model.activation, **meta,
               "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    if getattr(model, "learned_inner_lr", None) is not None:  # Meta-SGD's per-parameter step sizes
        payload["learned_inner_lr"] = {k: v.detach().clone() for k, v in model.learned_inner_lr.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load_checkpoint(path: str | Path) -> MLP:
    """Read a checkpoint written by save_checkpoint; a corrupt or mismatched file raises ValueError."""
    path = Path(path)
    fix = "Regenerate it with `python -m maml_lite.train --out PATH` (see the model card for the recipe)."
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}. {fix}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, a pickle with code in it, ...
        raise ValueError(f"{path} is not a readable maml_lite checkpoint (truncated or corrupt?): "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:200]}. {fix}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a maml_lite checkpoint (expected format {FORMAT!r}). {fix}")
    sizes, activation = tuple(payload["sizes"]), payload["activation"]
    if activation not in ACTIVATIONS or len(sizes) < 2:
        raise ValueError(f"{path} describes an unknown architecture: sizes={sizes}, activation={activation!r}")
    model = MLP(sizes, activation)
    state = payload["state_dict"]
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()} if isinstance(state, dict) else None
    if found != expected:
        raise ValueError(f"{path} holds weights of another architecture: expected {expected}, found {found}. {fix}")
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise ValueError(f"{path} holds NaN or inf weights. {fix}")
    model.load_state_dict(state)
    rates = payload.get("learned_inner_lr")
    if rates is not None:
        if not isinstance(rates, dict) or {k: tuple(v.shape) for k, v in rates.items()} != expected:
            raise ValueError(f"{path} holds learned inner step sizes that do not fit the weights. {fix}")
        model.learned_inner_lr = rates
    return model


def load_pretrained(name: str) -> nn.Module:
    """The shipped meta-trained model `name` (one of PRETRAINED): an nn.Module (N, 1) -> (N, 1)."""
    return load_checkpoint(_shipped(name, ".pt"))


def model_card(name: str) -> dict:
    """The JSON model card of a shipped checkpoint: recipe, versions, training time, evaluation."""
    return json.loads(_shipped(name, ".json").read_text())
