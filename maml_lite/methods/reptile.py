"""Reptile (Nichol, Achiam & Schulman 2018): first-order meta-learning with no query split.

    phi_i = m SGD steps at alpha from theta on all of task i's points
    theta <- theta - beta * mean_i (theta - phi_i)          (the pseudo-gradient handed to Adam)

It adapts like MAML (SGD at inner_lr from the learned start); only its training loss differs. Taught
in notebooks/03_first_order_maml.ipynb, where the direction is written out by hand and checked
against this one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..adapt import adapt, query_loss
from ..method import MAML
from ..model import predict
from ..tasks import TaskBatch


def reptile_direction(model: nn.Module, batch: TaskBatch, inner_steps: int = 5,
                      inner_lr: float = 0.01) -> tuple[dict[str, Tensor], Tensor]:
    """Reptile's pseudo-gradient mean_i (theta - phi_i), shaped like the model's parameters, and the
    mean task loss after adapting. batch tensors: (meta_batch, k, 1); support and query points are
    pooled per task."""
    x = torch.cat([batch.x_support, batch.x_query], dim=1)
    y = torch.cat([batch.y_support, batch.y_query], dim=1)
    phi = adapt(model, x, y, inner_steps, inner_lr, first_order=True)
    with torch.no_grad():
        loss = query_loss(predict(model, phi, x), y)
        direction = {n: p - phi[n].mean(0) for n, p in model.named_parameters()}
    return direction, loss


class Reptile(MAML):
    """Reptile: pull theta toward phi_i, `inner_steps` of SGD on task i's points; adapts like MAML.

    Its training loss has the value of the mean task loss after adapting and, as gradient, the
    pseudo-gradient theta - mean_i phi_i.
    """

    name = "reptile"

    def __init__(self, inner_steps: int = 5, inner_lr: float = 0.01) -> None:
        super().__init__(inner_steps, inner_lr, first_order=True)

    def forward(self, model: nn.Module, batch: TaskBatch) -> Tensor:
        direction, loss = reptile_direction(model, batch, self.inner_steps, self.inner_lr)
        # d pull / d theta = direction
        pull = sum((p * direction[n]).sum() for n, p in model.named_parameters())
        return loss + (pull - pull.detach())  # the value of `loss`, the gradient of `pull`
