"""maml_lite: a tiny, readable MAML on the paper's sine regression, for teaching.

The core, readable in one sitting: tasks.py (the sine tasks), model.py (the network), adapt.py (the inner
loop and MAML's meta-objective), train.py (the outer loop and its objectives), evaluate.py (the paper's test
protocol), checkpoints.py and plots.py; checks.py holds their argument checks. Every variant is a satellite
module that plugs into the core as an objective for `meta_train`: reptile, metasgd, maml_plus, anil, cavia and
learned_opt. widgets.py is the playground; cli.py regenerates the shipped checkpoints. The notebooks teach;
this package carries the plumbing they share.
"""

from .adapt import adapt, meta_loss, mse
from .checkpoints import PRETRAINED, load_checkpoint, load_pretrained, model_card, save_checkpoint
from .evaluate import EvalResult, evaluate, task_errors
from .model import MLP, forward, make_model, predict
from .tasks import SineTasks, TaskBatch
from .train import MAML, DivergenceError, History, meta_train

__all__ = [
    "MAML", "MLP", "PRETRAINED", "DivergenceError", "EvalResult", "History", "SineTasks", "TaskBatch",
    "adapt", "evaluate", "forward", "load_checkpoint", "load_pretrained", "make_model", "meta_loss", "meta_train",
    "model_card", "mse", "predict", "save_checkpoint", "task_errors",
]
__version__ = "0.1.0"
