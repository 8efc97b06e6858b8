"""`python -m maml_lite.train` writes a loadable checkpoint and an honest model card."""

import json
import shlex

import torch

import maml_lite as ml
from maml_lite.train import main


def test_cli_writes_checkpoint_and_card(tmp_path, capsys):
    out = tmp_path / "tiny.pt"
    main(["--method", "fomaml", "--iterations", "20", "--eval-tasks", "10", "--note", "a test's recipe",
          "--out", str(out)])
    model = ml.load_checkpoint(out)
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["method"] == "fomaml" and card["recipe_note"] == "a test's recipe"
    assert card["config"]["iterations"] == 20 and card["versions"]["torch"] == torch.__version__
    assert set(card["evaluation"]) == {"K=5", "K=10", "K=20"} and card["evaluation"]["K=5"]["n_tasks"] == 10
    assert shlex.split(card["command"])[:3] == ["python", "-m", "maml_lite.train"] and "--note" not in card["command"]
    assert card["evaluation"]["K=5"]["mean"] == ml.evaluate(model, 5, n_tasks=10).mean
    assert "wrote" in capsys.readouterr().out
