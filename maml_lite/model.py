"""The paper's regression network and a pure functional forward pass.

MLP 1 -> 40 -> 40 -> 1 with ReLU (Finn et al. 2017, section 5.1). `forward(params, x)` evaluates
*any* parameters, including a batch of per-task parameters with a leading task dimension, in one
pass of batched matrix products. Taught in notebooks/02_maml.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .checks import check_forward, check_hidden

Params = dict[str, Tensor]
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
Activation = str | Callable[[Tensor], Tensor]
# larger networks are surely a mistake (and a checkpoint asking for them is refused)
MAX_WIDTH, MAX_LAYERS = 4096, 16


def forward(params: Mapping[str, Tensor], x: Tensor,
            activation: Activation | Sequence[Activation] = "relu") -> Tensor:
    """Run the MLP given by `params` on x: h <- act(h W^T + b), layer by layer, no act after
    the last.

    params: "layers.{i}.weight" (out, in) and "layers.{i}.bias" (out,), or with a leading task
            dimension: (meta_batch, out, in) and (meta_batch, out).
    x: (n, in), or (meta_batch, n, in) for batched params.
    activation: a name in ACTIVATIONS or a function; or a tuple with one per hidden layer.
    Returns (n, out) or (meta_batch, n, out).
    """
    acts = check_forward(params, x, activation, ACTIVATIONS)
    h = x
    for i, act in enumerate(acts):
        w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
        h = affine(h, w, b)
        if act is not None:
            h = act(h)
    return h


def affine(h: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """h W^T + b in one fused call. h (n, in), w (out, in), b (out,); or all with a leading
    task dim."""
    if w.dim() == 3:
        return torch.baddbmm(b.unsqueeze(-2), h.expand(w.shape[0], *h.shape[-2:]),
                             w.transpose(-1, -2))
    if h.dim() == 2:
        return torch.addmm(b, h, w.t())
    return torch.matmul(h, w.t()) + b


class MLP(nn.Module):
    """A plain MLP whose forward is `forward(dict(self.named_parameters()), x, self.activation)`."""

    kind = "mlp"  # how a checkpoint names this architecture

    def __init__(self, sizes: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not (isinstance(sizes, (tuple, list)) and 2 <= len(sizes) <= MAX_LAYERS
                and all(type(n) is int and 1 <= n <= MAX_WIDTH for n in sizes)):
            raise ValueError(f"sizes must be 2 to {MAX_LAYERS} layer widths between 1 and "
                             f"{MAX_WIDTH}, got {sizes!r}")
        self.sizes = tuple(sizes)
        self.activation: Activation | tuple[Activation, ...] = activation
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor) -> Tensor:
        """x: (n, sizes[0]) -> (n, sizes[-1])."""
        return forward(dict(self.named_parameters()), x, self.activation)

    def functional(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """This network's function with other (possibly per-task) parameters: `forward` with
        its activation."""
        return forward(params, x, self.activation)

    def floats_per_point(self) -> int:
        """Numbers the forward pass computes per input point (every layer's output), for
        memory estimates."""
        return sum(self.sizes[1:])

    def config(self) -> dict:
        """The arguments that rebuild this architecture: MLP(**config)."""
        return {"sizes": list(self.sizes), "activation": self.activation}

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"


def make_model(hidden: Sequence[int] = (40, 40), activation: str = "relu") -> MLP:
    """The paper's sine regressor: (n, 1) -> (n, 1). Seed torch before calling for a fixed init."""
    return MLP((1, *check_hidden(hidden), 1), activation)


def predict(model: nn.Module, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """Evaluate `model` with (possibly adapted, possibly batched) `params` on x.

    x: (n, 1) with per-model params, or (meta_batch, n, 1) with batched params. A model with a
    `functional(params, x)` method (maml_lite's networks) uses it; any other module goes through
    torch.func.functional_call (unbatched params only).
    """
    if hasattr(model, "functional"):
        return model.functional(params, x)
    return torch.func.functional_call(model, dict(params), (x,))
