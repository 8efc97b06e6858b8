"""Prototypical networks (Snell, Swersky and Zemel 2017): meta-learning a metric, not a start.

    embedding   z = f_theta(x)                the conv body's features (maml_lite.omniglot.ConvNet)
    prototype   c_k = mean of f_theta(x_j) over the support drawings of class k
    prediction  p(y = k | x) = softmax_k(-||f_theta(x) - c_k||^2)
    training    the query cross-entropy of that prediction, minimised over theta

Nothing adapts by gradient at test time: the state is the prototypes, computed once from the support
set, and every "step" leaves them as they are. As a linear head, -||z - c_k||^2 = 2 c_k . z -
||c_k||^2 - ||z||^2, and the last term is the same for every class: ProtoNet is a linear classifier
with w_k = 2 c_k and b_k = -||c_k||^2 on the embedding (ProtoMAML starts MAML's head there).
Taught in notebooks/08_few_shot_characters.ipynb.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch.nn.functional as F
from torch import Tensor, nn

from ..method import Method
from ..omniglot import body_of, features


def prototypes(z: Tensor, y: Tensor) -> Tensor:
    """Class means: z (meta_batch, n, d) with labels y (meta_batch, n) in 0..n_way-1 ->
    (meta_batch, n_way, d)."""
    onehot = F.one_hot(y, int(y.max()) + 1).to(z.dtype)  # (meta_batch, n, n_way)
    return onehot.transpose(1, 2) @ z / onehot.sum(1).unsqueeze(-1)


def as_linear_head(protos: Tensor) -> tuple[Tensor, Tensor]:
    """The linear head that ranks classes as the prototypes do: w_k = 2 c_k, b_k = -||c_k||^2.
    protos (meta_batch, n_way, d) -> weight (meta_batch, n_way, d), bias (meta_batch, n_way)."""
    return 2 * protos, -(protos ** 2).sum(-1)


class ProtoNet(Method):
    """A prototypical network on a ConvNet's body: nearest prototype by squared distance."""

    name = "protonet"
    inner_steps = 0

    def __init__(self) -> None:
        super().__init__()

    def states(self, model: nn.Module, x_support: Tensor, y_support: Tensor, steps: int,
               create_graph: bool = False, start: Tensor | None = None) -> Iterator[Tensor]:
        """The prototypes of the support set, unchanged by every one of `steps` steps."""
        protos = prototypes(features(body_of(model), x_support), y_support) if start is None \
            else start
        for _ in range(steps + 1):
            yield protos

    def predict(self, model: nn.Module, protos: Tensor, x: Tensor) -> Tensor:
        """Logits -||f(x) - c_k||^2: x (meta_batch, n, 1, 28, 28) -> (meta_batch, n, n_way)."""
        z = features(body_of(model), x)
        return -((z.unsqueeze(-2) - protos.unsqueeze(-3)) ** 2).sum(-1)
