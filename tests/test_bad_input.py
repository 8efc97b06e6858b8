"""Every bad input gets a clear ValueError/TypeError that says what to do, and loses nothing."""

import json
import math
from pathlib import Path

import pytest
import torch

import maml_lite as ml
from maml_lite.checkpoints import save_checkpoint, weights_hash
from maml_lite.methods import load_checkpoint
from maml_lite.methods.reptile import Reptile

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
        ml.adapt(ml.make_model(), torch.zeros(2, 1, dtype=torch.long),
                 torch.zeros(2, 1, dtype=torch.long))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"inner_lr": -0.1}, ValueError, "inner_lr must be a finite number >= 0"),
    ({"inner_lr": math.nan}, ValueError, "inner_lr"),
    ({"inner_steps": -1}, ValueError, "inner_steps must be at least 0"),
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
    with pytest.raises(ValueError, match="maml, fomaml, pretrain"):
        ml.meta_train(ml.make_model(), "mamll", iterations=1, progress=False)
    # says how to pass it
    with pytest.raises(ValueError, match=r"maml_lite\.methods\.reptile\.Reptile\(\)"):
        ml.meta_train(ml.make_model(), "reptile", iterations=1, progress=False)
    with pytest.raises(ValueError, match="outer_lr"):
        ml.meta_train(ml.make_model(), "maml", iterations=1, outer_lr=-1.0, progress=False)


def test_unknown_checkpoint_lists_the_valid_ones():
    with pytest.raises(ValueError, match="anil, cavia, fomaml, lstm_opt, maml, maml_plus"):
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
    # weights no longer fit the sizes
    payload["state_dict"]["layers.1.weight"] = torch.zeros(64, 40)
    payload["card"] = json.dumps({"weights_sha256": weights_hash(payload["state_dict"],
                                                                 payload["method_state"])})
    torch.save(payload, path)
    with pytest.raises(ValueError, match="weights of another shape"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a maml_lite checkpoint"):
        load_checkpoint(path)


def test_checkpoint_round_trip(tmp_path):
    model = ml.make_model(hidden=(8,), activation="tanh")
    save_checkpoint(model, tmp_path / "small.pt", ml.FOMAML(inner_steps=2, inner_lr=0.05))
    loaded, method = load_checkpoint(tmp_path / "small.pt")
    assert loaded.sizes == (1, 8, 1) and loaded.activation == "tanh"
    assert torch.equal(loaded(X), model(X))
    assert type(method) is ml.FOMAML and (method.inner_steps, method.inner_lr) == (2, 0.05)


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
    history = ml.meta_train(model, "fomaml", iterations=1000, log_every=10, callback=interrupt,
                            progress=False)
    assert history.interrupted and len(history.loss) == 2 and history.iterations == [10, 20]
    assert "Interrupted after 20 of 1000 iterations" in capsys.readouterr().out
    # training so far is kept
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


# --------------------------------------------------------------------------------------------------
# Issue 15: every bad input a clear error before any work, nothing lost
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda m: ml.adapt(m, torch.zeros(5), torch.zeros(5)), ValueError, r"x\[:, None\]"),
    (lambda m: ml.adapt(m, X.double(), Y.double()), TypeError, "model is torch.float32"),
    (lambda m: ml.adapt(m, X, Y, inner_steps=10**6), ValueError,
     "more than 1000.*first_order=True"),
    (lambda m: ml.adapt(m, X, Y, params={"w": torch.zeros(1)}), ValueError,
     "must name the model's parameters"),
    (lambda m: ml.adapt(m, X, Y, inner_lr={"layers.0.weight": torch.tensor(math.nan)}), ValueError,
     "finite"),
    (lambda m: ml.meta_train(m, "maml", 1, k_query=0), ValueError, "k_query must be at least 1"),
    (lambda m: ml.meta_train(m, "maml", 1, seed=1.5), TypeError, "seed must be an int"),
    (lambda m: ml.meta_train(m, "maml", -1), ValueError, "iterations must be at least 0"),
    (lambda m: ml.meta_train(m, "maml", "10"), TypeError, "iterations must be an int"),
    (lambda m: ml.meta_train(m, 3, 1), TypeError, "method must be a name or an nn.Module"),
    (lambda m: ml.meta_train(m, "maml", 1, schedule="linear"), ValueError,
     "'constant' or 'cosine'"),
    (lambda m: ml.MAML(inner_steps=-1), ValueError, "inner_steps must be at least 0"),
    (lambda m: Reptile(inner_lr=-1.0), ValueError, "inner_lr must be a finite number >= 0"),
    (lambda m: ml.evaluate(m, 5, seed=1.5), TypeError, "seed must be an int"),
    (lambda m: ml.evaluate(m, 5, n_tasks=1), ValueError, "n_tasks must be between 2"),
    (lambda m: ml.evaluate(m, 5, steps=[]), ValueError, "at least one step count"),
    (lambda m: ml.evaluate(m, 5, steps=[-1]), ValueError, "a step count must be at least 0"),
    (lambda m: ml.evaluate(m, 5, steps=[1]).at(7), ValueError, "step 7 was not evaluated"),
    (lambda m: ml.make_model(hidden=(10**6,)), ValueError, "between 1 and 4096"),
    (lambda m: ml.make_model(hidden=40), ValueError, "non-empty tuple"),
    (lambda m: ml.forward({"w": torch.zeros(1)}, X), ValueError, "layers.{i}.weight"),
    (lambda m: ml.forward(dict(m.named_parameters()), torch.zeros(5, 2)), ValueError,
     r"shape \(n, 1\)"),
    (lambda m: ml.predict(m, dict(m.named_parameters()), [1.0, 2.0]), ValueError,
     "x must be a tensor"),
    (lambda m: m(torch.zeros(5)), ValueError, r"shape \(n, 1\)"),
])
def test_bad_arguments_are_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call(ml.make_model())


