"""The playground (maml_lite/playground) without a browser: the logic against the package's own
methods, a message for everything the controls can produce, clear errors for scripted calls, and the
click canvas driven from Python the way its frontend drives it."""

import copy
import json
import math
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import maml_lite as ml
from maml_lite import playground as pg
from maml_lite.method import MAML
from maml_lite.methods.metasgd import MetaSGD
from maml_lite.playground import logic

GRID = torch.linspace(-5, 5, pg.N_GRID, dtype=torch.float64).float().view(1, -1, 1)


@pytest.fixture(scope="module")
def models():
    """Five small networks with different starts, each fine-tuned by SGD (no checkpoints needed)."""
    return {name: (scratch(seed), MAML()) for seed, name in enumerate(pg.MODELS)}


@pytest.fixture(scope="module")
def shipped():
    """Every shipped checkpoint as (model, method), and a fresh network."""
    return {**{name: ml.load_pretrained(name) for name in ml.PRETRAINED},
            "scratch": (scratch(0), MAML())}


def scratch(seed=0):
    """A fresh paper network, the same for a seed."""
    torch.manual_seed(seed)
    return ml.make_model()


def points(k=5, amplitude=2.0, phase=1.0, seed=0, one_half=False):
    return pg.sample_points(amplitude, phase, k, one_half=one_half, seed=seed)


def tensors(x, y):
    return (torch.tensor(v, dtype=torch.float32).view(1, -1, 1) for v in (x, y))


def alone(model, method, x, y, steps):
    """The package's own answer: the method's trajectory for this one model, (steps + 1, N_GRID)."""
    return method.trajectory(model, *tensors(x, y), GRID, steps)[:, 0, :, 0].double().numpy()


def finite_curves(state):
    """Every curve the view could draw, at every step: none may contain NaN or inf."""
    for name in state.predictions:
        for step in range(state.inner_steps + 1):
            curve = state.curve(name, step)
            assert curve is None or np.isfinite(curve).all(), (name, step)


# --------------------------------------------------------------------------------------------------
# The logic against the package: each curve is its method's own trajectory
# --------------------------------------------------------------------------------------------------

def test_each_models_curves_are_its_methods_trajectory(shipped):
    """At the methods' own step size (0.01 for every shipped one) each curve is
    `method.trajectory` alone."""
    x, y = points(k=7)
    state = pg.update(shipped, x, y, 2.0, 1.0, inner_steps=10, inner_lr=0.01)
    assert list(state.predictions) == list(shipped)
    for name, (model, method) in shipped.items():
        expected = alone(model, method, x, y, 10)
        bad = state.diverged_at[name]
        np.testing.assert_allclose(state.predictions[name][:bad], expected[:bad], atol=2e-5,
                                   rtol=1e-4, err_msg=name)
        true = 2.0 * np.sin(state.x_grid - 1.0)
        assert state.mse_at(name, 1) == pytest.approx(((expected[1] - true) ** 2).mean(), rel=1e-4)


def test_the_step_size_moves_sgd_methods_and_leaves_the_others_alone(shipped):
    x, y = points(k=7)
    state = pg.update(shipped, x, y, 2.0, 1.0, inner_steps=4, inner_lr=0.05)
    xs, ys = tensors(x, y)
    for name, (model, method) in shipped.items():
        # every weight by SGD at 0.05: ml.adapt's answer
        if method.sgd_on_weights and isinstance(method, MAML):
            for step in (1, 4):
                params = ml.adapt(model, xs, ys, step, 0.05, first_order=True)
                expected = ml.predict(model, params, GRID)[0, :, 0].detach().double().numpy()
                np.testing.assert_allclose(state.curve(name, step), expected, atol=2e-5, rtol=1e-4,
                                           err_msg=name)
        elif method.sgd_on_weights:  # ANIL: its head by SGD at 0.05
            twin = copy.copy(method)
            twin.inner_lr = 0.05
            np.testing.assert_allclose(state.predictions[name], alone(model, twin, x, y, 4),
                                       atol=2e-5, rtol=1e-4)
            assert not np.allclose(state.predictions[name], alone(model, method, x, y, 4),
                                   atol=1e-3)
        else:  # Meta-SGD, CAVIA, the learned optimisers: their own steps
            np.testing.assert_allclose(state.predictions[name], alone(model, method, x, y, 4),
                                       atol=2e-5, rtol=1e-4)
    assert ({n for n, (_, m) in shipped.items() if not m.sgd_on_weights}
            == {"metasgd", "cavia", "lstm_opt", "meta_learner"})


