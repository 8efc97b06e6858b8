"""maml_lite: a tiny, readable MAML on the paper's sine regression, for teaching.

The notebooks in notebooks/ teach; this package carries the plumbing they share.
"""

from .adapt import adapt, mse
from .checkpoints import PRETRAINED, load_checkpoint, load_pretrained, model_card, save_checkpoint
from .evaluate import EvalResult, evaluate, task_errors
from .model import MLP, forward, make_model, predict, rescale_units, smooth_relu
from .tasks import SineTasks, TaskBatch
from .train import METHODS, DivergenceError, History, meta_loss, meta_train

__all__ = [
    "METHODS", "MLP", "PRETRAINED", "DivergenceError", "EvalResult", "History", "SineTasks", "TaskBatch",
    "adapt", "evaluate", "forward", "load_checkpoint", "load_pretrained", "make_model", "meta_loss",
    "meta_train", "model_card", "mse", "predict", "rescale_units", "save_checkpoint", "smooth_relu",
    "task_errors",
]
__version__ = "0.1.0"
