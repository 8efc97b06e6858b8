"""`python -m maml_lite.cli` trains from a recipe and writes a loadable checkpoint with an honest
model card."""

import json
import shlex

import pytest
import torch

import maml_lite as ml
from maml_lite.checkpoints import card_file_matches, read_checkpoint
from maml_lite.cli import RECIPES, apply_override, main, read_recipe
from maml_lite.methods import FEW_SHOT, PRETRAINED, methods
from maml_lite.methods.maml_plus import MAMLPlus

QUICK = ["--set", "training.iterations=20", "--set", "card.eval_tasks=10", "--set",
         "card.fresh_tasks=20"]


def test_cli_writes_checkpoint_and_card(tmp_path, capsys):
    out = tmp_path / "tiny.pt"
    main(["--recipe", "fomaml", *QUICK, "--set", "card.note='a test recipe'", "--out", str(out)])
    model, method = ml.load_checkpoint(out)
    card = json.loads(out.with_suffix(".json").read_text())
    assert card == read_checkpoint(out).card and card_file_matches(out)
    assert card["method"] == "fomaml" and type(method) is ml.FOMAML
    assert card["recipe"]["card"]["note"] == "a test recipe"
    assert (card["recipe"]["training"]["iterations"] == 20
            and card["versions"]["torch"] == torch.__version__)
    assert (set(card["evaluation"]) == {"K=5", "K=10", "K=20"}
            and card["evaluation"]["K=5"]["n_tasks"] == 10)
    assert shlex.split(card["command"])[:5] == ["python", "-m", "maml_lite.cli", "--recipe",
                                                "fomaml"]
    assert card["evaluation"]["K=5"]["mean"] == ml.evaluate(model, 5, n_tasks=10,
                                                            method=method).mean
    assert "wrote" in capsys.readouterr().out


def test_every_recipe_names_a_method_and_every_method_has_a_recipe_and_a_checkpoint():
    recipes = {p.stem: read_recipe(p.stem) for p in RECIPES.glob("*.toml")}
    assert set(recipes) == set(PRETRAINED)
    few_shot = {f"omniglot/{p.stem}": read_recipe(f"omniglot/{p.stem}")
                for p in (RECIPES / "omniglot").glob("*.toml")}
    assert set(few_shot) == set(FEW_SHOT)
    assert {r["method"]["name"] for r in (*recipes.values(), *few_shot.values())} == set(methods())


@pytest.mark.parametrize("name", PRETRAINED + FEW_SHOT)
def test_each_shipped_card_records_its_recipe_and_a_command_that_replays_it(name):
    """The card's recipe is the recipe file as run (after the command's --set overrides), so
    replaying the command trains exactly what the card describes; the card's method is what
    was trained."""
    card = ml.model_card(name)
    args = shlex.split(card["command"])
    assert args[:3] == ["python", "-m", "maml_lite.cli"] and args[args.index("--out") + 1] == \
        f"maml_lite/checkpoints/{name}.pt"
    recipe = read_recipe(args[args.index("--recipe") + 1])
    for i, arg in enumerate(args):
        if arg == "--set":
            apply_override(recipe, args[i + 1])
    assert card["recipe"] == recipe
    assert card["method"] == recipe["method"]["name"] == ml.load_pretrained(name)[1].name


def test_cli_passes_the_tuned_recipe_to_meta_train(tmp_path):
    """maml_plus's recipe (multi-step loss, unit scales, smooth start) reaches meta_train: same
    weights as calling it directly, and the card says maml_plus, not maml."""
    out = tmp_path / "tuned.pt"
    main(["--recipe", "maml_plus", "--set", "training.iterations=30", *QUICK[2:], "--out",
          str(out)])
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["method"] == "maml_plus" and card["recipe"]["method"]["step_weights"] == [0.7, 0.3]
    torch.manual_seed(0)
    direct = ml.make_model()
    method = MAMLPlus(direct, 30, (0.7, 0.3), learn_unit_scales=True, relu_smoothing=(3.0, 100.0),
                      smooth_layers=(2,))
    ml.meta_train(direct, method, 30, 0, meta_batch=50, k_shot=5, k_query=10, outer_lr=5e-3,
                  schedule="cosine", progress=False)
    method.finish(direct)
    loaded, again = ml.load_checkpoint(out)
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), direct.parameters()))
    assert type(again) is MAMLPlus and again.iterations == 30


def test_cli_trains_notebook_07s_methods_and_scores_each_its_own_way(tmp_path):
    """A learned optimiser's rule and CAVIA's context network survive the checkpoint, and each
    card's evaluation is the method's own adaptation (its rule, its context, its head), not
    plain SGD."""
    runs = {"meta_learner": ["--set", "method.hidden=4", "--set", "method.inner_steps=2"],
            "lstm_opt": ["--set", "method.hidden=4", "--set", "method.inner_steps=2"],
            "cavia": [], "anil": []}
    for name, flags in runs.items():
        out = tmp_path / f"{name}.pt"
        main(["--recipe", name, "--set", "training.iterations=3", "--set", "training.meta_batch=4",
              *QUICK[2:], *flags, "--out", str(out)])
        card = json.loads(out.with_suffix(".json").read_text())
        model, method = ml.load_checkpoint(out)
        assert method.name == name == card["method"]
        assert (card["evaluation"]["K=5"]["mean"]
                == ml.evaluate(model, 5, n_tasks=10, method=method).mean), name
        # plain SGD would give other figures (CAVIA's network cannot take it)
        if name in ("meta_learner", "anil"):
            assert card["evaluation"]["K=5"]["mean"] != ml.evaluate(model, 5, n_tasks=10).mean, name
    fixed, _ = ml.load_checkpoint(tmp_path / "lstm_opt.pt")
    shipped, _ = ml.load_pretrained("maml")
    assert all(torch.equal(a, b) for a, b in zip(fixed.parameters(), shipped.parameters()))


def test_cli_trains_character_classifiers_through_meta_train(tmp_path):
    """An omniglot recipe builds the conv net and the episodes, trains through the same meta_train
    (same weights as calling it directly) and scores its card on the test alphabets by the
    method's own adaptation."""
    from maml_lite.methods.protonet import ProtoNet
    from maml_lite.omniglot import ConvNet, OmniglotTasks

    out = tmp_path / "characters.pt"
    main(["--recipe", "omniglot/protonet", "--set", "training.iterations=3", "--set",
          "model.hidden=8", "--set", "card.eval_tasks=4", "--out", str(out)])
    card = json.loads(out.with_suffix(".json").read_text())
    assert list(card["evaluation"]) == ["5-way 1-shot", "5-way 5-shot", "20-way 1-shot"]
    torch.manual_seed(0)
    direct = ConvNet(20, 8)
    ml.meta_train(direct, ProtoNet(), 3, 0, meta_batch=4, k_shot=1, k_query=5, outer_lr=1e-3,
                  schedule="cosine", progress=False, tasks=OmniglotTasks("train", 20, shift=2))
    loaded, method = ml.load_checkpoint(out)
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), direct.parameters()))
    again = ml.evaluate(loaded.with_ways(20), 1, [0], 4, method=method,
                        tasks=OmniglotTasks("test", 20))
    assert card["evaluation"]["20-way 1-shot"]["mean"] == again.mean
    with pytest.raises(SystemExit):  # the conv net's width is for character recipes only
        main(["--recipe", "maml", "--set", "model.hidden=8", "--out", str(tmp_path / "x.pt")])

