"""The playground's update logic (plain Python, no browser): right numbers, and every bad input a message."""

import math
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import maml_lite as ml
from maml_lite import widgets as mw
from maml_lite.metasgd import load_rates


@pytest.fixture(scope="module")
def models():
    """Five small networks with different starts (no checkpoints needed)."""
    return {name: mw.scratch_model(seed) for seed, name in enumerate(mw.MODELS)}


def points(k=5, amplitude=2.0, phase=1.0, seed=0, one_half=False):
    return mw.sample_points(amplitude, phase, k, one_half=one_half, seed=seed)


def finite_curves(state):
    """Every curve the view could draw, at every step: none may contain NaN or inf."""
    for name in state.predictions:
        for step in range(state.inner_steps + 1):
            curve = state.curve(name, step)
            if curve is not None:
                assert np.isfinite(curve).all(), (name, step)


# ---------------------------------------------------------------------------------------------------
# The maths: batched update == one model at a time with ml.adapt
# ---------------------------------------------------------------------------------------------------

def test_batched_update_matches_adapting_each_model_alone(models):
    x, y = points(k=7)
    state = mw.update(models, x, y, 2.0, 1.0, inner_steps=10, inner_lr=0.05)
    assert state.messages == ()
    xs = torch.tensor(x, dtype=torch.float32).view(-1, 1)
    ys = torch.tensor(y, dtype=torch.float32).view(-1, 1)
    grid = torch.tensor(state.x_grid, dtype=torch.float32).view(-1, 1)
    for name, model in models.items():
        for step in (0, 1, 4, 10):
            params = ml.adapt(model, xs, ys, step, 0.05, first_order=True)
            expected = ml.predict(model, params, grid).detach().view(-1).double().numpy()
            np.testing.assert_allclose(state.curve(name, step), expected, atol=1e-5)
            true = 2.0 * np.sin(state.x_grid - 1.0)
            assert state.mse_at(name, step) == pytest.approx(((expected - true) ** 2).mean(), rel=1e-4)


def test_update_leaves_the_models_untouched(models):
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in models.items()}
    mw.update(models, *points(k=10), 2.0, 1.0, inner_steps=10, inner_lr=0.5)
    for name, model in models.items():
        assert all(torch.equal(a, b) for a, b in zip(before[name], model.parameters()))
        assert all(p.grad is None for p in model.parameters())


def test_state_shapes_and_order(models):
    state = mw.update(models, *points(), 2.0, 1.0)
    assert list(state.predictions) == list(models)
    assert state.x_grid.shape == state.y_true.shape == (mw.N_GRID,)
    assert state.x_grid[0] == -5 and state.x_grid[-1] == 5
    for name in models:
        assert state.predictions[name].shape == (mw.MAX_STEPS + 1, mw.N_GRID)
        assert state.mse[name].shape == (mw.MAX_STEPS + 1,)
        assert state.diverged_at[name] is None
    assert state.k_shot == 5 and "MSE" in state.table(1)


def test_adaptation_reduces_the_support_loss(models):
    # one model, many points on the curve, a sensible rate: fitting the points must make progress
    x, y = points(k=20)
    state = mw.update({"maml": models["maml"]}, x, y, 2.0, 1.0, inner_steps=10, inner_lr=0.02)
    assert state.mse_at("maml", 10) < state.mse_at("maml", 0)


def test_models_of_other_architectures_are_adapted_separately():
    torch.manual_seed(1)
    mixed = {"wide": ml.make_model(hidden=(64,)), "small": mw.scratch_model(0),
             "seq": nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))}
    x, y = points()
    state = mw.update(mixed, x, y, 2.0, 1.0, inner_steps=3, inner_lr=0.01)
    assert list(state.predictions) == ["wide", "small", "seq"] and state.messages == ()
    xs, ys = (torch.tensor(v, dtype=torch.float32).view(-1, 1) for v in (x, y))
    params = ml.adapt(mixed["seq"], xs, ys, 3, 0.01, first_order=True)
    grid = torch.tensor(state.x_grid, dtype=torch.float32).view(-1, 1)
    expected = ml.predict(mixed["seq"], params, grid).detach().view(-1).numpy()
    np.testing.assert_allclose(state.curve("seq", 3), expected, atol=1e-5)


