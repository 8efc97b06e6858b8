"""The static character playground's data (web/characters/data.js) is what the shipped checkpoints
and the Omniglot test split export.

`python -m maml_lite.playground.export_characters` writes it; if a checkpoint is retrained, or the
export changes, this fails until the file is exported again and committed. The browser test
(tests/browser/test_static_characters.py) checks the page's maths against the package; this one
checks the numbers it starts from, with no browser.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from maml_lite.omniglot import OmniglotTasks
from maml_lite.playground import export_characters as ex

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "web" / "characters" / "data.js"
FIX = ("run `python -m maml_lite.playground.export_characters` and commit "
       "web/characters/data.js")


@pytest.fixture(scope="module")
def fresh() -> dict:
    torch.set_num_threads(1)
    return ex.payload()


@pytest.fixture(scope="module")
def tracked() -> dict:
    return ex.parse(DATA.read_text(encoding="utf-8"))


def test_the_tracked_file_is_a_fresh_export(fresh):
    assert DATA.read_text(encoding="utf-8") == ex.render(fresh), FIX
    assert ex.render(ex.payload()) == ex.render(fresh)  # deterministic: byte-identical again
    assert ex.main(["--check", "--out", str(DATA)]) == 0


def test_the_command_line_checks_the_tracked_file():
    done = subprocess.run([sys.executable, "-m", "maml_lite.playground.export_characters",
                           "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + FIX
    assert "up to date" in done.stdout


def _edit_blob(text: str, name: str, edit) -> str:
    """data.js's text with model `name`'s weights decoded, changed by `edit`, and encoded again."""
    data = ex.parse(text)
    entry = next(m for m in data["models"] if m["name"] == name)
    old = entry["weights"]["data"]
    values = ex.decode(entry["weights"]).copy()
    edit(values)
    new = ex._blob(values.astype(np.float32))["data"]
    assert new != old and text.count(old) == 1
    return text.replace(old, new)


def test_check_fails_on_a_modified_copy(tmp_path, capsys):
    text = DATA.read_text(encoding="utf-8")
    bad = tmp_path / "data.js"

    def one_weight(values: np.ndarray) -> None:
        values[123] = np.nextafter(np.float32(values[123]), np.float32(1))  # one float32 ulp

    for changed in (_edit_blob(text, "maml", one_weight),
                    text.replace('"inner_lr": 0.4', '"inner_lr": 0.5', 1),
                    text.replace('"n_way": 5', '"n_way": 6', 1),
                    text[:-3] + "\n"):
        assert changed != text
        bad.write_text(changed, encoding="utf-8")
        assert ex.main(["--check", "--out", str(bad)]) == 1
        assert "not what the shipped checkpoints export" in capsys.readouterr().err
    assert ex.main(["--check", "--out", str(tmp_path / "missing.js")]) == 1
    done = subprocess.run([sys.executable, "-m", "maml_lite.playground.export_characters",
                           "--check", "--out", str(bad)], cwd=ROOT, capture_output=True,
                          timeout=300)
    assert done.returncode == 1


def test_check_accepts_the_same_numbers_deflated_by_another_zlib(tmp_path, tracked, capsys):
    """Only what the page decodes counts: the same bytes deflated at another level (as another
    zlib build might) pass, with a note."""
    text = DATA.read_text(encoding="utf-8")
    blob = tracked["images"]
    other = base64.b64encode(zlib.compress(zlib.decompress(base64.b64decode(blob["data"])),
                                           1)).decode()
    assert other != blob["data"]
    copy = tmp_path / "data.js"
    copy.write_text(text.replace(blob["data"], other), encoding="utf-8")
    assert ex.main(["--check", "--out", str(copy)]) == 0
    assert "the same numbers" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(ex.MODELS))
def test_each_model_reads_back_as_the_checkpoints_float32_weights(tracked, name):
    entry = next(m for m in tracked["models"] if m["name"] == name)
    model, method = ex.load(name)
    flat = ex.decode(entry["weights"])
    own = dict(model.named_parameters())
    shipped = [p["name"] for p in entry["params"]]
    body = [n for n in own if not n.startswith("head.")]
    assert shipped == (list(own) if entry["adapt"] == "sgd" else body)
    for p in entry["params"]:
        size = int(np.prod(p["shape"]))
        values = flat[p["offset"]:p["offset"] + size]
        assert p["shape"] == list(own[p["name"]].shape)
        assert np.array_equal(values, own[p["name"]].detach().numpy().ravel()), (
            f"{name}.{p['name']} drifted; {FIX}")
    assert flat.size == sum(int(np.prod(p["shape"])) for p in entry["params"])
    assert entry["adapt"] == ex.MODELS[name][0] and entry["hidden"] == model.hidden
    assert entry.get("inner_lr") == getattr(method, "inner_lr", None)
    assert entry.get("weight_decay") == getattr(method, "weight_decay", None)


def test_the_page_gets_the_test_split_labels_and_colours(tracked):
    from maml_lite.plots import COLORS, LABELS

    tasks = OmniglotTasks("test")
    images = ex.decode(tracked["images"]).reshape(tracked["images"]["shape"])
    assert np.array_equal(images, tasks.images.numpy())
    assert tracked["alphabets"] == tasks.alphabets == ["Balinese", "Early_Aramaic"]
    assert [tracked["alphabets"][a] for a in tracked["class_alphabet"]] == tasks.class_alphabet
    assert len(tracked["class_name"]) == tasks.n_classes == 46
    assert [m["name"] for m in tracked["models"]] == list(ex.MODELS)
    for m in tracked["models"]:
        assert (m["label"], m["color"]) == (LABELS[m["name"]], COLORS[m["name"]])


def test_the_omniglot_notice_ships_with_the_data_and_the_page(tracked):
    notice = ex.LICENSE.read_text(encoding="utf-8")
    assert tracked["omniglot_license"] == notice
    page = (ROOT / "web" / "characters" / "index.html").read_text(encoding="utf-8")
    shown = re.search(r"<pre>(.*?)</pre>", page, re.S).group(1)
    assert shown.split() == notice.split()  # the same words, reflowed
    assert "Lake, Salakhutdinov and" in page and "Science" in page


def test_the_reference_is_the_playgrounds_probabilities():
    """reference() is CharacterPlayground's computation (a guard on the browser test's
    yardstick): rows are probabilities, a drawing is one more row, ProtoNet never changes with
    steps, the fine-tuned head starts at zero (every class 1/5)."""
    torch.set_num_threads(1)
    drawing = np.zeros((28, 28))
    drawing[4:24, 13:15] = 1.0
    ref = ex.reference([0, 5, 24, 30, 45], 3, drawing.ravel().tolist(), steps=2)
    for name, p in ref.items():
        assert p.shape == (3, 96, 5) and np.allclose(p.sum(-1), 1), name
    assert np.array_equal(ref["protonet"][0], ref["protonet"][2])
    assert np.allclose(ref["finetune"][0], 0.2)
    assert ex.accuracy(ref["finetune"])[0] == pytest.approx(19 / 95)  # ties: the first class
    plain = ex.reference([0, 5, 24, 30, 45], 3, steps=2, dtype=torch.float32)
    assert plain["maml"].shape == (3, 95, 5)
    assert ex.accuracy(plain["maml"])[2] > 0.5


def test_the_data_file_is_small():
    size = DATA.stat().st_size
    assert size < 2_500_000, f"data.js is {size / 1e6:.2f} MB: the page should stay under 2.5 MB"
