"""Meta-SGD (Li et al. 2017): MAML with a learned step size for every parameter.

    theta'_i = theta - alpha o grad L_support_i(theta),   min over theta AND alpha of mean_i L_query_i(theta'_i)

A satellite of the core: `MetaSGD` is an objective for `meta_train` whose own parameters are the rates
alpha (shaped like the model's parameters), so the outer Adam learns them with theta. Taught in
notebooks/06_learned_step_sizes.ipynb.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from .adapt import meta_loss
from .checkpoints import read_checkpoint, shipped
from .checks import check_inner
from .tasks import TaskBatch

KEY = "learned_inner_lr"  # where a checkpoint keeps the rates


class MetaSGD(nn.Module):
    """Meta-SGD's objective. `rates` start at inner_lr; `inner_lr` is the dict that adapt/evaluate take."""

    def __init__(self, model: nn.Module, inner_lr: float = 0.01, inner_steps: int = 1) -> None:
        super().__init__()
        check_inner(inner_steps, inner_lr)
        self.names = [n for n, _ in model.named_parameters()]
        self.rates = nn.ParameterList([nn.Parameter(torch.full_like(p.detach(), inner_lr)) for p in model.parameters()])
        self.inner_steps = inner_steps

    @property
    def inner_lr(self) -> dict[str, Tensor]:
        """The learned rates by parameter name (differentiable: use them in training or evaluation alike)."""
        return dict(zip(self.names, self.rates))

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        return meta_loss(model, batch, self.inner_steps, self.inner_lr)

    def extra_repr(self) -> str:
        return f"inner_steps={self.inner_steps}, {sum(r.numel() for r in self.rates)} learned rates"


def load_rates(path: str | Path | None = None) -> dict[str, Tensor]:
    """The learned rates saved with a Meta-SGD checkpoint (default: the shipped "metasgd")."""
    path = shipped("metasgd") if path is None else Path(path)
    model, extras = read_checkpoint(path)
    shapes = {n: p.shape for n, p in model.named_parameters()}
    rates = extras.get(KEY)
    if rates is None or {n: r.shape for n, r in rates.items()} != shapes:
        raise ValueError(f"{path} holds no learned step sizes that fit its weights; it is not a Meta-SGD checkpoint")
    return rates
