"""The fine-tuning baseline for few-shot classification (Chen et al. 2019, "A closer look at
few-shot classification"; Tian et al. 2020, "A good embedding is all you need?").

    training    an ordinary classifier over all training classes at once: the conv body and a
                head of n_classes rows (this method's own parameters), cross-entropy on every
                drawing of the meta-batch with its class id; no episodes, no inner loop
    adapting    the body frozen; for each episode a fresh linear head from zero on the support
                drawings' L2-normalised features, fit by full-batch gradient descent on the
                cross-entropy + weight_decay / 2 ||w||^2 (logistic regression): one step per
                inner step, `inner_lr` each

The few-shot counterpart of the sine course's pretrained baseline: what meta-learning has to beat.
Taught in notebooks/08_few_shot_characters.ipynb.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..adapt import mse
from ..checks import MAX_INNER_STEPS, check_float, check_int
from ..method import Method
from ..omniglot import body_of, features

# head weight (meta_batch, n_way, d), bias (meta_batch, n_way), normalised support features
Head = tuple[Tensor, Tensor, Tensor]


def embed(model: nn.Module, x: Tensor) -> Tensor:
    """The body's features, L2-normalised: x (meta_batch, n, 1, 28, 28) -> (meta_batch, n, d)."""
    return F.normalize(features(body_of(model), x), dim=-1)


class FineTune(Method):
    """Pretrain a classifier over every training class; adapt by refitting a linear head."""

    name = "finetune"
    inner_steps = 0  # training has no inner loop; evaluate it after, e.g., 100 steps

    def __init__(self, n_classes: int = 716, hidden: int = 64, inner_lr: float = 1.0,
                 weight_decay: float = 1e-3) -> None:
        super().__init__()
        self.n_classes, self.hidden = check_int("n_classes", n_classes, 2), check_int("hidden",
                                                                                       hidden, 1)
        self.inner_lr = check_float("inner_lr", inner_lr)
        self.weight_decay = check_float("weight_decay", weight_decay)
        self.classifier = nn.Linear(hidden, n_classes)  # pretraining's head, unused when adapting

    def forward(self, model: nn.Module, batch) -> Tensor:
        """Cross-entropy over all training classes on every drawing of the meta-batch."""
        x = torch.cat([batch.x_support, batch.x_query], dim=1)
        y = torch.cat([batch.y_support, batch.y_query], dim=1)
        if int(batch.classes.max()) >= self.n_classes:
            raise ValueError(f"the tasks have {int(batch.classes.max()) + 1} classes or more but "
                             f"this method's classifier {self.n_classes}: set n_classes")
        return F.cross_entropy(self.classifier(features(body_of(model), x)).flatten(0, 1),
                               batch.classes.gather(1, y).flatten())

    def start(self, model: nn.Module, x_support: Tensor, n_way: int = 5) -> Head:
        """A zero head for n_way classes per task, and the support drawings' features."""
        z = embed(model, x_support)
        return (z.new_zeros(z.shape[0], n_way, z.shape[-1]), z.new_zeros(z.shape[0], n_way), z)

    def states(self, model: nn.Module, x_support: Tensor, y_support: Tensor, steps: int,
               create_graph: bool = False, start: Head | None = None) -> Iterator[Head]:
        """As Method.states, from a zero head with as many rows as the support set has classes."""
        if start is None:
            start = self.start(model, x_support, int(y_support.max()) + 1)
        return super().states(model, x_support, y_support, steps, create_graph, start)

    def step(self, model: nn.Module, state: Head, x_support: Tensor, y_support: Tensor,
             create_graph: bool) -> Head:
        weight, bias, z = state
        with torch.enable_grad():
            weight, bias = (t if t.requires_grad else t.detach().requires_grad_()
                            for t in (weight, bias))
            loss = mse(linear(z, weight, bias), y_support)  # summed over tasks: one gradient each
            loss = loss + self.weight_decay / 2 * (weight ** 2).sum()
            g_weight, g_bias = torch.autograd.grad(loss, [weight, bias], create_graph=create_graph)
        return weight - self.inner_lr * g_weight, bias - self.inner_lr * g_bias, z

    def predict(self, model: nn.Module, state: Head, x: Tensor) -> Tensor:
        return linear(embed(model, x), *state[:2])

    @torch.no_grad()
    def trajectory(self, model: nn.Module, x_support: Tensor, y_support: Tensor, x: Tensor,
                   steps: int, start: Head | None = None) -> Tensor:
        """As Method.trajectory, with the features of x computed once for every step."""
        check_int("steps", steps, 0, MAX_INNER_STEPS)
        z = embed(model, x)
        return torch.stack([linear(z, w, b) for w, b, _ in
                            self.states(model, x_support, y_support, steps, start=start)])


def linear(z: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Per-task linear head: z (meta_batch, n, d) -> (meta_batch, n, n_way)."""
    return torch.baddbmm(bias.unsqueeze(-2), z, weight.transpose(-1, -2))