def test_update_leaves_the_models_and_methods_untouched(models):
    before = {n: [p.detach().clone() for p in m.parameters()] for n, (m, _) in models.items()}
    pg.update(models, *points(k=10), 2.0, 1.0, inner_steps=10, inner_lr=0.5)
    for name, (model, method) in models.items():
        assert all(torch.equal(a, b) for a, b in zip(before[name], model.parameters()))
        assert all(p.grad is None for p in model.parameters()) and method.inner_lr == 0.01


def test_state_shapes_order_and_read_only(models):
    state = pg.update(models, *points(), 2.0, 1.0)
    assert list(state.predictions) == list(models)
    assert state.x_grid.shape == state.y_true.shape == (pg.N_GRID,)
    assert state.x_grid[0] == -5 and state.x_grid[-1] == 5
    for name in models:
        assert state.predictions[name].shape == (pg.MAX_STEPS + 1, pg.N_GRID)
        assert state.mse[name].shape == (pg.MAX_STEPS + 1,) and state.diverged_at[name] is None
    assert state.k_shot == 5 and "MSE" in state.table(1)
    with pytest.raises(ValueError):
        state.predictions["maml"][0, 0] = 1.0
    with pytest.raises(TypeError):
        state.mse["maml"] = np.zeros(11)
    with pytest.raises(AttributeError):
        state.inner_lr = 1.0


# --------------------------------------------------------------------------------------------------
# One pass for a group: grouped by architecture, activation and method (issue 26's mutation)
# --------------------------------------------------------------------------------------------------

def test_the_shipped_sgd_models_are_one_group_and_the_others_alone(shipped):
    """MAML's step on all the weights: one pass (the tuned MAML too: its own start, MAML's step)."""
    grouped = logic.groups(shipped)  # every shipped SGD method steps at 0.01 already
    assert (["fomaml", "maml", "maml_plus", "pretrain", "reptile", "scratch"]
            in [sorted(g) for g in grouped])
    for name in ("anil", "cavia", "lstm_opt", "meta_learner", "metasgd"):
        # another step (ANIL's head, a context, a rule, learned rates): alone
        assert [name] in grouped


def test_a_tanh_model_beside_a_relu_model_of_the_same_size_is_stepped_through_tanh():
    """Issue 26: grouping by sizes only stepped a tanh network through the ReLU (off by 0.50 after
    3 steps)."""
    torch.manual_seed(0)
    pair = {"relu": (ml.make_model((40, 40), "relu"), MAML()),
            "tanh": (ml.make_model((40, 40), "tanh"), MAML())}
    x, y = points(k=10)
    state = pg.update(pair, x, y, 2.0, 1.0, inner_steps=3, inner_lr=0.1)
    assert len(logic.groups(pair)) == 2
    for name, (model, method) in pair.items():
        twin = copy.copy(method)
        twin.inner_lr = 0.1
        np.testing.assert_allclose(state.predictions[name], alone(model, twin, x, y, 3), atol=2e-5,
                                   rtol=1e-4)
    # the mutation is visible: the tanh network stepped through the ReLU lands far from its
    # own curve
    wrong = copy.copy(pair["tanh"][0])
    wrong.activation = "relu"
    twin = copy.copy(pair["tanh"][1])
    twin.inner_lr = 0.1
    assert np.abs(alone(wrong, twin, x, y, 3)[3] - state.predictions["tanh"][3]).max() > 0.1


