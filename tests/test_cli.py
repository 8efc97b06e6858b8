"""`python -m maml_lite.cli` writes a loadable checkpoint and an honest model card."""

import json
import shlex

import torch

import maml_lite as ml
from maml_lite.cli import main
from maml_lite.maml_plus import MAMLPlus


def test_cli_writes_checkpoint_and_card(tmp_path, capsys):
    out = tmp_path / "tiny.pt"
    main(["--method", "fomaml", "--iterations", "20", "--eval-tasks", "10", "--note", "a test's recipe",
          "--out", str(out)])
    model = ml.load_checkpoint(out)
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["method"] == "fomaml" and card["recipe_note"] == "a test's recipe"
    assert card["config"]["iterations"] == 20 and card["versions"]["torch"] == torch.__version__
    assert set(card["evaluation"]) == {"K=5", "K=10", "K=20"} and card["evaluation"]["K=5"]["n_tasks"] == 10
    assert shlex.split(card["command"])[:3] == ["python", "-m", "maml_lite.cli"] and "--note" not in card["command"]
    assert card["evaluation"]["K=5"]["mean"] == ml.evaluate(model, 5, n_tasks=10).mean
    assert "wrote" in capsys.readouterr().out


def test_cli_passes_the_tuned_recipe_flags_to_meta_train(tmp_path):
    """maml_plus's flags (--step-weights, --learn-unit-scales, --relu-smoothing, --smooth-layers) reach meta_train:
    same weights as calling it."""
    out = tmp_path / "tuned.pt"
    main(["--method", "maml", "--k-shot", "5", "--k-query", "10", "--inner-steps", "2", "--step-weights", "0.7,0.3",
          "--learn-unit-scales", "--relu-smoothing", "3,100", "--smooth-layers", "2", "--outer-lr", "5e-3",
          "--iterations", "30", "--schedule", "cosine", "--eval-tasks", "10", "--out", str(out)])
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["config"]["learn_unit_scales"] is True and card["config"]["step_weights"] == [0.7, 0.3]
    assert card["config"]["relu_smoothing"] == [3.0, 100.0] and card["config"]["smooth_layers"] == [2]
    torch.manual_seed(0)
    direct = ml.make_model()
    objective = MAMLPlus(direct, 30, (0.7, 0.3), learn_unit_scales=True, relu_smoothing=(3.0, 100.0),
                         smooth_layers=(2,))
    ml.meta_train(direct, objective, 30, 0, k_shot=5, k_query=10, outer_lr=5e-3, schedule="cosine", progress=False)
    objective.fold_into(direct)
    loaded = ml.load_checkpoint(out)
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), direct.parameters()))


def test_cli_trains_notebook_07s_methods_and_scores_each_its_own_way(tmp_path):
    """A learned optimiser's rule and CAVIA's context network survive the checkpoint, and each card's evaluation is
    the method's own adaptation (its rule, its context, its head), not plain SGD."""
    from maml_lite import anil, cavia
    from maml_lite.learned_opt import adapter, load_rule

    runs = {"meta_learner": ["--init", "maml", "--hidden", "4", "--inner-steps", "2"],
            "lstm_opt": ["--init", "maml", "--fixed-init", "--hidden", "4", "--inner-steps", "2"],
            "cavia": [], "anil": []}
    for method, flags in runs.items():
        out = tmp_path / f"{method}.pt"
        main(["--method", method, "--iterations", "3", "--meta-batch", "4", "--eval-tasks", "10", *flags,
              "--out", str(out)])
        card = json.loads(out.with_suffix(".json").read_text())
        if method in ("meta_learner", "lstm_opt"):
            model, rule = load_rule(out)
            how = {"adapter": adapter(rule)}
        elif method == "cavia":
            model = ml.load_checkpoint(out)
            assert model.sizes[0] == 3 and card["config"]["inner_lr"] == 1.0  # CAVIA's default rate
            how = {"adapter": cavia.adapter(1.0)}
        else:
            model = ml.load_checkpoint(out)
            how = {"inner_lr": anil.head_rates(model)}
        assert card["evaluation"]["K=5"]["mean"] == ml.evaluate(model, 5, n_tasks=10, **how).mean, method
        if method in ("meta_learner", "anil"):  # plain SGD would give other figures (CAVIA's network cannot take it)
            assert card["evaluation"]["K=5"]["mean"] != ml.evaluate(model, 5, n_tasks=10).mean, method
    fixed, _ = load_rule(tmp_path / "lstm_opt.pt")
    assert all(torch.equal(a, b) for a, b in zip(fixed.parameters(), ml.load_pretrained("maml").parameters()))
