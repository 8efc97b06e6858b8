"""Three refinements of MAML's training, and the method that combines them (the
`maml_plus` checkpoint).

* the multi-step loss (MAML++, Antoniou et al. 2019): weigh the query loss after *every* inner step;
* learned unit scales: ReLU's rescaling symmetry hides per-unit step sizes in the weights;
  learn them;
* a smooth start: meta-train through a softplus that sharpens into the ReLU, so the meta-gradient
  sees how an inner step moves the ReLU's kinks (a continuation method).

Each refinement changes only what is trained, never how the result adapts: a plain ReLU MLP adapted
by plain SGD at inner_lr, like MAML. Taught in notebooks/06_learned_step_sizes.ipynb; the recipe
search is in docs/maml_plus.md.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..adapt import start_params
from ..checks import check_float, check_int
from ..method import MAML
from ..model import MLP, Activation, Params
from ..tasks import TaskBatch

# the smooth start covers this share of the iterations; the rest run through the ReLU
SMOOTHING_FRACTION = 0.8


def check_step_weights(step_weights: Sequence[float]) -> tuple[float, ...]:
    weights = list(step_weights) if isinstance(step_weights, (tuple, list)) else None
    if (not weights or len(weights) > 100
            or sum(w for w in weights if isinstance(w, (int, float))) <= 0
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                       and math.isfinite(w) and w >= 0 for w in weights)):
        raise ValueError("step_weights must be one finite weight >= 0 per inner step (1 to 100 of "
                         f"them) with a positive sum, e.g. (0.7, 0.3); got {step_weights!r}")
    return tuple(float(w) for w in weights)


def rescale_units(params: Mapping[str, Tensor], scales: Sequence[Tensor]) -> Params:
    """The same ReLU network with each hidden unit's weights rescaled: ReLU's rescaling symmetry.

    Unit j of hidden layer l gets its incoming weights and bias multiplied by scales[l][j] > 0 and
    its outgoing weights divided by it. relu(c z) = c relu(z) for c > 0, so the function is
    unchanged; one SGD step at rate alpha on the rescaled weights moves it like a step on the
    original weights with rate alpha / s^2 for each parameter multiplied by s. So the scales are
    per-unit step sizes hidden in the weights.
    params: an MLP's parameters; scales: one (width,) tensor per hidden layer, all > 0.
    """
    n_layers = len(params) // 2
    if len(scales) != n_layers - 1:
        raise ValueError(f"need one scale tensor per hidden layer ({n_layers - 1}), got "
                         f"{len(scales)}")
    out, previous = {}, None
    for i in range(n_layers):
        w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
        scale = scales[i] if i < n_layers - 1 else torch.ones_like(b)
        if scale.shape != b.shape:
            raise ValueError(f"scales[{i}] must have shape {tuple(b.shape)}, got "
                             f"{tuple(scale.shape)}")
        w = scale[:, None] * w if previous is None else scale[:, None] * w / previous[None, :]
        out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = w, scale * b
        previous = scale
    return out


def smooth_relu(beta: float) -> Callable[[Tensor], Tensor]:
    """softplus with sharpness beta: z -> log(1 + exp(beta z)) / beta, a ReLU with its kink
    rounded off.

    Within log(2) / beta of relu(z) everywhere. Unlike ReLU it has a second derivative, so a
    meta-gradient through it sees how an inner step moves the kinks.
    """
    beta = check_float("beta", beta, strict=True)
    return lambda z: torch.nn.functional.softplus(z, beta=beta)


def smoothing_beta(iteration: int, iterations: int, betas: tuple[float, float]) -> float | None:
    """The smooth start's sharpness at `iteration` (1-based): geometric from betas[0] to betas[1]
    over the first SMOOTHING_FRACTION of the iterations; None (the exact ReLU) after that."""
    beta_start, beta_end = betas
    span = SMOOTHING_FRACTION * iterations
    if iteration > span:
        return None
    return beta_start * (beta_end / beta_start) ** (iteration / span)


def with_activation(model: MLP, activation: Activation | tuple[Activation, ...]) -> MLP:
    """The same network, its very parameter tensors, run through another activation (a
    shallow copy)."""
    twin = copy.copy(model)
    twin.activation = activation
    return twin


class MAMLPlus(MAML):
    """MAML with the refinements switched on by the arguments; adapts like MAML (SGD at inner_lr).

    step_weights: the multi-step loss, one weight per inner step (so inner_steps =
    len(step_weights)). learn_unit_scales: adapt from rescale_units(theta, exp(log_scales)) and
    learn the log-scales (call `fold_into(model)` at the end). relu_smoothing=(beta_start,
    beta_end): the smooth start over `iterations` training iterations (it counts its calls, as a
    learning-rate scheduler counts steps), of the hidden layers in smooth_layers (1 = the first;
    default all).
    """

    name = "maml_plus"

    def __init__(self, model: MLP, iterations: int | None = None,
                 step_weights: Sequence[float] = (1.0,), inner_lr: float = 0.01,
                 learn_unit_scales: bool = False, relu_smoothing: Sequence[float] | None = None,
                 smooth_layers: Sequence[int] | None = None, first_order: bool = False) -> None:
        weights = check_step_weights(step_weights)
        super().__init__(len(weights), inner_lr, first_order)
        if not (isinstance(model, MLP) and model.activation == "relu"):
            raise ValueError("MAMLPlus's refinements rely on ReLU "
                             "(relu(c z) = c relu(z) for c > 0); it needs a maml_lite ReLU MLP, "
                             f"got {model!r}")
        hidden = len(model.sizes) - 2
        if relu_smoothing is not None:
            betas = list(relu_smoothing) if isinstance(relu_smoothing, (tuple, list)) else []
            if (len(betas) != 2 or check_float("beta_start", betas[0], strict=True)
                    > check_float("beta_end", betas[1])):
                raise ValueError("relu_smoothing must be (beta_start, beta_end) with 0 < "
                                 f"beta_start <= beta_end, e.g. (3, 100); got {relu_smoothing!r}")
            if iterations is None:
                raise ValueError("relu_smoothing sharpens over the training run: give its length, "
                                 "iterations=...")
            relu_smoothing = tuple(float(b) for b in betas)
        elif smooth_layers is not None:
            raise ValueError("smooth_layers picks the hidden layers that relu_smoothing rounds "
                             "off; set relu_smoothing")
        if iterations is not None:
            check_int("iterations", iterations, 1)
        layers = tuple(range(1, hidden + 1)) if smooth_layers is None else smooth_layers
        ok = isinstance(layers, (tuple, list)) and layers and all(
            type(n) is int and 1 <= n <= hidden for n in layers)
        if not ok or len(set(layers)) != len(layers):
            raise ValueError("smooth_layers must name distinct hidden layers, numbered 1 to "
                             f"{hidden} from the input, e.g. (2,); got {smooth_layers!r}")
        self.iterations, self.step_weights, self.learn_unit_scales = (iterations, weights,
                                                                      bool(learn_unit_scales))
        self.relu_smoothing = relu_smoothing
        self.smooth_layers = None if smooth_layers is None else tuple(layers)
        self.log_scales = nn.ParameterList([nn.Parameter(torch.zeros(w)) for w in model.sizes[1:-1]]
                                           if learn_unit_scales else [])
        self.calls = 0

    def loss_weights(self) -> tuple[float, ...]:
        return (0.0, *self.step_weights)

    def start(self, model: MLP, x_support: Tensor) -> Params:
        """Where adaptation starts: the model's weights, rescaled by the learned unit scales
        if any."""
        if not len(self.log_scales):
            return start_params(model, x_support)
        return start_params(model, x_support, rescale_units(dict(model.named_parameters()),
                                                            [s.exp() for s in self.log_scales]))

    def forward(self, model: MLP, batch: TaskBatch) -> Tensor:
        self.calls += 1
        beta = self.relu_smoothing and smoothing_beta(self.calls, self.iterations,
                                                      self.relu_smoothing)
        if beta is not None:
            smooth, layers = smooth_relu(beta), self.smooth_layers or range(1, len(model.sizes) - 1)
            model = with_activation(model, tuple(smooth if n in layers else "relu"
                                                 for n in range(1, len(model.sizes) - 1)))
        return super().forward(model, batch)

    def finish(self, model: MLP) -> None:
        self.fold_into(model)

    def fold_into(self, model: MLP) -> None:
        """Write the rescaled weights into the model and reset the scales to 1: the same function,
        now adapted from by plain SGD."""
        if not len(self.log_scales):
            return
        folded = rescale_units(dict(model.named_parameters()), [s.exp() for s in self.log_scales])
        with torch.no_grad():
            for name, value in folded.items():
                model.get_parameter(name).copy_(value)
            for s in self.log_scales:
                s.zero_()