def test_a_method_that_steps_its_own_way_is_not_batched_with_maml():
    class TwoStepsAtOnce(MAML):  # same weights-as-state, another step: must never share MAML's pass
        def step(self, model, params, x_support, y_support, create_graph):
            once = super().step(model, params, x_support, y_support, create_graph)
            return super().step(model, once, x_support, y_support, create_graph)

    torch.manual_seed(1)
    pair = {"maml": (ml.make_model(), MAML()), "double": (ml.make_model(), TwoStepsAtOnce())}
    x, y = points(k=10)
    state = pg.update(pair, x, y, 2.0, 1.0, inner_steps=3, inner_lr=0.02)
    assert logic.groups(pair) == [["maml"], ["double"]]
    for name, (model, method) in pair.items():
        twin = copy.copy(method)
        twin.inner_lr = 0.02
        np.testing.assert_allclose(state.predictions[name], alone(model, twin, x, y, 3), atol=2e-5,
                                   rtol=1e-4)


@pytest.mark.parametrize("hidden, activation",
                         [((40, 40), "relu"), ((16, 8, 4), "tanh"), ((3,), "relu")])
def test_a_group_adapted_together_equals_each_model_alone(hidden, activation):
    torch.manual_seed(3)
    group = [(ml.make_model(hidden, activation), MAML(inner_lr=0.03)) for _ in range(3)]
    x, y = tensors(*points(k=9))
    together = logic.adapt_together(group, x, y, GRID, 6)
    assert together.shape == (7, 3, pg.N_GRID)
    for i, (model, method) in enumerate(group):
        expected = method.trajectory(model, x, y, GRID, 6)[:, 0, :, 0]
        torch.testing.assert_close(together[:, i], expected, atol=2e-5, rtol=1e-4)


def test_trajectory_from_a_given_start_equals_its_own_start():
    """The core's `start=` (what the batched pass uses): the method's own start gives the
    same trajectory."""
    model, method = scratch(2), MAML(inner_lr=0.05)
    x, y = tensors(*points(k=6))
    with torch.no_grad():
        start = method.start(model, x)
    torch.testing.assert_close(method.trajectory(model, x, y, GRID, 3, start=start),
                               method.trajectory(model, x, y, GRID, 3))


# --------------------------------------------------------------------------------------------------
# Sampling points and tasks
# --------------------------------------------------------------------------------------------------

def test_sample_points_are_on_the_curve_and_a_larger_k_only_adds_points():
    x5, _ = points(k=5, seed=3)
    x12, y12 = points(k=12, seed=3)
    np.testing.assert_array_equal(x12[:5], x5)
    np.testing.assert_allclose(y12, 2.0 * np.sin(x12 - 1.0))
    assert ((x12 >= -5) & (x12 <= 5)).all()
    xh, _ = points(k=20, seed=3, one_half=True)
    assert (xh >= 0).all() and (xh <= 5).all()
    np.testing.assert_array_equal(points(k=5, seed=3)[0], x5)  # deterministic


def test_random_task_is_seeded_and_in_the_meta_training_range():
    draw = lambda seed: [logic.random_task(g)  # noqa: E731
                         for g in [torch.Generator().manual_seed(seed)] for _ in range(20)]
    assert draw(0) == draw(0) and draw(0) != draw(1)
    for amplitude, phase, seed in draw(0):
        assert 0.1 <= amplitude <= 5.0 and 0.0 <= phase <= math.pi and isinstance(seed, int)


# --------------------------------------------------------------------------------------------------
# What the controls can produce: a message each
# --------------------------------------------------------------------------------------------------