@pytest.mark.parametrize("hidden, activation", [((40, 40), "relu"), ((16, 8, 4), "tanh"), ((3,), "relu")])
def test_stacked_trajectory_equals_adapting_each_model_alone(hidden, activation):
    """The batched pass (parameters stacked with a leading model dimension) == ml.adapt on each model alone."""
    torch.manual_seed(3)
    group = [ml.make_model(hidden, activation) for _ in range(3)]
    x, y = (torch.tensor(v, dtype=torch.float32).view(-1, 1) for v in points(k=9))
    grid = torch.linspace(-5, 5, 50).view(-1, 1)
    stacked = mw._trajectory(group, x, y, 6, 0.03, [None] * 3, grid)  # (7, 3, 50)
    assert stacked.shape == (7, 3, 50)
    for i, model in enumerate(group):
        for step in (0, 1, 6):
            params = ml.adapt(model, x, y, step, 0.03, first_order=True)
            expected = ml.predict(model, params, grid).detach().view(-1)
            torch.testing.assert_close(stacked[step, i], expected, atol=2e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------
# Sampling points and tasks
# ---------------------------------------------------------------------------------------------------

def test_sample_points_are_on_the_curve_and_a_larger_k_only_adds_points():
    x5, y5 = points(k=5, seed=3)
    x12, y12 = points(k=12, seed=3)
    np.testing.assert_array_equal(x12[:5], x5)
    np.testing.assert_allclose(y12, 2.0 * np.sin(x12 - 1.0))
    assert ((x12 >= -5) & (x12 <= 5)).all()
    xh, _ = points(k=20, seed=3, one_half=True)
    assert (xh >= 0).all() and (xh <= 5).all()
    np.testing.assert_array_equal(points(k=5, seed=3)[0], x5)  # deterministic


def test_random_task_is_seeded_and_in_the_meta_training_range():
    draw = lambda seed: [mw.random_task(g) for g in [torch.Generator().manual_seed(seed)] for _ in range(20)]
    assert draw(0) == draw(0) and draw(0) != draw(1)
    for amplitude, phase, seed in draw(0):
        assert 0.1 <= amplitude <= 5.0 and 0.0 <= phase <= math.pi and isinstance(seed, int)


# ---------------------------------------------------------------------------------------------------
# Bad input: never raises, always a message
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, y", [([], []), (None, None), (np.zeros((0, 1)), np.zeros((0, 1)))])
def test_no_points_shows_unadapted_predictions_with_a_hint(models, x, y):
    state = mw.update(models, x, y, 2.0, 1.0, inner_steps=10, inner_lr=0.01)
    assert state.k_shot == 0
    assert any("No support points" in m and "K slider" in m for m in state.messages)
    for name in models:
        assert (state.predictions[name] == state.predictions[name][0]).all()  # every step = the start
    unadapted = mw.update(models, *points(), 2.0, 1.0, inner_steps=0)
    for name in models:
        np.testing.assert_allclose(state.curve(name, 10), unadapted.curve(name, 0))
    finite_curves(state)


def test_duplicate_points_are_fine(models):
    state = mw.update(models, [1.0, 1.0, 1.0, -2.0], [0.5, 0.5, 0.5, 1.0], 2.0, 1.0)
    assert state.messages == () and state.k_shot == 4
    finite_curves(state)


def test_x_outside_the_range_is_clipped_with_a_note(models):
    state = mw.update(models, [-9.0, 0.0, 12.0], [1.0, 0.0, -1.0], 2.0, 1.0)
    np.testing.assert_array_equal(state.x_points, [-5.0, 0.0, 5.0])
    assert any("Moved 2 points" in m and "[-5, 5]" in m for m in state.messages)


@pytest.mark.parametrize("amplitude, phase, what", [(7.0, 1.0, "Amplitude 7"), (0.0, 1.0, "Amplitude 0"),
                                                    (2.0, 5.0, "Phase 5.00")])
def test_task_outside_meta_training_range_is_allowed_but_labelled(models, amplitude, phase, what):
    state = mw.update(models, *points(amplitude=amplitude, phase=phase), amplitude, phase)
    assert any(what in m and "outside the meta-training range" in m for m in state.messages)
    assert state.amplitude == amplitude and all(np.isfinite(state.mse[n]).all() for n in models)
    np.testing.assert_allclose(state.y_true, amplitude * np.sin(state.x_grid - phase))


@pytest.mark.parametrize("inner_lr", [5.0, 1e6, 1e30])
def test_diverging_inner_lr_gives_a_message_not_nan_curves(models, inner_lr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning may reach the lecture either
        state = mw.update(models, *points(k=10), 2.0, 1.0, inner_steps=10, inner_lr=inner_lr)
    assert any("Diverged" in m and "lower the inner learning rate" in m for m in state.messages)
    finite_curves(state)
    for name, step in state.diverged_at.items():
        assert step is not None and step >= 1  # step 0 is the un-adapted model: always fine
        assert state.curve(name, step) is None and state.curve(name, 10) is None
        assert state.curve(name, step - 1) is not None
        assert state.mse_at(name, 10) == math.inf and not np.isnan(state.mse[name]).any()


def test_nan_and_inf_points_are_dropped_with_a_message(models):
    state = mw.update(models, [0.0, math.nan, 1.0, 2.0], [0.0, 1.0, math.inf, 1.0], 2.0, 1.0)
    np.testing.assert_array_equal(state.x_points, [0.0, 2.0])
    assert any("Ignored 2 points with NaN or inf" in m for m in state.messages)
    all_nan = mw.update(models, [math.nan], [math.nan], 2.0, 1.0)
    assert all_nan.k_shot == 0 and any("No support points" in m for m in all_nan.messages)
    finite_curves(all_nan)


@pytest.mark.parametrize("amplitude, phase", [(math.nan, 1.0), (2.0, math.inf), ("big", 1.0), (None, None)])
def test_non_finite_task_falls_back_with_a_message(models, amplitude, phase):
    state = mw.update(models, *points(), amplitude, phase)
    assert any("must be a finite number" in m for m in state.messages)
    assert np.isfinite(state.y_true).all()
    finite_curves(state)


@pytest.mark.parametrize("kwargs, message", [
    ({"inner_steps": -3}, "inner_steps must be >= 0"),
    ({"inner_steps": 2.5}, "whole number"),
    ({"inner_steps": "10"}, "whole number"),
    ({"inner_steps": True}, "whole number"),
    ({"inner_steps": 10**6}, "using 100"),
    ({"inner_lr": -0.1}, "inner_lr must be >= 0"),
    ({"inner_lr": math.nan}, "inner_lr must be a finite number"),
    ({"inner_lr": "fast"}, "inner_lr must be a finite number"),
])
def test_bad_inner_settings_give_messages(models, kwargs, message):
    state = mw.update(models, *points(), 2.0, 1.0, **kwargs)
    assert any(message in m for m in state.messages), state.messages
    finite_curves(state)


@pytest.mark.parametrize("x, y, message", [
    ("abc", [1.0], "could not be read as numbers"),
    ([1.0, 2.0, 3.0], [1.0], "different lengths (3 and 1)"),
    ([[1.0, "a"]], [[1.0, 2.0]], "could not be read as numbers"),
    ({"x": 1}, [1.0], "could not be read as numbers"),
])
def test_unreadable_points_give_messages(models, x, y, message):
    state = mw.update(models, x, y, 2.0, 1.0)
    assert any(message in m for m in state.messages), state.messages
    finite_curves(state)


def test_points_may_be_tensors_or_columns(models):
    x, y = points()
    a = mw.update(models, torch.tensor(x).view(-1, 1), torch.tensor(y).view(-1, 1), 2.0, 1.0)
    b = mw.update(models, list(x), list(y), 2.0, 1.0)
    assert a.messages == b.messages == ()
    np.testing.assert_array_equal(a.mse["maml"], b.mse["maml"])


@pytest.mark.parametrize("bad_models, message", [
    ({}, "No models to adapt"),
    ([1, 2], "models must be a dict"),
    ({"maml": "not a model"}, "not a torch model"),
])
def test_bad_models_give_messages(bad_models, message):
    state = mw.update(bad_models, *points(), 2.0, 1.0)
    assert any(message in m for m in state.messages)
    assert state.predictions == {}


def test_a_model_that_raises_becomes_a_message():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("boom")

    state = mw.update({"broken": Broken()}, *points(), 2.0, 1.0)
    assert any("Could not adapt the models" in m and "boom" in m for m in state.messages)
    assert np.isfinite(state.y_true).all()


# ---------------------------------------------------------------------------------------------------
# The view, without a browser (static image mode; the clickable canvas where ipympl is installed)
# ---------------------------------------------------------------------------------------------------

@pytest.fixture
def playground(models):
    return mw.Playground(models, clickable=False)


def readouts(pg):
    return list(pg.readout_texts().values())


def test_playground_starts_with_a_drawing_and_no_messages(playground):
    assert playground.state.k_shot == 5 and playground.messages.value == ""
    assert playground.view.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "MSE" in readouts(playground)[0]
    assert "pip install ipympl" in playground.note.value


def test_on_colab_the_hint_does_not_send_users_to_ipympl(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", object())
    pg = mw.Playground(models, clickable=False)
    assert "does not work on Colab" in pg.note.value and "pip install ipympl" not in pg.note.value


def test_recomputing_sliders_do_not_send_updates_while_dragged(playground):
    for slider in (playground.amplitude, playground.phase, playground.k_shot, playground.inner_lr):
        assert slider.continuous_update is False
    assert playground.steps.continuous_update is True  # cheap: only picks a precomputed step


def test_steps_slider_only_picks_a_precomputed_step(playground, monkeypatch):
    calls = []
    monkeypatch.setattr(mw, "update", lambda *a, **k: calls.append(a))
    before = readouts(playground)
    playground.steps.value = 0
    assert calls == [] and readouts(playground) != before
    assert "after 0 steps" in playground.points_info.value


def test_controls_recompute_and_change_the_readouts(playground):
    before = readouts(playground)
    playground.k_shot.value = 12
    assert playground.state.k_shot == 12 and readouts(playground) != before
    playground.one_half.value = True
    assert (playground.state.x_points >= 0).all()
    before = readouts(playground)
    playground.amplitude.value = 2.5  # the default is 4.0: a change, so a recompute
    assert readouts(playground) != before
    playground.inner_lr.value = 10.0
    assert "Diverged" in playground.messages.value
    assert any("diverged" in r for r in readouts(playground))


def test_a_large_amplitude_widens_the_plot_and_is_labelled(playground):
    before = playground.view.value
    playground.amplitude.value = 7.5  # |y| up to 7.5: the y-limits grow, so the whole figure is redrawn
    assert playground.ax.get_ylim() == (-10.0, 10.0) and playground.view.value != before
    assert "outside the meta-training range" in playground.messages.value
    playground.amplitude.value = 2.0
    assert playground.ax.get_ylim() == (-6.0, 6.0) and playground.messages.value == ""


def test_new_random_task_recomputes_once_and_is_seeded(models, monkeypatch):
    a, b = mw.Playground(models, seed=5, clickable=False), mw.Playground(models, seed=5, clickable=False)
    calls = []
    real = mw.update
    monkeypatch.setattr(mw, "update", lambda *args, **kw: calls.append(1) or real(*args, **kw))
    a.new_random_task()
    b.new_random_task()
    assert len(calls) == 2  # one recompute each, not one per slider that moved
    assert (a.amplitude.value, a.phase.value) == (b.amplitude.value, b.phase.value)
    np.testing.assert_array_equal(a.state.x_points, b.state.x_points)


def test_clicks_undo_and_clear(playground):
    class Click:  # what matplotlib passes to a button_press_event handler
        def __init__(self, x, y, ax):
            self.inaxes, self.xdata, self.ydata = ax, x, y

    playground._on_click(Click(1.0, 2.0, playground.ax))
    playground._on_click(Click(-1.0, 0.5, playground.ax))
    playground._on_click(Click(3.0, 3.0, None))  # outside the axes: ignored
    assert playground.source == "clicked" and playground.state.k_shot == 2
    assert "placed by clicking" in playground.points_info.value
    np.testing.assert_array_equal(playground.state.x_points, [1.0, -1.0])
    playground.undo_point()
    assert playground.state.k_shot == 1
    playground.clear_points()
    assert playground.state.k_shot == 0 and "No support points" in playground.messages.value
    playground.undo_point()
    assert "Nothing to undo" in playground.messages.value
    playground.k_shot.value = 3  # back to sampled points
    assert playground.source == "sampled" and playground.state.k_shot == 3


def test_callback_errors_go_to_the_message_area(playground, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(playground, "recompute", explode)
    playground.k_shot.value = 9  # the observer must swallow the error
    assert "kaboom" in playground.messages.value and "still usable" in playground.messages.value
    playground.new_task.click()
    assert "kaboom" in playground.messages.value


def test_widgets_carry_stable_css_classes(playground):
    classes = {c for w in (playground.widget, playground.k_shot, playground.steps, playground.messages,
                           playground.view, playground.readouts) for c in w._dom_classes}
    assert {"maml-playground", "maml-k-slider", "maml-steps-slider", "maml-messages", "maml-image",
            "maml-readouts"} <= classes
    assert 'class="maml-mse maml-mse-maml"' in playground.readouts.value  # one span per model, for the browser test


def test_clickable_canvas_where_ipympl_is_installed(models):
    pytest.importorskip("ipympl", reason="ipympl is not installed: the clickable canvas is not available")
    pg = mw.Playground(models, clickable=True)
    assert pg.clickable and "maml-canvas" in pg.canvas._dom_classes and pg.note.value == ""
    pg.add_point(0.5, 1.0)
    assert pg.state.k_shot == 1 and pg.state.x_points[0] == 0.5


def test_pretrained_models_load_when_shipped():
    try:
        models = mw.load_models()
    except FileNotFoundError:
        pytest.skip("the shipped checkpoints are not in maml_lite/checkpoints/ yet")
    assert list(models) == list(mw.MODELS)
    state = mw.update(models, *points(k=10), 2.0, 1.0, inner_steps=10, inner_lr=0.01)
    assert state.messages == ()
    # meta-learning works: after one step MAML beats the random init
    assert state.mse_at("maml", 1) < state.mse_at("scratch", 1)


def test_metasgd_steps_with_its_own_learned_rates_in_the_batched_pass():
    """A Meta-SGD model in the playground adapts with its learned per-parameter rates, not the slider's."""
    models = {"maml": ml.load_pretrained("maml"), "metasgd": ml.load_pretrained("metasgd")}
    rates = load_rates()
    x, y = mw.sample_points(2.0, 1.0, 5)
    state = mw.update(models, x, y, 2.0, 1.0, inner_steps=1, inner_lr=0.01, rates={"metasgd": rates})
    meta = models["metasgd"]
    xs, ys = torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(y, dtype=torch.float32)[:, None]
    alone = ml.adapt(meta, xs, ys, 1, rates, first_order=True)
    grid = torch.linspace(-5, 5, mw.N_GRID, dtype=torch.float64).float()[:, None]
    expected = ml.predict(meta, alone, grid).detach().double().numpy().ravel()
    np.testing.assert_allclose(state.predictions["metasgd"][1], expected, rtol=1e-4, atol=1e-4)
    plain = mw.update({"maml": models["maml"]}, x, y, 2.0, 1.0, inner_steps=1, inner_lr=0.01)
    np.testing.assert_allclose(state.predictions["maml"][1], plain.predictions["maml"][1], rtol=1e-5, atol=1e-5)
    assert state.mse["metasgd"][1] < state.mse["metasgd"][0]


def test_metasgd_divergence_message_names_its_learned_rates():
    models, rates = {"metasgd": ml.load_pretrained("metasgd")}, {"metasgd": load_rates()}
    for seed in range(30):  # find points where more steps with the one-step rates blow up
        x, y = mw.sample_points(4.5, 2.0, 5, seed=seed)
        state = mw.update(models, x, y, 4.5, 2.0, inner_steps=10, inner_lr=0.01, rates=rates)
        if state.diverged_at["metasgd"] is not None:
            assert any("meta-learned for ONE step" in m for m in state.messages)
            assert state.curve("metasgd", 10) is None  # no NaN curve is drawn
            return
    raise AssertionError("expected Meta-SGD to diverge within 10 steps on one of 30 point sets")


# ---------------------------------------------------------------------------------------------------
# Models that adapt their own way (notebook 07): learned rules and CAVIA's context
# ---------------------------------------------------------------------------------------------------

def sgd_rule(rate=0.01):
    """A meta-learner whose gates are saturated at f = 1, i = rate: plain SGD."""
    from maml_lite.learned_opt import MetaLearnerRule

    rule = MetaLearnerRule(hidden=4)
    with torch.no_grad():
        rule.gates.weight.zero_()
        rule.gates.bias.copy_(torch.tensor([math.log(rate / (1 - rate)), 40.0]))
    return rule.requires_grad_(False)


def test_a_rule_that_is_sgd_moves_like_the_sgd_model(models):
    net = models["maml"]
    adapters = {"rule": mw.rule_adapter(net, sgd_rule())}
    state = mw.update({"maml": net}, *points(), 2.0, 1.0, inner_steps=4, adapters=adapters)
    assert list(state.predictions) == ["maml", "rule"]
    assert not np.allclose(state.predictions["rule"][4], state.predictions["rule"][0])  # it moves
    assert np.allclose(state.predictions["rule"], state.predictions["maml"], atol=1e-5)  # exactly as SGD does


def test_context_adapter_follows_cavia(models):
    from maml_lite import cavia

    torch.manual_seed(0)
    net = cavia.make_cavia_model()
    x, y = points()
    state = mw.update({}, x, y, 2.0, 1.0, inner_steps=3, adapters={"cavia": mw.context_adapter(net, 0.5)})
    xs, ys = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1) for v in (x, y))
    grid = torch.tensor(state.x_grid, dtype=torch.float32).view(1, -1, 1)
    for step in range(4):
        context = cavia.adapt_context(net, xs, ys, step, 0.5, first_order=True).detach()
        expected = net(cavia.with_context(grid, context))[0, :, 0].detach().numpy()
        assert np.allclose(state.predictions["cavia"][step], expected, atol=1e-5), step


def test_adapters_without_points_show_the_start(models):
    from maml_lite import cavia

    net = models["maml"]
    adapters = {"rule": mw.rule_adapter(net, sgd_rule()), "cavia": mw.context_adapter(cavia.make_cavia_model())}
    state = mw.update({"maml": net}, [], [], 2.0, 1.0, adapters=adapters)
    assert set(state.predictions) == {"maml", "rule", "cavia"}
    assert np.allclose(state.predictions["rule"][0], state.predictions["maml"][0], atol=1e-6)
    assert all(np.allclose(p, p[0]) for p in state.predictions.values())  # nothing moves


def test_a_failing_adapter_is_a_message_and_the_others_stay(models):
    def broken(x, y, steps, grid):
        raise RuntimeError("boom")

    state = mw.update({"maml": models["maml"]}, *points(), 2.0, 1.0, adapters={"broken": broken})
    assert list(state.predictions) == ["maml"]
    assert any("broken" in m and "boom" in m for m in state.messages)


def test_a_diverging_rule_is_named_in_the_message(models):
    net = models["maml"]
    state = mw.update({}, *points(), 2.0, 1.0, adapters={"rule": mw.rule_adapter(net, sgd_rule(0.999))})
    assert state.diverged_at["rule"] is not None
    assert any("own learned rule" in m for m in state.messages)


def test_playground_shows_adapters_beside_models(models):
    pg = mw.Playground({"maml": models["maml"]}, clickable=False,
                       adapters={"rule": mw.rule_adapter(models["maml"], sgd_rule())})
    assert set(pg.readout_texts()) == {"maml", "rule"} and pg.messages.value == ""
    assert pg.ax.get_title() == "Two models adapting to the points"
