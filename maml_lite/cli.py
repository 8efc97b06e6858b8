"""Train one checkpoint from a recipe and write it with its model card.

    python -m maml_lite.cli --recipe maml --out maml_lite/checkpoints/maml.pt
    python -m maml_lite.cli --recipe maml --set training.iterations=200 --out /tmp/quick.pt

A recipe is a short TOML file (maml_lite/recipes/NAME.toml, or any path) with one value per line and
a reason beside each: [method] names the method and its arguments, [model] an optional shipped
start (or the conv net's width), [tasks] the task family (sine by default; "omniglot" with its
ways, rotations and shifts), [training] the arguments of `meta_train`, [card] how the card is
scored. --set overrides one
value. Every key is checked against what the method and meta_train take, and the output path is
tried, before training starts, so a typo costs seconds, not a training run. The card records the
recipe as run and the command, so it replays exactly.
"""

from __future__ import annotations

import argparse
import inspect
import platform
import shlex
import sys
import tomllib
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path

import torch

from .checkpoints import save_checkpoint
from .evaluate import evaluate, task_errors
from .methods import PRETRAINED, build_method, load_pretrained, methods
from .model import make_model
from .omniglot import ConvNet, OmniglotTasks
from .tasks import SineTasks
from .train import DivergenceError, History, meta_train

RECIPES = Path(str(files("maml_lite") / "recipes"))
# meta_train's knobs
TRAINING = ("iterations", "seed", "meta_batch", "k_shot", "k_query", "outer_lr", "schedule")
SECTIONS = {"method": None, "model": ("init", "hidden"), "training": TRAINING,
            "tasks": ("family", "n_way", "rotations", "shift"),
            "card": ("eval_tasks", "fresh_tasks", "note", "steps")}
CARD_KS = (5, 10, 20)
# (n_way, k_shot) of the paper's Table 1, scored on the test alphabets (which no recipe saw)
FEW_SHOT_CARD = ((5, 1), (5, 5), (20, 1))
FRESH_SEED = 31415  # tasks no recipe was chosen on and no card is scored on (cards use seed 2017)
RUNAWAY_MSE = 12.5  # the error of predicting 0 for a task of the largest amplitude, 5^2 / 2


def fresh_check(model: torch.nn.Module, method: torch.nn.Module, n_tasks: int,
                ks: tuple[int, ...] = CARD_KS) -> dict:
    """The runaway check on fresh tasks: at each K, after 10 inner steps, how many of `n_tasks`
    tasks diverged (MSE NaN, inf or above 100), how many ended above RUNAWAY_MSE, and the
    worst error."""
    out: dict = {"seed": FRESH_SEED, "n_tasks": n_tasks, "steps": 10}
    for k in ks:
        batch = SineTasks().sample(n_tasks, k, generator=torch.Generator().manual_seed(FRESH_SEED))
        errors = task_errors(model, batch, [10], method)[0]
        out[f"K={k}"] = {"diverged": int(SineTasks.diverged(errors).sum()),
                         "above_12.5": int((~(errors <= RUNAWAY_MSE)).sum()),
                         "worst": float(errors.nan_to_num(nan=float("inf")).max())}
    return out


def few_shot_card(model: ConvNet, method: torch.nn.Module, episodes: int,
                  steps: list[int]) -> dict:
    """The card of a character classifier: accuracy on `episodes` test episodes (seed 2017, 15
    query drawings per class) after each of `steps`, for each (n_way, k_shot) of FEW_SHOT_CARD."""
    return {f"{n}-way {k}-shot": asdict(evaluate(model.with_ways(n), k, steps, episodes,
                                                 method=method, tasks=OmniglotTasks("test", n)))
            for n, k in FEW_SHOT_CARD}


def tasks_of(recipe: dict) -> SineTasks | OmniglotTasks:
    """The recipe's training tasks: [tasks] family "sine" (default) or "omniglot"."""
    settings = dict(recipe.get("tasks", {}))
    family = settings.pop("family", "sine")
    if family == "sine" and not settings:
        return SineTasks()
    if family == "omniglot":
        return OmniglotTasks("train", **settings)
    raise ValueError(f"[tasks] family must be 'sine' (which takes no other keys) or 'omniglot', "
                     f"got {family!r} with {settings}")