def test_no_points_shows_unadapted_predictions_with_a_hint(models):
    state = pg.update(models, [], [], 2.0, 1.0, inner_steps=10, inner_lr=0.01)
    assert state.k_shot == 0
    assert state.messages == ("No support points: showing the models before adaptation. Move the K "
                              "slider or click on the plot to add points.",)
    unadapted = pg.update(models, *points(), 2.0, 1.0, inner_steps=0)
    for name in models:
        # every step = the start
        assert (state.predictions[name] == state.predictions[name][0]).all()
        np.testing.assert_allclose(state.curve(name, 10), unadapted.curve(name, 0))


def test_duplicate_points_are_fine(models):
    state = pg.update(models, [1.0, 1.0, 1.0, -2.0], [0.5, 0.5, 0.5, 1.0], 2.0, 1.0)
    assert state.messages == () and state.k_shot == 4
    finite_curves(state)


@pytest.mark.parametrize("amplitude, phase, what",
                         [(7.0, 1.0, "Amplitude 7"), (0.0, 1.0, "Amplitude 0"),
                          (2.0, 5.0, "Phase 5.00")])
def test_task_outside_meta_training_range_is_allowed_but_labelled(models, amplitude, phase, what):
    state = pg.update(models, *points(amplitude=amplitude, phase=phase), amplitude, phase)
    assert [m for m in state.messages if what in m and "outside the meta-training range" in m]
    np.testing.assert_allclose(state.y_true, amplitude * np.sin(state.x_grid - phase))


@pytest.mark.parametrize("inner_lr", [5.0, 10.0])
def test_a_diverging_step_size_gives_a_message_not_nan_curves(models, inner_lr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning may reach the lecture either
        state = pg.update(models, *points(k=10), 2.0, 1.0, inner_steps=10, inner_lr=inner_lr)
    assert [m for m in state.messages if m.startswith(f"Diverged with inner_lr={inner_lr:g}")
            and "lower" in m]
    finite_curves(state)
    for name, step in state.diverged_at.items():
        assert step is not None and step >= 1  # step 0 is the un-adapted model: always fine
        assert state.curve(name, step) is None and state.curve(name, 10) is None
        assert state.curve(name, step - 1) is not None
        assert state.mse_at(name, 10) == math.inf and not np.isnan(state.mse[name]).any()


def test_a_method_with_its_own_steps_that_diverges_is_not_blamed_on_the_slider(models):
    net = scratch(4)
    wild = MetaSGD(net)
    with torch.no_grad():
        for rate in wild.learned:
            rate.fill_(3.0)
    state = pg.update({"maml": models["maml"], "metasgd": (net, wild)}, *points(k=10), 2.0, 1.0,
                      inner_lr=0.01)
    assert state.diverged_at["maml"] is None and state.diverged_at["metasgd"] >= 1
    assert state.messages == (f"Diverged: Meta-SGD (step {state.diverged_at['metasgd']}). It "
                              "adapts with its own step sizes, which the inner learning rate "
                              "slider does not change.",)


def test_every_model_nan_before_any_step_is_said_so_not_blamed_on_the_step_size():
    broken = {}
    for name in ("maml", "reptile"):
        net = scratch(1)
        with torch.no_grad():
            net.layers[0].weight.fill_(math.nan)
        broken[name] = (net, MAML())
    state = pg.update(broken, *points(), 2.0, 1.0, inner_lr=0.01)
    assert state.messages == ("Every model: NaN, inf or huge predictions before any step, so the "
                              "step size is not the cause; check the weights (e.g. load the "
                              "checkpoint again).",)
    assert (all(s == 0 for s in state.diverged_at.values())
            and all(state.curve(n, 0) is None for n in broken))
    one = pg.update({**broken, "fine": (scratch(2), MAML())}, *points(), 2.0, 1.0)
    assert one.messages[0].startswith("MAML, Reptile: NaN, inf or huge predictions before any step")
    assert one.diverged_at["fine"] is None


# --------------------------------------------------------------------------------------------------
# Scripted calls: clear errors (no coercion)
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [{}, [1, 2], {"maml": scratch(0)}, {"maml": (scratch(0), "sgd")}])
def test_models_that_are_not_model_method_pairs_are_refused(bad):
    with pytest.raises(TypeError, match=r"\(model, method\)"):
        pg.update(bad, *points(), 2.0, 1.0)


