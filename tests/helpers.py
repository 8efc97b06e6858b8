"""Small builders shared by the maths tests."""

import torch

import maml_lite as ml


def batch(meta_batch=4, k=5, seed=0, dtype=torch.float32):
    """A seeded meta-batch with k support and k query points per task, in `dtype`."""
    b = ml.SineTasks().sample(meta_batch, k, k, generator=torch.Generator().manual_seed(seed))
    if dtype != torch.float32:
        b = ml.TaskBatch(*(getattr(b, f).to(dtype) for f in b.__dataclass_fields__))
    return b


def model64(activation="relu"):
    """The paper's network in float64, for exact comparisons."""
    return ml.make_model(activation=activation).double()