def read_recipe(name_or_path: str) -> dict:
    """A recipe by name (maml_lite/recipes/NAME.toml) or path, as nested dicts."""
    path = (Path(name_or_path) if name_or_path.endswith(".toml")
            else RECIPES / f"{name_or_path}.toml")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES.glob("*.toml")))
        raise ValueError(f"no recipe {name_or_path!r}: give a .toml path or one of {known}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None


def apply_override(recipe: dict, assignment: str) -> None:
    """--set SECTION.KEY=VALUE, VALUE read as TOML (3, 0.01, true, "cosine", [0.7, 0.3]) or else as
    a string."""
    key, sep, text = assignment.partition("=")
    section, dot, name = key.strip().partition(".")
    if not (sep and dot and section and name):
        raise ValueError("--set takes SECTION.KEY=VALUE, e.g. training.iterations=200; got "
                         f"{assignment!r}")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    recipe.setdefault(section, {})[name] = value


def check_recipe(recipe: dict) -> None:
    """Refuse sections and keys that nothing reads (a method's own keys are checked when it
    is built)."""
    for section, values in recipe.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise ValueError(f"unknown recipe section [{section}]; the sections are "
                             f"{', '.join(SECTIONS)}")
        unknown = sorted(set(values) - set(SECTIONS[section] or values))
        if unknown:
            raise ValueError(f"[{section}] has no key {unknown[0]!r}; it takes "
                             f"{', '.join(SECTIONS[section])}")
    name = recipe.get("method", {}).get("name")
    if name not in methods():
        raise ValueError(f"[method] name must be one of {', '.join(methods())}, got {name!r}")
    init = recipe.get("model", {}).get("init")
    if init is not None and init not in PRETRAINED:
        raise ValueError(f"[model] init must be a shipped checkpoint ({', '.join(PRETRAINED)}), "
                         f"got {init!r}")


def build(recipe: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(model, method) as the recipe says, seeded: a fresh network (or the shipped [model] init) and
    the method."""
    config = {k: v for k, v in recipe["method"].items() if k != "name"}
    cls = methods()[recipe["method"]["name"]]
    init, hidden = recipe.get("model", {}).get("init"), recipe.get("model", {}).get("hidden")
    takes = inspect.signature(cls.__init__).parameters
    if "iterations" in takes and "iterations" not in config:
        # e.g. a smooth start's length
        config["iterations"] = recipe.get("training", {}).get("iterations", 1000)
    torch.manual_seed(recipe.get("training", {}).get("seed", 0))
    tasks = tasks_of(recipe)
    if isinstance(tasks, OmniglotTasks):  # the conv net, sized for the episodes
        model = ConvNet(tasks.n_way, 64 if hidden is None else hidden)
        return model, build_method(cls.name, config, model)
    if hidden is not None:
        raise ValueError("[model] hidden sets the conv net's width, for [tasks] family = "
                         "'omniglot' only")
    if "model" in takes:  # built around the network (its parameters' shapes): the network first
        model = load_pretrained(init)[0] if init else make_model()
        return model, build_method(cls.name, config, model)
    method = build_method(cls.name, config, None)
    model = method.make_model()
    if init:
        start = load_pretrained(init)[0]
        if start.config() != model.config():
            raise ValueError(f"[model] init {init!r} is a network {start.config()}, but {cls.name} "
                             f"trains a network {model.config()}; drop init to train a fresh one")
        model = start
    return model, method


def _check_out(out: Path) -> str | None:
    """Why the checkpoint or its card could not be written, or None: tried now, not
    after training."""
    if out.suffix != ".pt" or out.is_dir():
        return f"--out must be a file path ending in .pt, got {out}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.with_name(f".{out.name}.probe")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"cannot write {out} or its model card: {e.strerror or e}"
    return None


def card_header(out: Path, argv: list[str], recipe: dict, method: torch.nn.Module,
                history: History) -> dict:
    """What every card says before its figures: what was trained, by which command (it replays
    the recipe exactly), for how long, on how many threads and which versions."""
    return {
        "name": out.stem, "method": method.name, "recipe": recipe,
        "command": shlex.join(["python", "-m", "maml_lite.cli", *argv]),
        "training_seconds": round(history.seconds, 1), "interrupted": history.interrupted,
        "threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "final_train_loss": history.loss[-1] if history.loss else None,
    }


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m maml_lite.cli",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", required=True,
                    help="a recipe name in maml_lite/recipes (e.g. maml) or a .toml path")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override one recipe value, e.g. training.iterations=200 (repeatable)")
    ap.add_argument("--out", type=Path, required=True,
                    help="checkpoint path, e.g. maml_lite/checkpoints/maml.pt")
    return ap


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = parser()
    args = ap.parse_args(argv)
    try:
        recipe = read_recipe(args.recipe)
        for assignment in args.set:
            apply_override(recipe, assignment)
        check_recipe(recipe)
        model, method = build(recipe)
        tasks = tasks_of(recipe)
        eval_tasks = recipe.get("card", {}).get("eval_tasks", 1000)
        fresh_tasks = recipe.get("card", {}).get("fresh_tasks", 10_000)
        for key, value in (("eval_tasks", eval_tasks), ("fresh_tasks", fresh_tasks)):
            if type(value) is not int or not 2 <= value <= 100_000:
                raise ValueError(f"[card] {key} must be an int between 2 and 100000, got {value!r}")
    except (TypeError, ValueError) as e:
        ap.error(str(e))
    problem = _check_out(args.out)
    if problem:
        ap.error(problem)
    # one thread is fastest for the sine MLP; the conv net gains from two
    threads = 1 if isinstance(tasks, SineTasks) else min(2, torch.get_num_threads())
    torch.set_num_threads(threads)
    try:  # meta_train checks its own settings before the first iteration
        history = meta_train(model, method, **recipe.get("training", {}), tasks=tasks)
    except DivergenceError as e:
        ap.exit(1, f"{ap.prog}: error: {e}\nNothing was written.\n")
    except (TypeError, ValueError) as e:
        ap.error(str(e))
    method.finish(model)
    if isinstance(tasks, OmniglotTasks):
        few_shot_main(args.out, argv, recipe, model, method, history, eval_tasks)
        return
    print(f"trained in {history.seconds:.0f} s; scoring the card on {eval_tasks} tasks per K, and "
          f"{fresh_tasks} fresh ones for runaways...")
    card = {
        **card_header(args.out, argv, recipe, method, history),
        "evaluation": {f"K={k}": asdict(evaluate(model, k, n_tasks=eval_tasks, method=method))
                       for k in CARD_KS},
        "fresh_tasks": fresh_check(model, method, fresh_tasks),
    }
    # both files or neither: an interrupted write keeps the old pair
    save_checkpoint(model, args.out, method, card)
    for k, table in card["evaluation"].items():
        fresh = card["fresh_tasks"][k]
        print(k, f"{table['metric']} after 0/1/5/10 steps:",
              [round(table["mean"][s], 3) for s in (0, 1, 5, 10)],
              f"diverged at 10: {table['diverged'][10]} of {eval_tasks}, {fresh['diverged']} of "
              f"{fresh_tasks} fresh")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} ({history.seconds:.0f} s of "
          "training)")


def few_shot_main(out: Path, argv: list[str], recipe: dict, model: ConvNet,
                  method: torch.nn.Module, history: History, episodes: int) -> None:
    """Score and write a character classifier's checkpoint and card (the CLI's last part)."""
    steps = recipe.get("card", {}).get("steps", [0])
    print(f"trained in {history.seconds:.0f} s; scoring the card on {episodes} test episodes per "
          "setting...")
    card = {**card_header(out, argv, recipe, method, history),
            "evaluation": few_shot_card(model, method, episodes, steps)}
    save_checkpoint(model, out, method, card)
    for setting, table in card["evaluation"].items():
        print(setting, f"accuracy after {steps} steps:", [round(m, 4) for m in table["mean"]],
              "+-", [round(c, 4) for c in table["ci95"]])
    print(f"wrote {out} and {out.with_suffix('.json')} ({history.seconds:.0f} s of training)")


if __name__ == "__main__":
    main()