@pytest.mark.parametrize("x, y, message", [
    ([1.0, 2.0, 3.0], [1.0], "one y per x"),
    ([0.0, math.nan], [0.0, 1.0], "inside the plot"),
    ([8.0], [1.0], r"x in \[-5, 5\]"),
    ([0.0], [1.7e308], r"y in \[-20, 20\]"),
    ("abc", [1.0], "could not convert"),
])
def test_support_points_outside_the_plot_are_refused(models, x, y, message):
    with pytest.raises(ValueError, match=message):
        pg.update(models, x, y, 2.0, 1.0)


@pytest.mark.parametrize("kwargs, error",
                         [({"inner_steps": -3}, ValueError), ({"inner_steps": 2.5}, TypeError),
                          ({"inner_lr": -0.1}, ValueError), ({"inner_lr": math.nan}, ValueError),
                          ({"amplitude": math.inf}, ValueError), ({"phase": "1"}, TypeError)])
def test_bad_settings_are_refused(models, kwargs, error):
    settings = {"amplitude": 2.0, "phase": 1.0, **kwargs}
    with pytest.raises(error, match=next(iter(kwargs))):
        pg.update(models, *points(), **settings)


@pytest.mark.parametrize("kwargs, message", [
    ({"amplitude": 9.0}, r"amplitude must be in \[0, 8\]"),
    ({"phase": -1.0}, r"phase must be in \[0, 6.28\]"),
    ({"k_shot": 0}, r"k_shot must be in \[1, 20\]"),
    ({"inner_lr": 20.0}, r"inner_lr must be in \[0.0001, 10\]"),
    ({"steps": 11}, r"steps must be in \[0, 10\]"), ({"amplitude": math.nan}, "amplitude must be")])
