"""Every bad input gets a clear ValueError/TypeError that says what to do, and loses nothing."""

import math

import pytest
import torch

import maml_lite as ml
from maml_lite.checkpoints import load_checkpoint, save_checkpoint

X = torch.linspace(-4, 4, 5)[:, None]
Y = torch.sin(X)


@pytest.mark.parametrize("x, y, message", [
    (torch.zeros(0, 1), torch.zeros(0, 1), "no support points"),
    (torch.tensor([[0.0], [math.nan]]), torch.zeros(2, 1), "NaN or inf"),
    (torch.zeros(2, 1), torch.tensor([[0.0], [math.inf]]), "NaN or inf"),
    (torch.zeros(3, 1), torch.zeros(4, 1), "same shape"),
    (torch.zeros(3), torch.zeros(3), "shape"),
    (torch.zeros(2, 3, 2), torch.zeros(2, 3, 2), "shape"),
])
def test_bad_points_raise_value_error(x, y, message):
    with pytest.raises(ValueError, match=message):
        ml.adapt(ml.make_model(), x, y)


def test_non_tensor_or_integer_points_raise_type_error():
    with pytest.raises(TypeError, match="torch.Tensor"):
        ml.adapt(ml.make_model(), [[0.0]], [[1.0]])
    with pytest.raises(TypeError, match="floating-point"):
        ml.adapt(ml.make_model(), torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"inner_lr": -0.1}, ValueError, "inner_lr must be a finite number >= 0"),
    ({"inner_lr": math.nan}, ValueError, "inner_lr"),
    ({"inner_steps": -1}, ValueError, "inner_steps must be between 0 and 1000"),
    ({"inner_steps": 1.5}, TypeError, "inner_steps must be an int"),
    ({"inner_lr": "0.01"}, TypeError, "inner_lr must be a number"),
])
def test_bad_inner_loop_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        ml.adapt(ml.make_model(), X, Y, **kwargs)


def test_sampler_rejects_k_zero_and_bad_ranges():
    with pytest.raises(ValueError, match="k_shot must be at least 1"):
        ml.SineTasks().sample(3, 0)
    with pytest.raises(ValueError, match="meta_batch must be at least 1"):
        ml.SineTasks().sample(0, 5)
    with pytest.raises(ValueError, match="amplitude"):
        ml.SineTasks(amplitude=(5.0, 0.1))
    with pytest.raises(ValueError, match="k_shot must be at least 1"):
        ml.evaluate(ml.make_model(), k_shot=0)


def test_unknown_objective_lists_the_valid_ones():
    with pytest.raises(ValueError, match="maml, fomaml, reptile, pretrain"):
        ml.meta_train(ml.make_model(), "mamll", iterations=1, progress=False)
    with pytest.raises(ValueError, match="outer_lr"):
        ml.meta_train(ml.make_model(), "maml", iterations=1, outer_lr=-1.0, progress=False)


def test_unknown_checkpoint_lists_the_valid_ones():
    with pytest.raises(ValueError, match="maml, fomaml, reptile, pretrain"):
        ml.load_pretrained("resnet")
    with pytest.raises(TypeError):
        ml.load_pretrained(3)


def test_truncated_checkpoint_says_corrupt(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(ml.make_model(), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="Regenerate"):
        load_checkpoint(tmp_path / "missing.pt")


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_code_is_refused_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "x", "payload": RunsCode()}, path)
    with pytest.raises(ValueError, match="not a readable maml_lite checkpoint"):
        load_checkpoint(path)
    assert "must never run" not in capsys.readouterr().out


def test_checkpoint_of_another_architecture_says_so(tmp_path):
    path = tmp_path / "wide.pt"
    save_checkpoint(ml.make_model(hidden=(40, 40)), path)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["layers.1.weight"] = torch.zeros(64, 40)  # weights no longer fit the sizes
    torch.save(payload, path)
    with pytest.raises(ValueError, match="weights of another shape"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a maml_lite checkpoint"):
        load_checkpoint(path)


def test_checkpoint_round_trip(tmp_path):
    model = ml.make_model(hidden=(8,), activation="tanh")
    save_checkpoint(model, tmp_path / "small.pt", method="maml")
    loaded = load_checkpoint(tmp_path / "small.pt")
    assert loaded.sizes == (1, 8, 1) and loaded.activation == "tanh"
    assert torch.equal(loaded(X), model(X))


def test_diverging_learning_rate_stops_with_a_message_and_keeps_finite_weights():
    model = ml.make_model()
    with pytest.raises(ml.DivergenceError, match="NaN or inf.*learning rate too large") as info:
        ml.meta_train(model, ml.MAML(inner_steps=5, inner_lr=50.0), iterations=200, progress=False)
    assert isinstance(info.value, ValueError) and "inner_lr=50" in str(info.value)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_ctrl_c_keeps_the_model_and_history(capsys):
    model = ml.make_model()
    calls = []

    def interrupt(history):
        calls.append(list(history.loss))
        if len(calls) == 2:
            raise KeyboardInterrupt

    before = [p.detach().clone() for p in model.parameters()]
    history = ml.meta_train(model, "fomaml", iterations=1000, log_every=10, callback=interrupt, progress=False)
    assert history.interrupted and len(history.loss) == 2 and history.iterations == [10, 20]
    assert "Interrupted after 20 of 1000 iterations" in capsys.readouterr().out
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # training so far is kept
