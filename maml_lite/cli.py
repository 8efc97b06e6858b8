"""Train one checkpoint and write it with a JSON model card beside it.

    python -m maml_lite.cli --method maml --k-shot 5 --iterations 40000 --schedule cosine --out maml.pt

Every argument is checked before training starts, and the output path is tried first, so a typo costs
seconds, not a training run. Each shipped model card's `command` field is the line that rebuilt it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from . import anil, cavia, learned_opt, metasgd
from .checkpoints import PRETRAINED, load_pretrained, save_checkpoint
from .evaluate import evaluate
from .maml_plus import MAMLPlus
from .model import make_model
from .reptile import Reptile
from .train import MAML, DivergenceError, Pretrain, meta_train

METHODS = ("maml", "fomaml", "reptile", "pretrain", "metasgd", "anil", "cavia", "lstm_opt", "meta_learner")
DEFAULT_INNER_STEPS = {"maml": 1, "fomaml": 1, "reptile": 5, "pretrain": 0, "metasgd": 1, "anil": 1, "cavia": 1,
                       "lstm_opt": 5, "meta_learner": 5}
DEFAULT_INNER_LR = {"cavia": 1.0}  # CAVIA's context takes large steps (Zintgraf et al. 2019); the rest 0.01
RULES = {"lstm_opt": learned_opt.LSTMRule, "meta_learner": learned_opt.MetaLearnerRule}


def objective_for(args: argparse.Namespace, model: nn.Module) -> nn.Module:
    """The objective the flags describe; a refinement flag turns MAML/FOMAML into MAMLPlus."""
    steps = DEFAULT_INNER_STEPS[args.method] if args.inner_steps is None else args.inner_steps
    refined = args.step_weights or args.learn_unit_scales or args.relu_smoothing or args.smooth_layers
    if refined and args.method not in ("maml", "fomaml"):
        raise ValueError(f"--step-weights, --learn-unit-scales, --relu-smoothing and --smooth-layers refine MAML's "
                         f"inner loop; --method {args.method} has none")
    if args.method == "pretrain":
        return Pretrain()
    if args.method == "reptile":
        return Reptile(steps, args.inner_lr)
    if args.method == "metasgd":
        return metasgd.MetaSGD(model, args.inner_lr, steps)
    if args.method == "anil":
        return anil.ANIL(steps, args.inner_lr)
    if args.method == "cavia":
        return cavia.CAVIA(args.n_context, steps, args.inner_lr)
    if args.method in RULES:
        return learned_opt.LearnedOptimizer(RULES[args.method](args.hidden), steps, learn_init=not args.fixed_init)
    if refined:
        weights = args.step_weights or [0.0] * (steps - 1) + [1.0]
        if len(weights) != steps:
            raise ValueError(f"--step-weights needs one weight per inner step ({steps}), got {len(weights)}")
        return MAMLPlus(model, args.iterations, weights, args.inner_lr, args.learn_unit_scales, args.relu_smoothing,
                        args.smooth_layers, first_order=args.method == "fomaml")
    return MAML(steps, args.inner_lr, first_order=args.method == "fomaml")


def start_model(args: argparse.Namespace) -> nn.Module:
    """The network training starts from: a fresh one (CAVIA's takes a context too) or a shipped one (--init)."""
    if args.init is not None and args.method == "cavia":
        raise ValueError("--init starts from a shipped sine network; CAVIA's network also reads a context, "
                         "so it trains from a fresh one")
    if args.fixed_init and args.method not in RULES:
        raise ValueError(f"--fixed-init keeps a learned optimiser's start fixed; --method {args.method} has none")
    if args.init is not None:
        return load_pretrained(args.init)
    return cavia.make_cavia_model(args.n_context) if args.method == "cavia" else make_model()


def extras_of(objective: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """What a checkpoint must keep beside the weights to adapt like the objective: learned rates or a rule."""
    if isinstance(objective, metasgd.MetaSGD):
        return {metasgd.KEY: {n: r.detach() for n, r in objective.inner_lr.items()}}
    if isinstance(objective, learned_opt.LearnedOptimizer):
        return {learned_opt.KEY: {n: w.detach() for n, w in objective.rule.state_dict().items()}}
    return {}


def scoring(method: str, model: nn.Module, extras: dict, inner_lr: float) -> dict:
    """How a checkpoint of `method` adapts at test time: keyword arguments for `evaluate`."""
    if method == "metasgd":
        return {"inner_lr": extras[metasgd.KEY]}
    if method == "anil":
        return {"inner_lr": anil.head_rates(model, inner_lr)}
    if method == "cavia":
        return {"adapter": cavia.adapter(inner_lr)}
    if method in RULES:
        return {"adapter": learned_opt.adapter(learned_opt.rule_from(extras[learned_opt.KEY]))}
    return {"inner_lr": inner_lr}


def _numbers(kind: type, text: str) -> list:
    try:
        return [kind(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m maml_lite.cli", description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=METHODS, default="maml")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--meta-batch", type=int, default=25)
    ap.add_argument("--k-shot", type=int, default=10, help="support points per task")
    ap.add_argument("--k-query", type=int, default=None, help="query points per task (default: k-shot)")
    ap.add_argument("--inner-steps", type=int, default=None)
    ap.add_argument("--inner-lr", type=float, default=None, help="default 0.01 (CAVIA: 1.0)")
    ap.add_argument("--outer-lr", type=float, default=1e-3)
    ap.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    ap.add_argument("--step-weights", type=lambda v: _numbers(float, v), default=None,
                    help="weights of the query loss after each inner step, e.g. 0.7,0.3 (MAML++'s multi-step loss)")
    ap.add_argument("--learn-unit-scales", action="store_true",
                    help="also learn per-unit scales (ReLU's rescaling symmetry), folded into the weights at the end")
    ap.add_argument("--relu-smoothing", type=lambda v: tuple(_numbers(float, v)), default=None,
                    metavar="BETA_START,BETA_END", help="train through a softplus sharpening from BETA_START to "
                    "BETA_END over the first 80%% of iterations, then through the ReLU, e.g. 3,100")
    ap.add_argument("--smooth-layers", type=lambda v: tuple(_numbers(int, v)), default=None, metavar="N[,N...]",
                    help="hidden layers (1 = the first) that --relu-smoothing rounds off, e.g. 2; default: all")
    ap.add_argument("--init", choices=PRETRAINED, default=None,
                    help="start from a shipped checkpoint's weights, e.g. maml (default: a fresh network)")
    ap.add_argument("--fixed-init", action="store_true",
                    help="lstm_opt/meta_learner: learn only the update rule, keep the start (e.g. --init maml)")
    ap.add_argument("--hidden", type=int, default=20, help="lstm_opt/meta_learner: the rule's LSTM size")
    ap.add_argument("--n-context", type=int, default=2, help="cavia: context parameters")
    ap.add_argument("--eval-tasks", type=int, default=1000, help="tasks per K in the model card's evaluation")
    ap.add_argument("--note", default="", help="why this recipe: goes into the model card")
    ap.add_argument("--out", type=Path, required=True, help="checkpoint path, e.g. maml_lite/checkpoints/maml.pt")
    return ap


def _command(argv: list[str]) -> str:
    """The shell command that reproduces these weights (--note only annotates the card, so it is left out)."""
    args = list(argv)
    if "--note" in args:
        i = args.index("--note")
        del args[i:i + 2]
    return shlex.join(["python", "-m", "maml_lite.cli", *[a for a in args if not a.startswith("--note=")]])


def _check_out(ap: argparse.ArgumentParser, out: Path) -> None:
    """Fail now, not after training, if the checkpoint or its card cannot be written."""
    if out.suffix != ".pt" or out.is_dir():
        ap.error(f"--out must be a file path ending in .pt, got {out}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for path in (out, out.with_suffix(".json")):
            existed = path.exists()
            with open(path, "ab"):
                pass
            if not existed:
                os.remove(path)
    except OSError as e:
        ap.error(f"cannot write {out} or its model card: {e.strerror or e}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = parser()
    args = ap.parse_args(argv)
    if not 2 <= args.eval_tasks <= 100_000:
        ap.error(f"--eval-tasks must be between 2 and 100000 (the confidence interval needs 2), got {args.eval_tasks}")
    _check_out(ap, args.out)
    torch.set_num_threads(1)
    if args.inner_lr is None:
        args.inner_lr = DEFAULT_INNER_LR.get(args.method, 0.01)
    torch.manual_seed(args.seed)
    try:
        model = start_model(args)
        objective = objective_for(args, model)  # checks the refinement flags before any training
    except (TypeError, ValueError) as e:
        ap.error(str(e))
    try:  # meta_train checks its own settings before the first iteration
        history = meta_train(model, objective, args.iterations, args.seed, args.meta_batch, args.k_shot, args.k_query,
                             args.outer_lr, args.schedule)
    except DivergenceError as e:
        ap.exit(1, f"{ap.prog}: error: {e}\nNothing was written.\n")
    except (TypeError, ValueError) as e:
        ap.error(str(e))
    finally:
        if isinstance(objective, MAMLPlus):  # the learned unit scales become part of the weights
            objective.fold_into(model)
    extras = extras_of(objective)
    save_checkpoint(model, args.out, extras, method=args.method)
    how = scoring(args.method, model, extras, args.inner_lr)
    card = {
        "name": args.out.stem, "method": args.method,
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "note", "eval_tasks")},
        "recipe_note": args.note, "command": _command(argv),
        "training_seconds": round(history.seconds, 1), "interrupted": history.interrupted,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "final_train_loss": history.loss[-1] if history.loss else None,
        "evaluation": {f"K={k}": asdict(evaluate(model, k, n_tasks=args.eval_tasks, **how))
                       for k in (5, 10, 20)},
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    for k, table in card["evaluation"].items():
        print(k, "MSE after 0/1/5/10 steps:", [round(table["mean"][s], 3) for s in (0, 1, 5, 10)],
              "diverged at 10:", table["diverged"][10])
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} ({history.seconds:.0f} s of training)")


if __name__ == "__main__":
    main()