def test_adapt_works_inside_no_grad():
    with torch.no_grad():
        adapted = ml.adapt(ml.make_model(), X, Y, inner_steps=2)
    assert all(torch.isfinite(p).all() for p in adapted.values())


class AtIteration(ml.MAML):
    """MAML that knows which training iteration it is in (it counts its calls): to fault at one."""

    def __init__(self, iteration: int) -> None:
        super().__init__()
        self.at, self.calls = iteration, 0

    def config(self) -> dict:
        return {}

    def now(self) -> bool:
        """Count this call; True at the iteration to fault at."""
        self.calls += 1
        return self.calls == self.at


class BlowsUpAt(AtIteration):
    """MAML whose loss becomes NaN at one iteration: a divergence at a known moment."""

    def forward(self, model, batch):
        now = self.now()
        loss = super().forward(model, batch)
        return loss * math.nan if now else loss


def test_a_divergence_keeps_the_history_so_far():
    model = ml.make_model()
    calls = []
    with pytest.raises(ml.DivergenceError) as info:
        ml.meta_train(model, BlowsUpAt(23), iterations=300, log_every=5,
                      callback=lambda h: calls.append(len(h.loss)), progress=False)
    history = info.value.history
    assert history.iterations == [5, 10, 15, 20] and calls == [1, 2, 3, 4]
    assert all(math.isfinite(v) for v in history.loss)
    assert "iteration 23" in str(info.value) and "the loss became NaN" in str(info.value)
    assert "error.history" in str(info.value)


def payload(**changes):
    """A well-formed v2 checkpoint's fields, with `changes`; the card's hash is made to fit
    the tensors."""
    model = ml.make_model(hidden=(3,))
    p = {"format": "maml_lite-checkpoint-v2", "model": {"kind": "mlp", **model.config()},
         "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
         "method": {"name": "maml", "config": ml.MAML().config()}, "method_state": {}}
    p.update(changes)
    tensors = [p.get(f) if isinstance(p.get(f), dict) else {}
               for f in ("state_dict", "method_state")]
    if all(isinstance(v, torch.Tensor) for t in tensors for v in t.values()):
        p.setdefault("card", json.dumps({"weights_sha256": weights_hash(*tensors)}))
    return p