def test_playground_refuses_values_its_sliders_cannot_show(models, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pg.Playground(models, **kwargs)


# --------------------------------------------------------------------------------------------------
# The view, without a browser; clicks arrive as the frontend sends them
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def playground(models):
    return pg.Playground(models)


def readouts(p):
    return list(p.readout_texts().values())


def frontend_click(p, x, y):
    """What canvas.js does on a click: a custom comm message to the canvas's model (ipywidgets 7
    and 8)."""
    p.canvas._handle_msg({"content": {"data": {"method": "custom",
                                               "content": {"event": "click", "x": x, "y": y}}},
                          "buffers": []})


def test_playground_starts_with_a_plot_and_no_messages(playground, models):
    plot = playground.canvas.plot
    assert (playground.state.k_shot == 5 and playground.messages.value == ""
            and playground.note.value == "")
    assert plot["title"] == "Five models adapting to the points" and plot["ylim"] == [-6.0, 6.0]
    assert [c["label"] for c in plot["curves"]] == [ml.plots.LABELS[n] for n in models]
    assert [c["color"] for c in plot["curves"]] == [ml.plots.COLORS[n] for n in models]
    assert len(plot["x"]) == len(plot["truth"]) == pg.N_GRID and len(plot["points"]) == 5
    np.testing.assert_allclose(plot["curves"][0]["y"], playground.state.curve("maml", pg.MAX_STEPS),
                               atol=1e-4)
    json.dumps(plot, allow_nan=False)  # what the frontend receives is strict JSON
    assert "MSE" in readouts(playground)[0]


def test_the_canvas_ships_its_module_and_loads_nothing_from_the_network(playground):
    esm = playground.canvas._esm
    assert ("export default { render }" in esm and "model.send(" in esm
            and 'model.on("change:plot"' in esm)
    assert "import " not in esm and "http" not in esm
    state = playground.canvas.get_state()
    assert (state["_model_module"] == "anywidget" and state["_view_name"] == "AnyView"
            and state["plot"])


def test_recomputing_sliders_do_not_send_updates_while_dragged(playground):
    for slider in (playground.amplitude, playground.phase, playground.k_shot, playground.inner_lr):
        assert slider.continuous_update is False
    assert playground.steps.continuous_update is True  # cheap: only picks a precomputed step


def test_steps_slider_only_picks_a_precomputed_step(playground, monkeypatch):
    calls = []
    monkeypatch.setattr(logic, "update", lambda *a, **k: calls.append(a))
    before, plot = readouts(playground), playground.canvas.plot
    playground.steps.value = 0
    assert calls == [] and readouts(playground) != before and playground.canvas.plot != plot
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
    assert "Diverged with inner_lr=10" in playground.messages.value
    assert any("diverged" in r for r in readouts(playground))
    assert all(c["y"] is None for c in playground.canvas.plot["curves"])  # nothing NaN is drawn


def test_a_large_amplitude_widens_the_plot_and_is_labelled(playground):
    playground.amplitude.value = 7.5  # |y| up to 7.5: a wider y-range
    assert playground.canvas.plot["ylim"] == [-10.0, 10.0]
    assert "outside the meta-training range" in playground.messages.value
    playground.amplitude.value = 2.0
    assert playground.canvas.plot["ylim"] == [-6.0, 6.0] and playground.messages.value == ""


def test_new_random_task_recomputes_once_and_is_seeded(models, monkeypatch):
    a, b = pg.Playground(models, seed=5), pg.Playground(models, seed=5)
    calls, real = [], logic.update
    monkeypatch.setattr(logic, "update", lambda *args, **kw: calls.append(1) or real(*args, **kw))
    a.new_random_task()
    b.new_random_task()
    assert len(calls) == 2  # one recompute each, not one per slider that moved
    assert (a.amplitude.value, a.phase.value) == (b.amplitude.value, b.phase.value)
    np.testing.assert_array_equal(a.state.x_points, b.state.x_points)


def test_clicks_from_the_frontend_place_points_and_undo_and_clear_remove_them(playground):
    frontend_click(playground, 1.0, 2.0)
    frontend_click(playground, -1.0, 0.5)
    assert playground.source == "clicked" and playground.state.k_shot == 2
    assert "placed by clicking" in playground.points_info.value
    np.testing.assert_array_equal(playground.state.x_points, [1.0, -1.0])
    assert playground.canvas.plot["points"] == [[1.0, 2.0], [-1.0, 0.5]]
    playground.undo.click()
    assert playground.state.k_shot == 1
    playground.clear.click()
    assert playground.state.k_shot == 0 and "No support points" in playground.messages.value
    playground.undo.click()
    assert "Nothing to undo: no clicked points." in playground.messages.value
    playground.k_shot.value = 3  # back to sampled points
    assert playground.source == "sampled" and playground.state.k_shot == 3


@pytest.mark.parametrize("x, y", [(6.2, 1.0), (0.0, 7.0), (None, 1.0), (-5.5, -9.0)])
def test_a_click_outside_the_axes_is_a_message_and_changes_nothing(playground, x, y):
    before = playground.state
    frontend_click(playground, x, y)
    assert playground.state is before
    assert ("Click inside the axes to place a point: x from -5 to 5, y from -6 to 6."
            in playground.messages.value)
    frontend_click(playground, 0.5, 1.0)  # the next click works and clears the message
    assert playground.state.k_shot == 1 and playground.messages.value == ""


def test_a_huge_scripted_point_is_refused_and_later_redraws_work(playground):
    with pytest.raises(ValueError, match=r"y in \[-20, 20\]; got \(0, 1.7e\+308\)"):
        playground.add_point(0, 1.7e308)
    playground.add_point(0.0, 19.5)  # the largest points still fit the plot
    assert playground.canvas.plot["ylim"] == [-20.0, 20.0] and playground.messages.value == ""
    playground.steps.value = 3
    playground.k_shot.value = 4
    assert playground.state.k_shot == 4 and playground.messages.value == ""


def test_callback_errors_go_to_the_message_area(playground, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(playground, "recompute", explode)
    playground.k_shot.value = 9  # the observer must not raise
    assert "Something went wrong (RuntimeError: kaboom)" in playground.messages.value
    assert "still works" in playground.messages.value
    playground.messages.value = ""
    playground.new_task.click()
    assert "kaboom" in playground.messages.value


def test_widgets_carry_stable_css_classes(playground):
    classes = {c for w in (playground.widget, playground.k_shot, playground.steps,
                           playground.messages, playground.canvas, playground.readouts)
               for c in w._dom_classes}
    assert {"maml-playground", "maml-k-slider", "maml-steps-slider", "maml-messages", "maml-canvas",
            "maml-readouts"} <= classes
    # one span per model, for the browser test
    assert 'class="maml-mse maml-mse-maml"' in playground.readouts.value


def test_the_ui_says_which_models_keep_their_own_step_sizes(shipped):
    four = {n: shipped[n] for n in ("maml", "anil", "meta_learner", "cavia")}
    p = pg.Playground(four)
    assert p.note.value == ("<i>meta-learner (R&amp;L), CAVIA adapt with their own step sizes: the "
                            "inner lr α moves the others.</i>")
    assert p.canvas.plot["title"] == "Four models adapting to the points" and p.messages.value == ""


def test_pretrained_models_load_and_meta_learning_shows(shipped):
    models = pg.load_models()
    assert list(models) == list(pg.MODELS)
    state = pg.update(models, *points(k=10), 2.0, 1.0, inner_steps=10, inner_lr=0.01)
    assert state.messages == ()
    # meta-learning works: one step, a better fit
    assert state.mse_at("maml", 1) < state.mse_at("scratch", 1)


# --------------------------------------------------------------------------------------------------
# canvas.js itself, run by Node with a stand-in canvas (skipped without node)
# --------------------------------------------------------------------------------------------------

NODE_CHECK = """
import mod from "./canvas.mjs";
const calls = [], sent = [], handlers = {};
const ctx = new Proxy({}, {get: (t, k) => k in t ? t[k] : (...a) => calls.push(k),
                          set: (t, k, v) => (t[k] = v, true)});
const canvas = {style: {}, width: 0, height: 0, getContext: () => ctx,
  addEventListener: (k, f) => handlers[k] = f, removeEventListener() {},
  getBoundingClientRect: () => ({left: 0, top: 0, width: 1360, height: 660})};
globalThis.window = {devicePixelRatio: 2};
globalThis.document = {createElement: () => canvas};
const plot = PLOT;
const model = {get: () => plot, on() {}, off() {}, send: (m) => sent.push(m)};
mod.render({model, el: {appendChild() {}}});
// the middle of the axes, on a canvas shown at twice its size
handlers.click({clientX: 2 * 273, clientY: 2 * 158});
console.log(JSON.stringify({sent, width: canvas.width,
                            strokes: calls.filter(c => c === "stroke").length,
                            arcs: calls.filter(c => c === "arc").length}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_canvas_js_draws_the_plot_and_sends_clicks_in_data_coordinates(playground, tmp_path):
    shutil.copy(Path(pg.__file__).parent / "canvas.js", tmp_path / "canvas.mjs")
    (tmp_path / "check.mjs").write_text(NODE_CHECK.replace("PLOT",
                                                           json.dumps(playground.canvas.plot)))
    out = json.loads(subprocess.run(["node", "check.mjs"], cwd=tmp_path, capture_output=True,
                                    text=True, check=True, timeout=60).stdout)
    (click,) = out["sent"]
    assert (click["event"] == "click" and click["x"] == pytest.approx(0.0)
            and click["y"] == pytest.approx(0.0))
    assert out["width"] == 1360  # drawn at the device's pixel ratio
    assert out["arcs"] == 5 + 1  # the five support points and the legend's marker
    assert out["strokes"] >= 6 + 6  # the true curve and five models, each with its legend sample
