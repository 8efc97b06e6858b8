"""Few-shot character classification: Omniglot's N-way K-shot episodes and the paper's conv net.

A second task family beside SineTasks (Finn et al. 2017, section 5.2), for the same methods, the
same `meta_train` and the same `evaluate`:

    tasks = OmniglotTasks("train", n_way=5)            # quarter turns count as extra classes
    batch = tasks.sample(16, k_shot=1, k_query=5)      # x_support (16, 5, 1, 28, 28), y (16, 5)
    model = ConvNet(n_way=5)                           # 4 x [3x3 conv, batch norm, ReLU], linear
    ml.meta_train(model, ml.MAML(inner_lr=0.4), k_shot=1, k_query=5, tasks=tasks)

An episode draws n_way characters, labels them 0..n_way-1 in random order, and gives k_shot
drawings of each to adapt on (support) and k_query other drawings to score on (query): the score is
the fraction of query drawings classified right. Batch norm uses each call's own batch statistics,
per task (no running statistics), as in the paper's code. Taught in
notebooks/08_few_shot_characters.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_int, check_memory

DATA = Path(__file__).with_name("data") / "omniglot28.npz"
SPLITS = ("train", "val", "test")
DRAWERS, SIZE = 20, 28  # every character was drawn by 20 people; images are 28x28


def load_omniglot(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The arrays of omniglot28.npz (maml_lite/data/README.md): images (N, 28, 28) uint8 ink,
    character, alphabet, drawer (N,), character_alphabet, character_name (C,), alphabet_name,
    alphabet_split (A,)."""
    path = Path(path) if path is not None else DATA
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; rebuild it with "
                                "`python -m maml_lite.data.build_omniglot` (see its README)")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@dataclass(frozen=True)
