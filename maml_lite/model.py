"""The paper's regression network and a pure functional forward pass.

MLP 1 -> 40 -> 40 -> 1 with ReLU (Finn et al. 2017, section 5.1). `forward(params, x)` evaluates *any*
parameters, including a batch of per-task parameters with a leading task dimension, in one pass of
batched matrix products. Taught in notebooks/02_maml.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .checks import check_hidden

Params = dict[str, Tensor]
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
Activation = str | Callable[[Tensor], Tensor]


def forward(params: Mapping[str, Tensor], x: Tensor, activation: Activation | Sequence[Activation] = "relu") -> Tensor:
    """Run the MLP given by `params` on x.

    params: "layers.{i}.weight" (out, in) and "layers.{i}.bias" (out,), or with a leading task
            dimension: (meta_batch, out, in) and (meta_batch, out).
    x: (n, in), or (meta_batch, n, in) for batched params.
    activation: a name in ACTIVATIONS or a function; or a tuple with one per hidden layer.
    Returns (n, out) or (meta_batch, n, out).
    """
    n_layers = len(params) // 2
    names = {f"layers.{i}.{kind}" for i in range(n_layers) for kind in ("weight", "bias")}
    if not n_layers or set(params) != names:
        raise ValueError(f"params must be an MLP's 'layers.{{i}}.weight' and 'layers.{{i}}.bias' for each layer, e.g. "
                         f"dict(model.named_parameters()); got {sorted(params)}")
    if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[-1] != params["layers.0.weight"].shape[-1]:
        raise ValueError(f"x must be a tensor of shape (n, {params['layers.0.weight'].shape[-1]}) (or with a leading "
                         f"task dimension), got {tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    acts = list(activation) if isinstance(activation, (tuple, list)) else [activation] * (n_layers - 1)
    if len(acts) != n_layers - 1:
        raise ValueError(f"need one activation per hidden layer ({n_layers - 1}), got {len(acts)}")
    acts = [ACTIVATIONS[a] if isinstance(a, str) else a for a in acts]
    h = x
    for i in range(n_layers):
        w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
        h = torch.matmul(h, w.transpose(-1, -2)) + b.unsqueeze(-2)
        if i < n_layers - 1:
            h = acts[i](h)
    return h


class MLP(nn.Module):
    """A plain MLP whose forward is `forward(dict(self.named_parameters()), x, self.activation)`."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.sizes = tuple(sizes)
        self.activation: Activation | tuple[Activation, ...] = activation
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor) -> Tensor:
        """x: (n, 1) -> (n, 1)."""
        return forward(dict(self.named_parameters()), x, self.activation)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"


def make_model(hidden: Sequence[int] = (40, 40), activation: str = "relu") -> MLP:
    """The paper's sine regressor: (n, 1) -> (n, 1). Seed torch before calling for a fixed init."""
    return MLP((1, *check_hidden(hidden), 1), activation)


def predict(model: nn.Module, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """Evaluate `model` with (possibly adapted, possibly batched) `params` on x.

    x: (n, 1) with per-model params, or (meta_batch, n, 1) with batched params.
    """
    if isinstance(model, MLP):
        return forward(params, x, model.activation)
    return torch.func.functional_call(model, dict(params), (x,))
