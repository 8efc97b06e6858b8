"""maml_lite: a tiny, readable MAML on the paper's sine regression, for teaching.

The core, readable in one sitting: tasks.py (the sine tasks), model.py (the network), adapt.py (the
inner loop and MAML's meta-objective), method.py (what a method is: how it adapts and the loss that
trains it; MAML, first-order MAML and the pretrained baseline), train.py (the outer loop),
evaluate.py (the paper's test protocol), checkpoints.py and plots.py; checks.py holds their argument
checks. methods/ is the wing of every other method (reptile, metasgd, maml_plus, anil, cavia,
learned_opt), each a subclass of `Method`; playground/ is the live playground; cli.py trains a
checkpoint from a recipe in recipes/. The notebooks teach; this package carries the plumbing
they share.
"""

from .adapt import adapt, meta_loss, mse
from .checkpoints import save_checkpoint
from .evaluate import EvalResult, evaluate, task_errors
from .method import FOMAML, MAML, Method, Pretrain
from .methods import PRETRAINED, load_checkpoint, load_pretrained, model_card
from .model import MLP, forward, make_model, predict
from .tasks import SineTasks, TaskBatch
from .train import DivergenceError, meta_train

__all__ = [
    "FOMAML", "MAML", "MLP", "PRETRAINED", "DivergenceError", "EvalResult", "Method", "Pretrain",
    "SineTasks", "TaskBatch", "adapt", "evaluate", "forward", "load_checkpoint", "load_pretrained",
    "make_model", "meta_loss", "meta_train", "model_card", "mse", "predict", "save_checkpoint",
    "task_errors",
]
__version__ = "0.2.0"