class FewShotBatch:
    """A meta-batch of N-way K-shot episodes; every tensor has a leading task dimension.

    x_support: (meta_batch, n_way * k_shot, 1, 28, 28) float ink in [0, 1]
    y_support: (meta_batch, n_way * k_shot) int64 labels 0..n_way-1, k_shot of label 0 first
    x_query, y_query: the same with k_query drawings per class
    classes: (meta_batch, n_way) the class behind each label (character * 4 + quarter turns
             with rotations, else the character)
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    classes: Tensor

    def to(self, dtype: torch.dtype) -> FewShotBatch:
        """The same episodes with the images in another float dtype."""
        return FewShotBatch(self.x_support.to(dtype), self.y_support, self.x_query.to(dtype),
                            self.y_query, self.classes)


class OmniglotTasks:
    """N-way episodes over the characters of one split's alphabets (the splits share no alphabet).

    split: "train", "val" or "test". rotations: each character turned by 0, 90, 180 and 270
    degrees counts as four classes (the paper's augmentation; default: for training only).
    shift: moves every image by a random whole-pixel offset of up to this many pixels (training
    augmentation; 0: none).
    """

    metric = "accuracy"  # what `score` measures; higher is better

    def __init__(self, split: str = "train", n_way: int = 5, rotations: bool | None = None,
                 shift: int = 0, path: str | Path | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        data = load_omniglot(path)
        self.split, self.shift = split, check_int("shift", shift, 0, 8)
        self.rotations = split == "train" if rotations is None else bool(rotations)
        names = data["alphabet_name"]
        self.alphabets = [str(a) for a, s in zip(names, data["alphabet_split"]) if s == split]
        chars = np.flatnonzero(np.isin(names[data["character_alphabet"]], self.alphabets))
        order = np.lexsort((data["drawer"], data["character"]))  # by character, then drawer
        images = torch.from_numpy(data["images"][order].reshape(-1, DRAWERS, SIZE, SIZE)[chars])
        if self.rotations:  # class = character * 4 + quarter turns
            images = torch.stack([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)], 1)
            images = images.flatten(0, 1)
        self.images = images.contiguous()  # (n_classes, 20, 28, 28) uint8
        self.characters = torch.from_numpy(chars)
        # the alphabet each class belongs to, in class order
        owner = [str(a) for a in names[data["character_alphabet"][chars]]]
        self.class_alphabet = [a for a in owner for _ in range(4 if self.rotations else 1)]
        self.n_way = check_int("n_way", n_way, 2, self.n_classes)

    @property
    def n_classes(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return (f"OmniglotTasks({self.split!r}, n_way={self.n_way}, rotations={self.rotations}, "
                f"shift={self.shift}: {len(self.alphabets)} alphabets, {self.n_classes} classes)")

    def sample(self, meta_batch: int, k_shot: int, k_query: int = 15,
               generator: torch.Generator | None = None) -> FewShotBatch:
        """Draw `meta_batch` episodes: n_way distinct classes in random label order, and k_shot +
        k_query distinct drawings of each (support and query never share a drawing)."""
        check_int("meta_batch", meta_batch, 1)
        check_int("k_shot", k_shot, 1, DRAWERS - 1)
        check_int("k_query", k_query, 0, DRAWERS - k_shot)
        n_way, k = self.n_way, k_shot + k_query
        check_memory(f"{meta_batch} episodes of {n_way * k} images", 8 * meta_batch * n_way * k
                     * SIZE * SIZE, "the number of episodes")
        classes = torch.rand(meta_batch, self.n_classes, generator=generator).argsort(1)[:, :n_way]
        drawers = torch.rand(meta_batch, n_way, DRAWERS, generator=generator).argsort(2)[..., :k]
        x = self.images[classes.unsqueeze(-1), drawers].float().div_(255)  # (mb, n_way, k, 28, 28)
        x = shifted(x, self.shift, generator).unsqueeze(3)
        y = torch.arange(n_way).view(1, n_way, 1).expand(meta_batch, n_way, k)

        def part(t: Tensor, lo: int, hi: int) -> Tensor:
            return t[:, :, lo:hi].flatten(1, 2)

        return FewShotBatch(part(x, 0, k_shot), part(y, 0, k_shot), part(x, k_shot, k),
                            part(y, k_shot, k), classes)

    @staticmethod
    def eval_points(batch: FewShotBatch) -> tuple[Tensor, Tensor]:
        """Where each episode is scored: its query drawings and their labels."""
        return batch.x_query, batch.y_query

    @staticmethod
    def score(logits: Tensor, y: Tensor) -> Tensor:
        """Each episode's accuracy: logits (..., meta_batch, n, n_way), y (meta_batch, n) ->
        (..., meta_batch)."""
        return (logits.argmax(-1) == y).to(logits.dtype).mean(-1)

    @staticmethod
    def diverged(scores: Tensor) -> Tensor:
        """Accuracy cannot run away: no episode counts as diverged."""
        return torch.zeros_like(scores, dtype=torch.bool)


def shifted(x: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image moved by its own random offset in [-max_shift, max_shift] pixels along each axis,
    blank paper coming in at the edges. x: (..., 28, 28) -> the same shape."""
    if max_shift == 0:
        return x
    flat = x.reshape(-1, SIZE, SIZE)
    n = flat.shape[0]
    padded = F.pad(flat, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator)
    rows, cols = dy + torch.arange(SIZE), dx + torch.arange(SIZE)  # (n, 28) each
    return padded[torch.arange(n).view(n, 1, 1), rows.unsqueeze(2), cols.unsqueeze(1)].view(x.shape)


class ConvNet(nn.Module):
    """The paper's Omniglot classifier: 4 blocks of [3x3 conv with stride 2 (hidden channels),
    batch norm, ReLU] take 28x28 to 2x2, averaged to `hidden` features, then a linear head ->
    n_way logits. Stride-2 convolutions instead of max-pooling are what the paper's code does for
    Omniglot (about 4 times cheaper here for the same accuracy)."""

    kind = "convnet"  # how a checkpoint names this architecture
    point_dims = 3  # one input point is a (1, 28, 28) image

    def __init__(self, n_way: int = 5, hidden: int = 64) -> None:
        super().__init__()
        self.n_way, self.hidden = check_int("n_way", n_way, 1, 4096), check_int("hidden", hidden,
                                                                                 1, 1024)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else hidden, hidden, 3, stride=2,
                                             padding=1, bias=False) for i in range(4))
        self.norms = nn.ModuleList(nn.BatchNorm2d(hidden, track_running_stats=False)
                                   for _ in range(4))
        self.head = nn.Linear(hidden, n_way)

    def forward(self, x: Tensor) -> Tensor:
        """x (meta_batch, n, 1, 28, 28) -> logits (meta_batch, n, n_way)."""
        return self.functional(dict(self.named_parameters()), x)

    def functional(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """The network with other, possibly per-task parameters (a leading meta_batch dimension)."""
        return head(params, features(params, x))

    def body(self) -> dict[str, Tensor]:
        """The parameters of the conv body (everything but the head)."""
        return {n: p for n, p in self.named_parameters() if not n.startswith("head.")}

    def floats_per_point(self) -> int:
        """Numbers the forward pass computes per image (3 per activation: conv, norm, ReLU)."""
        side, total = SIZE, 0
        for _ in range(4):
            side = (side + 1) // 2
            total += 3 * self.hidden * side * side
        return total + self.n_way

    def with_ways(self, n_way: int) -> ConvNet:
        """A copy for n_way-way episodes. The labels of an episode are in random order, so no head
        row belongs to a class: fewer ways keep the first n_way rows, more ways start every class
        from the mean row (equal logits: the inner loop has to tell the classes apart)."""
        new = ConvNet(n_way, self.hidden)
        new.load_state_dict({n: p for n, p in self.state_dict().items()
                             if not n.startswith("head.")}, strict=False)
        w, b = self.head.weight.detach(), self.head.bias.detach()
        with torch.no_grad():
            rows = slice(None, n_way)
            new.head.weight.copy_(w[rows] if n_way <= self.n_way
                                  else w.mean(0).expand(n_way, -1))
            new.head.bias.copy_(b[rows] if n_way <= self.n_way else b.mean().expand(n_way))
        return new.to(self.head.weight.dtype)

    def config(self) -> dict:
        """The arguments that rebuild this architecture: ConvNet(**config)."""
        return {"n_way": self.n_way, "hidden": self.hidden}

    def extra_repr(self) -> str:
        return f"n_way={self.n_way}, hidden={self.hidden}"


def per_task(name: str, p: Tensor) -> bool:
    """Whether parameter `name` has a leading task dimension (one more than a ConvNet's own)."""
    own = 4 if name.startswith("convs.") else 2 if name == "head.weight" else 1
    return p.dim() == own + 1


def features(params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """The conv body: x (meta_batch, n, 1, 28, 28) -> (meta_batch, n, hidden).

    params: "convs.{i}.weight" (C, C_in, 3, 3), "norms.{i}.weight" and ".bias" (C,), shared by all
    tasks, or each with a leading meta_batch dimension, one set per task. The tasks run as one
    grouped convolution (groups = meta_batch): task g's channels are group g, so batch norm's
    per-channel statistics are each task's own (over its n images).
    """
    if x.dim() != 5 or x.shape[2:] != (1, SIZE, SIZE):
        raise ValueError(f"x must have shape (meta_batch, n, 1, 28, 28), got {tuple(x.shape)}")
    mb, n = x.shape[:2]
    batched = per_task("convs.0.weight", params["convs.0.weight"])
    if batched and params["convs.0.weight"].shape[0] != mb:
        raise ValueError(f"params hold {params['convs.0.weight'].shape[0]} tasks but x {mb}")
    h = x.transpose(0, 1).reshape(n, mb, SIZE, SIZE)  # (n, mb * 1 channel, 28, 28)
    for i in range(4):
        w = params[f"convs.{i}.weight"]
        gamma, beta = params[f"norms.{i}.weight"], params[f"norms.{i}.bias"]
        if not batched:  # the same weights for every task: views, no copies
            w = w.expand(mb, *w.shape)
            gamma, beta = gamma.expand(mb, -1), beta.expand(mb, -1)
        h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), stride=2, padding=1, groups=mb)
        h = torch.relu(F.batch_norm(h, None, None, gamma.reshape(-1), beta.reshape(-1),
                                    training=True))
    return h.mean((2, 3)).reshape(n, mb, -1).transpose(0, 1)


def head(params: Mapping[str, Tensor], z: Tensor) -> Tensor:
    """The linear head: z (meta_batch, n, hidden) -> logits (meta_batch, n, n_way)."""
    w, b = params["head.weight"], params["head.bias"]
    return torch.matmul(z, w.transpose(-1, -2)) + b.unsqueeze(-2)


def body_of(model: nn.Module) -> dict[str, Tensor]:
    """The conv body's parameters of a ConvNet (what ProtoNet and the fine-tuner embed with)."""
    if not isinstance(model, ConvNet):
        raise TypeError(f"this method embeds images with maml_lite.omniglot.ConvNet, got "
                        f"{type(model).__name__}")
    return model.body()

