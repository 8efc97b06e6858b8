"""Nothing lost: a checkpoint and its card are written as one, and a failed, interrupted or
concurrent write never destroys the last good pair or leaves a card beside weights it does not
describe (issue 26).

Each data-loss case is injected for real: a file-size limit that fills the "disk" midway, a Ctrl-C
at each stage of the CLI's write, two processes writing the same path at once.
"""

import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import maml_lite as ml
from maml_lite.checkpoints import card_file_matches, read_checkpoint, save_checkpoint

X = torch.linspace(-5, 5, 7)[:, None]


def good_pair(path: Path, seed: int = 0) -> torch.Tensor:
    """Write a checkpoint whose card says which seed made it; return the network's output on X."""
    torch.manual_seed(seed)
    model = ml.make_model()
    save_checkpoint(model, path, ml.MAML(), {"made_by": f"seed {seed}"})
    return model(X).detach()


def assert_intact(path: Path, seed: int, output: torch.Tensor) -> None:
    """The pair at `path` is the good one written with `seed`: it loads, its card is its own,
    nothing else left."""
    model, _ = ml.load_checkpoint(path)
    assert torch.equal(model(X), output)
    assert read_checkpoint(path).card["made_by"] == f"seed {seed}" and card_file_matches(path)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name,
                                                                    path.with_suffix(".json").name])


def test_a_disk_that_fills_up_midway_keeps_the_previous_pair(tmp_path):
    """A 4 KiB file-size limit (a full disk, for this process): the write fails with an error that
    says so, and the earlier good checkpoint and card are untouched (the old code left a partial
    4096-byte file)."""
    path = tmp_path / "m.pt"
    output = good_pair(path)
    script = f"""
import resource, signal, torch, maml_lite as ml
# the write then fails with EFBIG instead of killing the process
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
torch.manual_seed(1)
try:
    ml.save_checkpoint(ml.make_model(), {str(path)!r}, ml.MAML(), {{"made_by": "seed 1"}})
except OSError as e:
    print("refused:", e.strerror)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert "refused: File too large" in result.stdout, result.stdout + result.stderr
    assert_intact(path, 0, output)


@pytest.mark.parametrize("stage", ["weights", "card", "between the two renames"])
def test_ctrl_c_while_saving_keeps_a_consistent_pair(tmp_path, monkeypatch, stage):
    """Ctrl-C while the weights or the card are written leaves the previous pair whole. Between the
    two renames the new weights are in place with their card inside, and the JSON beside them says
    it is stale."""
    path = tmp_path / "m.pt"
    output = good_pair(path)
    real_save, real_replace = torch.save, os.replace
    replaced = []

    def interrupt_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        raise KeyboardInterrupt

    def interrupt_second_replace(src, dst):
        replaced.append(dst)
        if len(replaced) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    if stage == "weights":
        monkeypatch.setattr(torch, "save", interrupt_save)
    elif stage == "card":
        monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    else:
        monkeypatch.setattr(os, "replace", interrupt_second_replace)
    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(ml.make_model(), path, ml.MAML(), {"made_by": "seed 1"})
    monkeypatch.undo()
    if stage != "between the two renames":
        assert_intact(path, 0, output)
    else:
        # the card inside belongs to the new weights
        assert read_checkpoint(path).card["made_by"] == "seed 1"
        assert not card_file_matches(path)  # ... and the stale JSON beside them is detected
        assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_ctrl_c_during_the_clis_card_evaluation_writes_nothing(tmp_path, monkeypatch):
    """The CLI scores the card before writing anything: interrupted there, the old pair stays as
    it was."""
    import maml_lite.cli as cli

    path = tmp_path / "m.pt"
    output = good_pair(path)
    monkeypatch.setattr(cli, "evaluate", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        cli.main(["--recipe", "maml", "--set", "training.iterations=3", "--set",
                  "card.fresh_tasks=20", "--out", str(path)])
    assert_intact(path, 0, output)


def _write_many(path: str, seed: int, times: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = ml.make_model()
    for i in range(times):
        save_checkpoint(model, path, ml.MAML(), {"made_by": f"seed {seed}", "i": i})


def test_concurrent_writers_leave_one_whole_pair(tmp_path):
    """Two processes writing the same path 20 times each: the survivor is one writer's weights with
    that writer's card, inside and beside (the old CLI left run B's weights with run A's card, and
    both exited 0)."""
    path = tmp_path / "m.pt"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), seed, 20)) for seed in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert all(w.exitcode == 0 for w in workers)
    seed = int(read_checkpoint(path).card["made_by"].split()[1])
    torch.manual_seed(seed)
    assert_intact(path, seed, ml.make_model()(X).detach())


@pytest.mark.parametrize("spoil, message", [
    (lambda m: m.layers[0].bias.data.fill_(float("nan")), "NaN or inf"),
    (lambda m: m.layers[0].register_buffer("count", torch.zeros(3, dtype=torch.long)),
     "floating-point tensor"),
])
def test_save_refuses_first_what_load_would_refuse(tmp_path, spoil, message):
    path = tmp_path / "m.pt"
    output = good_pair(path)
    model = ml.make_model()
    spoil(model)
    with pytest.raises((ValueError, TypeError), match=message):
        save_checkpoint(model, path, ml.MAML(), {"made_by": "seed 1"})
    assert_intact(path, 0, output)


def test_save_refuses_a_card_or_config_that_is_not_plain_data(tmp_path):
    with pytest.raises(TypeError, match="plain data"):
        save_checkpoint(ml.make_model(), tmp_path / "m.pt", ml.MAML(), {"tensor": torch.zeros(2)})
    with pytest.raises(TypeError, match="maml_lite method"):
        save_checkpoint(ml.make_model(), tmp_path / "m.pt", "maml")
    assert not list(tmp_path.iterdir())


def test_a_card_copied_from_other_weights_is_refused(tmp_path):
    """A card always belongs to its weights: swapping the weights inside a file is caught by the
    card's hash."""
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    good_pair(a, 0), good_pair(b, 1)
    payload = torch.load(a, weights_only=True)
    payload["state_dict"] = torch.load(b, weights_only=True)["state_dict"]
    torch.save(payload, a)
    with pytest.raises(ValueError, match="card belongs to other weights"):
        ml.load_checkpoint(a)


def test_files_are_written_with_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        good_pair(tmp_path / "m.pt")
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o644"}


# used by the subprocess script's imports (kept importable here for clarity)
assert signal and resource
