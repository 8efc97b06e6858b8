"""The static playground's weights (web/playground/weights.js) are what the shipped
checkpoints export.

`python -m maml_lite.playground.export` writes them; if a checkpoint is retrained, or the export
changes, this fails until the file is exported again and committed. The browser test
(tests/browser/test_static_playground.py) checks the page's maths against the package; this one
checks the numbers it starts from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from maml_lite.playground import export as export_web

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "web" / "playground" / "weights.js"
FIX = "run `python -m maml_lite.playground.export` and commit web/playground/weights.js"


@pytest.fixture(scope="module")
def tracked() -> dict:
    return export_web.parse(WEIGHTS.read_text(encoding="utf-8"))


def test_the_tracked_weights_are_a_fresh_export():
    assert WEIGHTS.read_text(encoding="utf-8") == export_web.render(export_web.payload()), FIX
    assert export_web.main(["--check", "--out", str(WEIGHTS)]) == 0


@pytest.mark.parametrize("name", list(export_web.MODELS))
def test_each_start_reads_back_as_the_checkpoints_float32_weights(tracked, name):
    entry = next(m for m in tracked["models"] if m["name"] == name)
    model, method = export_web.load(name)
    for exported, (pname, param) in zip(entry["params"], model.named_parameters(), strict=True):
        assert exported["name"] == pname and exported["shape"] == list(param.shape)
        # what the page does: parse the decimal as a double, then Math.fround it
        values = np.asarray(exported["data"], dtype=np.float64).astype(np.float32)
        assert np.array_equal(values, param.detach().numpy().ravel()), (
            f"{name}.{pname} drifted; {FIX}")
    if "rates" in entry:
        for exported, (rname, rate) in zip(entry["rates"], method.rates().items(), strict=True):
            assert exported["name"] == rname
            assert np.array_equal(np.asarray(exported["data"], dtype=np.float64).astype(np.float32),
                                  rate.detach().numpy().ravel()), (
                f"{name}: learned rate {rname} drifted; {FIX}")
    if "rule" in entry:
        state = method.rule.state_dict()
        for exported in entry["rule"]["weights"]:
            assert np.array_equal(np.asarray(exported["data"], dtype=np.float64).astype(np.float32),
                                  state[exported["name"]].numpy().ravel()), (
                f"{name}: rule drifted; {FIX}")


def test_the_page_gets_the_packages_labels_colours_and_updates(tracked):
    from maml_lite.plots import COLORS, LABELS

    assert [m["name"] for m in tracked["models"]] == list(export_web.MODELS)
    for m in tracked["models"]:
        assert (m["label"], m["color"]) == (LABELS[m["name"]], COLORS[m["name"]])
    by = {m["name"]: m for m in tracked["models"]}
    assert by["anil"]["head"] == ["layers.2.weight", "layers.2.bias"]
    assert by["cavia"]["inner_lr"] == 1.0 and by["cavia"]["n_context"] == 2
    assert (by["lstm_opt"]["rule"]["kind"] == "lstm"
            and by["meta_learner"]["rule"]["kind"] == "meta_learner")


def test_check_fails_on_a_drifted_file(tmp_path, capsys):
    text = WEIGHTS.read_text(encoding="utf-8")
    bad = tmp_path / "weights.js"
    bad.write_text(text.replace('"data": [', '"data": [1e-3,', 1), encoding="utf-8")
    assert export_web.main(["--check", "--out", str(bad)]) == 1
    assert "not what the shipped checkpoints export" in capsys.readouterr().err
    assert export_web.main(["--check", "--out", str(tmp_path / "missing.js")]) == 1


def test_the_reference_is_the_packages_adapt():
    """reference() for an SGD model is ml.adapt, one step at a time (a guard on the test's
    own yardstick)."""
    import maml_lite as ml

    torch.manual_seed(0)
    x, y = [-2.0, 0.5, 3.0], [1.0, -0.5, 2.0]
    ref = export_web.reference("maml", x, y, 2, 0.01)
    model, _ = ml.load_pretrained("maml")
    xs, ys = torch.tensor(x).view(-1, 1), torch.tensor(y).view(-1, 1)
    params = ml.adapt(model, xs, ys, inner_steps=2, inner_lr=0.01, first_order=True)
    grid = torch.linspace(-5, 5, export_web.N_GRID, dtype=torch.float64).float().view(-1, 1)
    with torch.no_grad():
        direct = ml.predict(model, params, grid)[:, 0].double().numpy()
    assert np.allclose(ref[2], direct, rtol=1e-5, atol=1e-6)
    assert export_web.diverged_at(ref) is None
    assert export_web.diverged_at(np.array([[0.0], [2e6], [1.0]])) == 1


def test_the_weights_file_is_small():
    size = WEIGHTS.stat().st_size
    assert size < 400_000, (f"weights.js is {size / 1e3:.0f} KB: the page should stay a few "
                            "hundred KB")
    json.dumps(export_web.parse(WEIGHTS.read_text()))  # plain JSON inside
