"""Checkpoints: a network, the method that adapts it, and its model card, in one file that cannot
run code.

A checkpoint is a `torch.save`d dict of plain tensors, strings and numbers, read back with
`torch.load(weights_only=True)` and checked field by field before anything is built:

    model         {"kind": "mlp", "sizes": [...], "activation": "relu"}
                  the network's architecture
    state_dict    the network's weights
    method        {"name": "anil", "config": {...}}
                  how it adapts (maml_lite.method)
    method_state  the method's own tensors: learned step sizes, an update rule's weights (may be
                  empty)
    card          the model card as JSON: recipe, command, versions, training time, evaluation,
                  and the SHA-256 of the tensors above, so a card always says which weights it
                  belongs to

Writing is atomic: the file (and the card's JSON copy beside it) are written to temporary files and
renamed into place, so a failed or interrupted write leaves the previous good pair. Building the
network and method from these fields is `maml_lite.methods.load_checkpoint`'s job, which knows
every method.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .method import MAML, Method

FORMAT = "maml_lite-checkpoint-v2"
FIELDS = ("format", "model", "state_dict", "method", "method_state", "card")
FIX = ("Regenerate it with `python -m maml_lite.cli --recipe NAME --out PATH` (its model card "
       "names the recipe).")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's fields, checked but not yet built into a network and a method."""

    path: Path
    model: dict
    state_dict: dict[str, Tensor]
    method: dict
    method_state: dict[str, Tensor]
    card: dict


def weights_hash(state_dict: Mapping[str, Tensor], method_state: Mapping[str, Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes: the fingerprint a card carries."""
    digest = hashlib.sha256()
    for prefix, tensors in (("model.", state_dict), ("method.", method_state)):
        for name in sorted(tensors):
            t = tensors[name].detach().contiguous().cpu()
            digest.update(f"{prefix}{name}:{t.dtype}:{tuple(t.shape)};".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _tensors(name: str, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached copies; refuses what a load would refuse (non-float, NaN or inf), before anything
    is written."""
    out = {}
    for key, t in tensors.items():
        if not isinstance(key, str) or not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"{name}[{key!r}] must be a floating-point tensor, got "
                            f"{type(t).__name__}"
                            + (f" of {t.dtype}" if isinstance(t, Tensor) else ""))
        if not t.isfinite().all():
            raise ValueError(f"{name}[{key!r}] holds NaN or inf; a diverged model is not worth "
                             "saving: lower the learning rate and train again")
        out[key] = t.detach().clone().cpu()
    return out


def _plain(value: object) -> bool:
    """JSON-like values: what a card or a method's config may hold."""
    if isinstance(value, (str, bool, int, float, type(None))):
        return True  # NaN and inf included: a card may report a diverged mean
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and _plain(v)
                                           for k, v in value.items())


