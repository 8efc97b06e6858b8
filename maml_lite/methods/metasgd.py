"""Meta-SGD (Li et al. 2017): MAML with a learned step size for every parameter.

    theta'_i = theta - alpha o grad L_support_i(theta),
    min over theta AND alpha of mean_i L_query_i(theta'_i)

The rates alpha are the method's own parameters (shaped like the model's), so meta_train learns them
with theta and a checkpoint keeps them. It adapts by the same SGD step as MAML, with a rate per
parameter entry. Taught in notebooks/06_learned_step_sizes.ipynb.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..method import MAML


class MetaSGD(MAML):
    """Meta-SGD: `rates` start at inner_lr and are learned; `rates()` is the dict the SGD
    step uses."""

    name = "metasgd"
    sgd_on_weights = False  # its step sizes are its own: learned, one per weight

    def __init__(self, model: nn.Module, inner_lr: float = 0.01, inner_steps: int = 1) -> None:
        super().__init__(inner_steps, inner_lr)
        self.names = [n for n, _ in model.named_parameters()]
        self.learned = nn.ParameterList(nn.Parameter(torch.full_like(p.detach(), inner_lr))
                                        for p in model.parameters())

    def start(self, model: nn.Module, x_support: Tensor) -> dict[str, Tensor]:
        shapes = {n: p.shape for n, p in model.named_parameters()}
        if shapes != {n: r.shape for n, r in self.rates().items()}:
            raise ValueError("these learned rates were made for another network "
                             f"({len(self.names)} tensors: {self.names}); build MetaSGD(model) "
                             "with the model it adapts")
        return super().start(model, x_support)

    def rates(self) -> dict[str, Tensor]:
        """The learned step sizes by parameter name (differentiable, so training learns them)."""
        return dict(zip(self.names, self.learned))

    def extra_repr(self) -> str:
        return (f"inner_steps={self.inner_steps}, {sum(r.numel() for r in self.learned)} learned "
                "rates")
