"""The paper's regression network and a pure functional forward pass.

MLP 1 -> 40 -> 40 -> 1 with ReLU (Finn et al. 2017, section 5.1). `forward(params, x)` evaluates
*any* parameters, including a batch of per-task parameters with a leading task dimension, in one
pass of batched matrix products. Taught in notebooks/02_maml.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

Params = dict[str, Tensor]

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
Activation = str | Callable[[Tensor], Tensor]


def smooth_relu(beta: float) -> Callable[[Tensor], Tensor]:
    """softplus with sharpness beta: z -> log(1 + exp(beta z)) / beta, a ReLU with its kink rounded off.

    It is within log(2) / beta of relu(z) everywhere and tends to it as beta grows. Unlike ReLU it has
    a second derivative, so a meta-gradient through it sees how an inner step moves the kinks.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (0 < beta < float("inf")):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    return lambda z: torch.nn.functional.softplus(z, beta=float(beta))


def forward(params: Mapping[str, Tensor], x: Tensor,
            activation: Activation | Sequence[Activation] = "relu") -> Tensor:
    """Run the MLP given by `params` on x.

    params: "layers.{i}.weight" (out, in) and "layers.{i}.bias" (out,), or with a leading task
            dimension: (meta_batch, out, in) and (meta_batch, out).
    x: (n, in), or (meta_batch, n, in) for batched params.
    activation: a name in ACTIVATIONS or a function, e.g. smooth_relu(10.0); or a tuple/list with one
                per hidden layer, e.g. ("relu", smooth_relu(10.0)).
    Returns (n, out) or (meta_batch, n, out).
    """
    n_layers = len(params) // 2
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
    """A plain MLP whose forward is `forward(dict(self.named_parameters()), x)`."""

    def __init__(self, sizes: tuple[int, ...], activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.sizes = tuple(sizes)
        self.activation = activation
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor) -> Tensor:
        """x: (n, 1) -> (n, 1)."""
        return forward(dict(self.named_parameters()), x, self.activation)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"


def make_model(hidden: tuple[int, ...] = (40, 40), activation: str = "relu") -> MLP:
    """The paper's sine regressor: (N, 1) -> (N, 1). Seed torch before calling for a fixed init."""
    hidden = tuple(hidden)
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty tuple of positive ints, got {hidden!r}")
    return MLP((1, *hidden, 1), activation)


def predict(model: nn.Module, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """Evaluate `model` with (possibly adapted, possibly batched) `params` on x.

    x: (n, 1) with per-model params, or (meta_batch, n, 1) with batched params.
    """
    if isinstance(model, MLP):
        return forward(params, x, model.activation)
    return torch.func.functional_call(model, dict(params), (x,))


def rescale_units(params: Mapping[str, Tensor], scales: list[Tensor]) -> Params:
    """The same ReLU network with each hidden unit's weights rescaled: ReLU's rescaling symmetry.

    Unit j of hidden layer l gets its incoming weights and bias multiplied by scales[l][j] > 0 and its
    outgoing weights divided by it. relu(c z) = c relu(z) for c > 0, so the network computes exactly the
    same function. Its *gradient* changes: one SGD step at rate alpha on the rescaled weights moves the
    function as a step on the original weights would with rate alpha / c^2 on the unit's incoming
    parameters and alpha * c^2 on its outgoing ones (a weight between units j and k: alpha * (c_j / c_k)^2).
    So the scales are per-unit step sizes hidden in the weights, which MAML can learn.
    params: an MLP's parameters ("layers.{i}.weight" (out, in), "layers.{i}.bias" (out,)).
    scales: one tensor per hidden layer, shape (width,), all > 0. Returns the rescaled parameters.
    """
    n_layers = len(params) // 2
    if len(scales) != n_layers - 1:
        raise ValueError(f"need one scale tensor per hidden layer ({n_layers - 1}), got {len(scales)}")
    out, previous = {}, None
    for i in range(n_layers):
        w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
        scale = scales[i] if i < n_layers - 1 else torch.ones_like(b)
        if scale.shape != b.shape:
            raise ValueError(f"scales[{i}] must have shape {tuple(b.shape)}, got {tuple(scale.shape)}")
        w = scale[:, None] * w if previous is None else scale[:, None] * w / previous[None, :]
        out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = w, scale * b
        previous = scale
    return out