@contextlib.contextmanager
def _one_writer(path: Path) -> Iterator[None]:
    """Writers of the same checkpoint replace its pair one after the other (an OS lock, freed if
    one dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; each file is still replaced atomically
        yield
        return
    folder = os.open(path.parent, os.O_RDONLY)  # lock the folder: no lock file is left behind
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)


def _write_temp(path: Path, data: bytes) -> Path:
    """Write `data` to a temporary file beside `path` (same file system, so renaming it is atomic);
    its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # as an ordinary file would be (mkstemp makes it private)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def save_checkpoint(model: nn.Module, path: str | Path, method: nn.Module | None = None,
                    card: Mapping | None = None) -> dict:
    """Write `model`, the `method` that adapts it and its `card` to `path`, and the card as JSON
    beside it.

    model: a maml_lite network (it has `kind` and `config()`). method: a maml_lite.method.Method
    (default: MAML's plain SGD). Everything is checked first; both files are written to temporary
    files and renamed into place, so a failure or Ctrl-C leaves the previous checkpoint and card as
    they were.
    Returns the card as written (with its `weights_sha256`).
    """
    path = Path(path)
    if not hasattr(model, "kind") or not hasattr(model, "config"):
        raise TypeError("save_checkpoint saves a maml_lite network (e.g. ml.make_model()), got "
                        f"{type(model).__name__}")
    method = MAML() if method is None else method
    if not isinstance(method, Method) or not method.name:
        raise TypeError("method must be a maml_lite method (e.g. ml.MAML()), got "
                        f"{type(method).__name__}")
    config, card = method.config(), dict(card or {})
    if not _plain(config) or not _plain(model.config()) or not _plain(card):
        raise TypeError("the method's config, the model's config and the card must hold only "
                        "strings, numbers, booleans, None, lists and dicts (they are stored as "
                        "plain data)")
    state_dict = _tensors("state_dict", model.state_dict())
    method_state = _tensors("method_state", method.state_dict())
    card["weights_sha256"] = weights_hash(state_dict, method_state)
    payload = {"format": FORMAT, "model": {"kind": model.kind, **model.config()},
               "state_dict": state_dict, "method": {"name": method.name, "config": config},
               "method_state": method_state, "card": json.dumps(card)}
    buffer = io.BytesIO()
    # in memory first: a write that fails fails cleanly, with the OS's reason
    torch.save(payload, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _one_writer(path):
        temps = [_write_temp(path, buffer.getvalue())]
        try:
            temps.append(_write_temp(path, (json.dumps(card, indent=2) + "\n").encode()))
            # the card inside is the truth; the JSON beside names the same hash
            os.replace(temps[0], path)
            os.replace(temps[1], path.with_suffix(".json"))
        finally:  # interrupted or failed: no temporary file is left behind
            for temp in temps:
                temp.unlink(missing_ok=True)
    return card


def read_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint's fields, each checked; any malformed file raises ValueError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}. {FIX}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a maml_lite checkpoint. {FIX}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, a pickled module or code
        first = (re.sub(r"\x1b\[[0-9;]*m", "", str(e)).splitlines() or [""])[0][:160]
        if "Unsupported global" in str(e):  # not torch's text: it offers to run the file's code
            hint, first = (" (a whole pickled model, e.g. torch.save(model)? It may hold code, "
                           "so it is not run; save with ml.save_checkpoint)", "refused")
        else:
            hint = " (truncated or corrupt?)"
        raise ValueError(f"{path} is not a readable maml_lite checkpoint{hint}: "
                         f"{type(e).__name__}: {first}. {FIX}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path} is not a maml_lite checkpoint (format {found!r}, expected "
                         f"{FORMAT!r}). {FIX}")
    if set(payload) != set(FIELDS):
        raise ValueError(f"{path} has fields {sorted(payload)}, expected {list(FIELDS)}. {FIX}")
    model, method = payload["model"], payload["method"]
    if not (isinstance(model, dict) and isinstance(model.get("kind"), str) and _plain(model)):
        raise ValueError(f"{path} describes no known network (model={model!r}). {FIX}")
    if not (isinstance(method, dict) and isinstance(method.get("name"), str)
            and isinstance(method.get("config"), dict)
            and _plain(method)):
        raise ValueError(f"{path} names no method (method={method!r}). {FIX}")
    for field in ("state_dict", "method_state"):
        tensors = payload[field]
        if not (isinstance(tensors, dict)
                and all(isinstance(k, str) and isinstance(v, Tensor) and v.is_floating_point()
                        for k, v in tensors.items())):
            raise ValueError(f"{path}: {field} must map names to floating-point tensors. {FIX}")
        bad = [k for k, v in tensors.items() if not v.isfinite().all()]
        if bad:
            raise ValueError(f"{path} holds NaN or inf in {field}[{bad[0]!r}]. {FIX}")
    try:
        card = json.loads(payload["card"]) if isinstance(payload["card"], str) else None
    except json.JSONDecodeError:
        card = None
    if not isinstance(card, dict):
        raise ValueError(f"{path}: its model card is not a JSON object. {FIX}")
    if card.get("weights_sha256") != weights_hash(payload["state_dict"], payload["method_state"]):
        raise ValueError(f"{path}: its model card belongs to other weights (the weights' SHA-256 "
                         f"differs from the card's). {FIX}")
    return Checkpoint(path, model, payload["state_dict"], method, payload["method_state"], card)


def card_file_matches(path: str | Path) -> bool:
    """Whether the JSON card beside a checkpoint belongs to its weights (same weights_sha256
    as inside)."""
    path = Path(path)
    try:
        beside = json.loads(path.with_suffix(".json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(beside, dict) and beside == read_checkpoint(path).card