@pytest.mark.parametrize("content, message", [
    (b"", "empty \\(0 bytes\\)"),
    (b"\x00" * 64, "truncated or corrupt"),
    (payload(model={"kind": "mlp", "sizes": None, "activation": "relu"}), "cannot be built"),
    # not allocated
    (payload(model={"kind": "mlp", "sizes": [1, 10**6, 1], "activation": "relu"}),
     "cannot be built"),
    (payload(model={"kind": "mlp", "sizes": [1] * 40, "activation": "relu"}), "cannot be built"),
    (payload(model={"kind": "mlp", "sizes": [1, 3, 1], "activation": "gelu"}), "cannot be built"),
    (payload(model={"kind": "resnet"}), "unknown kind 'resnet'"),
    (payload(model=[1, 3, 1]), "describes no known network"),
    (payload(state_dict={}), "weights of another shape"),
    (payload(state_dict="weights"), "must map names to floating-point tensors"),
    (payload(state_dict={k: v.long() for k, v in payload()["state_dict"].items()}),
     "floating-point"),
    (payload(state_dict={**payload()["state_dict"], "layers.0.bias": torch.full((3,), math.nan)}),
     "NaN or inf"),
    (payload(method_state={"learned.0": torch.full((3, 1), math.inf)}), "NaN or inf"),
    (payload(method={"name": "mamlx", "config": {}}), "unknown method 'mamlx'"),
    (payload(method={"name": "maml", "config": {"inner_lr": -1.0}}), "inner_lr must be"),
    (payload(method={"name": "maml", "config": {"hidden": 3}}),
     "unexpected keyword argument 'hidden'"),
    (payload(method=3), "names no method"),
    (payload(method_state={"learned.0": torch.zeros(3, 1)}), "method's tensors of another shape"),
    (payload(card="{not json"), "card is not a JSON object"),
    (payload(card=json.dumps({"weights_sha256": "0" * 64})), "card belongs to other weights"),
    ({**payload(), "extra": "field"}, "has fields"),
    ({"format": "maml_lite-checkpoint-v1", "sizes": [1, 3, 1]}, "format 'maml_lite-checkpoint-v1'"),
    ({"format": "something else"}, "not a maml_lite checkpoint"),
    ([1, 2, 3], "not a maml_lite checkpoint"),
])
def test_malformed_checkpoints_are_a_value_error_naming_the_path(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_a_pickled_model_is_refused_with_what_to_do_instead(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(ml.make_model(), path)  # a whole module: loading it would unpickle code
    with pytest.raises(ValueError, match=r"a whole pickled model.*ml\.save_checkpoint") as info:
        load_checkpoint(path)
    # no terminal colour codes, and not torch's offer to load it unsafely
    assert "\x1b" not in str(info.value) and "[1m" not in str(info.value)
    assert "weights_only=False" not in str(info.value) and "trust" not in str(info.value)


@pytest.mark.parametrize("args, message", [
    (["--recipe", "maml", "--set", "card.eval_tasks=1"], "eval_tasks must be an int between 2"),
    (["--recipe", "maml_plus", "--set", "method.relu_smoothing=[100.0, 3.0]"],
     "beta_start <= beta_end"),
    (["--recipe", "maml", "--set", "method.step_weights=[0.5, 0.5]"],
     "unexpected keyword argument 'step_weights'"),
    (["--recipe", "maml", "--set", "training.k_query=0"], "k_query must be at least 1"),
    (["--recipe", "maml", "--set", "training.hidden=20"], "[training] has no key 'hidden'"),
    (["--recipe", "maml", "--set", "method.n_context=2"],
     "unexpected keyword argument 'n_context'"),
    (["--recipe", "lstm_opt", "--set", "method.inner_lr=0.1"],
     "unexpected keyword argument 'inner_lr'"),
    (["--recipe", "maml", "--set", "method.name=mamlx"], "name must be one of"),
    (["--recipe", "mamlx"], "no recipe 'mamlx'"),
    (["--recipe", "cavia", "--set", "model.init=maml"], "init 'maml' is a network"),
    (["--recipe", "meta_learner", "--set", "method.hidden=0"], "hidden must be between 1"),
    (["--recipe", "cavia", "--set", "method.n_context=0"], "n_context must be between 1"),
    (["--recipe", "lstm_opt", "--set", "method.inner_steps=0"], "inner_steps must be between 1"),
    (["--recipe", "maml", "--set", "model.init=mamll"], "init must be a shipped checkpoint"),
    (["--recipe", "maml", "--set", "iterations=5"], "SECTION.KEY=VALUE"),
    (["--recipe", "maml", "--set", "optimizer.lr=5"], "unknown recipe section [optimizer]"),
])
def test_cli_refuses_bad_recipes_before_training(tmp_path, capsys, monkeypatch, args, message):
    """Every value a recipe holds is read by something, and checked in seconds, before any training
    (if the checks went, training would start: that fails here at once, not after minutes)."""
    from maml_lite.cli import main

    monkeypatch.setattr(torch.optim.Adam, "step",
                        lambda *a, **k: pytest.fail("training started before the checks"))
    out = tmp_path / "m.pt"
    with pytest.raises(SystemExit) as info:
        main([*args, "--set", "training.iterations=100000", "--out", str(out)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize("where", ["directory", "unwritable", "suffix"])
def test_cli_tries_the_output_path_before_training(tmp_path, capsys, where):
    from maml_lite.cli import main

    out = {"directory": tmp_path, "unwritable": Path("/proc/maml_lite_test/m.pt"),
           "suffix": tmp_path / "m.txt"}[where]
    with pytest.raises(SystemExit) as info:
        main(["--recipe", "maml", "--set", "training.iterations=100000", "--out", str(out)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and ("--out" in err or "cannot write" in err)
    assert "Traceback" not in err


class NonFiniteGradient(torch.autograd.Function):
    """Identity forward; a NaN gradient backward."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * math.inf


class OwnParameterBlowsUpAt(AtIteration):
    """MAML with a parameter of its own whose gradient becomes NaN at one iteration (the model's
    stay finite)."""

    def __init__(self, iteration: int) -> None:
        super().__init__(iteration)
        self.scale = torch.nn.Parameter(torch.ones(3))

    def forward(self, model, batch):
        scale = NonFiniteGradient.apply(self.scale) if self.now() else self.scale
        return super().forward(model, batch) + 0.0 * scale.sum()


def test_divergence_in_the_methods_own_parameters_is_caught_at_once():
    """meta_train checks the gradients of the method's own parameters too, not only the model's: the
    error comes at the iteration that went wrong, names the meta-gradient, and no parameter is
    stepped with it."""
    model, method = ml.make_model(), OwnParameterBlowsUpAt(4)
    with pytest.raises(ml.DivergenceError,
                       match="iteration 4: the meta-gradient became NaN or inf"):
        ml.meta_train(model, method, iterations=10, log_every=1, progress=False)
    assert torch.isfinite(method.scale).all() and all(torch.isfinite(p).all()
                                                      for p in model.parameters())


@pytest.mark.parametrize("loss, message", [
    (lambda m, b: 1.5, "float"),
    (lambda m, b: ml.MAML()(m, b).expand(3), r"torch.Size\(\[3\]\)"),
])
def test_a_method_must_return_a_scalar_loss(loss, message):
    class Odd(ml.MAML):
        def forward(self, model, batch):
            return loss(model, batch)

    with pytest.raises(TypeError, match=f"Odd must return the loss as a scalar tensor.*{message}"):
        ml.meta_train(ml.make_model(), Odd(), iterations=2, progress=False)


@pytest.mark.parametrize("call, message", [
    (lambda: ml.meta_train(ml.make_model(), "maml", 1, meta_batch=10**9, progress=False),
     "lower meta_batch"),
    (lambda: ml.evaluate(ml.make_model(), k_shot=10**9, n_tasks=2), "k_shot"),
    (lambda: ml.evaluate(ml.make_model(), k_shot=10**6, n_tasks=2), "lower k_shot"),
    (lambda: ml.meta_train(ml.make_model(), ml.MAML(inner_steps=1000), 1, meta_batch=1000,
                           k_shot=100, progress=False), "inner_steps"),
])
def test_memory_is_checked_before_it_is_spent(call, message, monkeypatch):
    """What would not fit is refused in milliseconds, naming the argument to lower and how to raise
    the limit."""
    with pytest.raises(ValueError, match=f"GB of memory.*{message}.*MAML_LITE_MEMORY_GB"):
        call()
    monkeypatch.setenv("MAML_LITE_MEMORY_GB", "lots")
    with pytest.raises(ValueError, match="MAML_LITE_MEMORY_GB must be a number"):
        call()


@pytest.mark.slow
def test_evaluate_runs_many_tasks_and_a_float64_model_without_running_out_of_memory():
    """Tasks are adapted a chunk at a time: 100,000 tasks need no more memory than 100; a float64
    model is simply scored in float64."""
    model = ml.make_model()
    many = ml.evaluate(model, 5, steps=[0, 1], n_tasks=100_000)
    assert many.n_tasks == 100_000 and all(math.isfinite(m) for m in many.mean)
    torch.testing.assert_close(torch.tensor(ml.evaluate(model.double(), 5, [0, 1],
                                                        n_tasks=20).mean),
                               torch.tensor(ml.evaluate(model.float(), 5, [0, 1], n_tasks=20).mean),
                               rtol=1e-5, atol=0)


def test_float64_simply_works_and_a_method_of_another_dtype_says_what_to_convert():
    """A float64 model trains on float64 tasks (meta_train converts the sampled batch); a method
    whose own tensors (an update rule, learned rates) are float32 beside a float64 model is refused
    with the conversion to make."""
    from maml_lite.methods.learned_opt import MetaLearner

    model = ml.make_model().double()
    history = ml.meta_train(model, "maml", 3, log_every=1, progress=False)
    assert len(history.loss) == 3 and all(p.dtype == torch.float64 for p in model.parameters())
    with pytest.raises(TypeError,
                       match=r"method's own tensors are \['torch.float32'\] but the model is "
                                        r"torch.float64.*method.to\(torch.float64\)"):
        ml.evaluate(model, 5, [1], n_tasks=4, method=MetaLearner(hidden=4))
    assert ml.evaluate(model, 5, [1], n_tasks=4, method=MetaLearner(hidden=4).double()).n_tasks == 4
