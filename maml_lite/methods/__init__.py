"""The methods wing: every way to meta-learn beyond the paper's three, one module each.

maml_lite.method defines what a method is and holds MAML, first-order MAML and the pretrained
baseline; each module here adds one method as a subclass (reptile, metasgd, maml_plus, anil, cavia,
learned_opt). Nothing is hand-listed: `methods()` finds every method class by looking in these
modules, and `PRETRAINED` is the list of checkpoint files shipped in maml_lite/checkpoints/. Adding
a method is one module here, its recipe, checkpoint and card, and its tests (README, "Add
a method").
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from importlib.resources import files
from pathlib import Path

from torch import nn

from ..checkpoints import FIX, read_checkpoint
from ..method import FOMAML, MAML, Method, Pretrain
from ..model import MLP
from ..omniglot import ConvNet

CHECKPOINTS = Path(str(files("maml_lite") / "checkpoints"))
# the shipped checkpoints, by file name: the sine course's, and the character classifiers' (notebook
# 08) as "omniglot/NAME"
PRETRAINED = tuple(sorted(p.stem for p in CHECKPOINTS.glob("*.pt")))
FEW_SHOT = tuple(sorted(f"omniglot/{p.stem}" for p in (CHECKPOINTS / "omniglot").glob("*.pt")))


@functools.cache
def methods() -> dict[str, type[Method]]:
    """Every method class by name: the paper's three and each one defined in a module of
    this package."""
    found: dict[str, type[Method]] = {cls.name: cls for cls in (MAML, FOMAML, Pretrain)}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, Method)
                    and obj.__module__ == module.__name__ and obj.name):
                found[obj.name] = obj
    return found


def networks() -> dict[str, type[nn.Module]]:
    """Every network a checkpoint may hold, by its `kind`."""
    return {MLP.kind: MLP, ConvNet.kind: ConvNet}


def build_method(name: str, config: dict, model: nn.Module) -> Method:
    """The method `name` with `config` (the arguments its card records); `model` for those built
    around one."""
    table = methods()
    if name not in table:
        raise ValueError(f"unknown method {name!r}; the methods are: {', '.join(table)}")
    cls = table[name]
    takes_model = "model" in inspect.signature(cls.__init__).parameters
    try:
        return cls(model, **config) if takes_model else cls(**config)
    except TypeError as e:  # an argument this method does not take
        raise ValueError(f"{name}: {e}; it takes "
                         f"{list(inspect.signature(cls.__init__).parameters)[1:]}") from None


def shipped(name: str, suffix: str = ".pt") -> Path:
    """The path of a shipped checkpoint (suffix ".pt") or its model card (".json")."""
    if not isinstance(name, str):
        raise TypeError(f"checkpoint name must be a string, one of {', '.join(PRETRAINED)}; got "
                        f"{type(name).__name__}")
    if name not in PRETRAINED + FEW_SHOT:
        raise ValueError(f"unknown checkpoint {name!r}; the shipped ones are: "
                         f"{', '.join(PRETRAINED + FEW_SHOT)}")
    return CHECKPOINTS / f"{name}{suffix}"


def load_checkpoint(path: str | Path) -> tuple[nn.Module, Method]:
    """The network in a checkpoint and the method that adapts it, both ready to use:
    (model, method)."""
    ckpt = read_checkpoint(path)
    kinds = networks()
    kind = ckpt.model["kind"]
    if kind not in kinds:
        raise ValueError(f"{ckpt.path} holds a network of unknown kind {kind!r}; known: "
                         f"{', '.join(kinds)}. {FIX}")
    try:
        model = kinds[kind](**{k: v for k, v in ckpt.model.items() if k != "kind"})
        method = build_method(ckpt.method["name"], ckpt.method["config"], model)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{ckpt.path} describes a network or method that cannot be built: {e}. "
                         f"{FIX}") from None
    for what, module, state in (("weights", model, ckpt.state_dict),
                                ("method's tensors", method, ckpt.method_state)):
        expected = {n: tuple(t.shape) for n, t in module.state_dict().items()}
        found = {n: tuple(t.shape) for n, t in state.items()}
        if expected != found:
            raise ValueError(f"{ckpt.path} holds {what} of another shape: expected {expected}, "
                             f"found {found}. {FIX}")
        module.load_state_dict(state)
    return model, method


def load_pretrained(name: str) -> tuple[nn.Module, Method]:
    """The shipped checkpoint `name` (one of PRETRAINED): (the meta-trained network, the method that
    adapts it).

    e.g. `model, method = ml.load_pretrained("maml")`, then `ml.evaluate(model, 5, method=method)`.
    """
    return load_checkpoint(shipped(name))


def model_card(name: str) -> dict:
    """The model card of a shipped checkpoint: recipe, command, versions, training
    time, evaluation."""
    return read_checkpoint(shipped(name)).card
