"""The maths of maml_lite, checked against independent references (float64 where it matters)."""

import math

import pytest
import torch

import maml_lite as ml
from maml_lite.adapt import mse
from maml_lite.train import pretrain_loss, reptile_direction, smoothing_beta


def batch(meta_batch=4, k=5, seed=0, dtype=torch.float32):
    b = ml.SineTasks().sample(meta_batch, k, k, generator=torch.Generator().manual_seed(seed))
    if dtype != torch.float32:
        b = ml.TaskBatch(*(getattr(b, f).to(dtype) for f in b.__dataclass_fields__))
    return b


def model64(activation="relu"):
    return ml.make_model(activation=activation).double()


def test_sampler_shapes_and_ranges():
    tasks = ml.SineTasks()
    b = tasks.sample(1000, 7, 3, generator=torch.Generator().manual_seed(1))
    assert b.x_support.shape == b.y_support.shape == (1000, 7, 1)
    assert b.x_query.shape == b.y_query.shape == (1000, 3, 1)
    assert b.amplitude.shape == b.phase.shape == (1000,)
    assert 0.1 <= b.amplitude.min() and b.amplitude.max() <= 5.0
    assert 0.0 <= b.phase.min() and b.phase.max() <= math.pi
    assert -5.0 <= b.x_support.min() and b.x_support.max() <= 5.0
    # the samples cover the ranges (not a constant), and y really is A sin(x - phi)
    assert b.amplitude.max() - b.amplitude.min() > 4.5 and b.phase.max() - b.phase.min() > 3.0
    expected = b.amplitude[:, None, None] * torch.sin(b.x_query - b.phase[:, None, None])
    torch.testing.assert_close(b.y_query, expected)


def test_sampler_is_deterministic_for_a_seed():
    a = ml.SineTasks().sample(5, 5, generator=torch.Generator().manual_seed(3))
    b = ml.SineTasks().sample(5, 5, generator=torch.Generator().manual_seed(3))
    c = ml.SineTasks().sample(5, 5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.x_support, b.x_support) and not torch.equal(a.x_support, c.x_support)


def test_model_maps_n_by_1_and_matches_functional_forward():
    model = ml.make_model()
    x = torch.randn(13, 1)
    assert model(x).shape == (13, 1)
    assert sum(p.numel() for p in model.parameters()) == 1 * 40 + 40 + 40 * 40 + 40 + 40 + 1
    reference = torch.nn.Sequential(*[m for layer in model.layers for m in (layer, torch.nn.ReLU())][:-1])
    torch.testing.assert_close(model(x), reference(x))


@pytest.mark.parametrize("steps, lr", [(3, 0.0), (0, 0.01)])
def test_zero_lr_or_zero_steps_leave_parameters_unchanged(steps, lr):
    model = ml.make_model()
    b = batch()
    adapted = ml.adapt(model, b.x_support, b.y_support, inner_steps=steps, inner_lr=lr)
    for n, p in model.named_parameters():
        assert adapted[n].shape == (4, *p.shape)
        torch.testing.assert_close(adapted[n], p.expand_as(adapted[n]), rtol=0, atol=0)


def test_adapt_does_not_mutate_the_model_and_lowers_the_support_loss():
    model = ml.make_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    b = batch(k=10)
    adapted = ml.adapt(model, b.x_support, b.y_support, inner_steps=5, inner_lr=0.01)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])
    loss_before = mse(model(b.x_support.reshape(-1, 1)).reshape(b.x_support.shape), b.y_support)
    loss_after = mse(ml.predict(model, adapted, b.x_support), b.y_support)
    assert loss_after < loss_before


def unrolled_meta_gradient(model, x_s, y_s, x_q, y_q, lr, steps=1):
    """Second-order MAML for ONE task, written independently with torch.func.functional_call."""
    params = dict(model.named_parameters())
    for _ in range(steps):
        loss = ((torch.func.functional_call(model, params, (x_s,)) - y_s) ** 2).mean()
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        params = {n: p - lr * g for (n, p), g in zip(params.items(), grads)}
    loss_q = ((torch.func.functional_call(model, params, (x_q,)) - y_q) ** 2).mean()
    return torch.autograd.grad(loss_q, list(model.parameters()))


def grads_of(loss, model):
    return torch.autograd.grad(loss, list(model.parameters()))


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_meta_gradient_equals_unrolled_autograd(steps):
    model, b = model64(), batch(meta_batch=3, dtype=torch.float64)
    ours = grads_of(ml.meta_loss(model, b, first_order=False, inner_steps=steps, inner_lr=0.05), model)
    per_task = [unrolled_meta_gradient(model, b.x_support[i], b.y_support[i], b.x_query[i], b.y_query[i], 0.05, steps)
                for i in range(3)]
    for j, g in enumerate(ours):
        torch.testing.assert_close(g, sum(t[j] for t in per_task) / 3)


def test_second_order_equals_explicit_hessian_formula_and_differs_from_first_order():
    """d/dtheta L_q(theta - a grad L_s) = (I - a H_s) grad L_q(theta'), with H_s g by a Hessian-vector product."""
    model, b, lr = model64("tanh"), batch(meta_batch=1, dtype=torch.float64), 0.1
    theta = list(model.parameters())
    x_s, y_s, x_q, y_q = b.x_support[0], b.y_support[0], b.x_query[0], b.y_query[0]
    g_s = torch.autograd.grad(((model(x_s) - y_s) ** 2).mean(), theta, create_graph=True)
    adapted = {n: (p - lr * g).detach() for (n, p), g in zip(model.named_parameters(), g_s)}
    g_q = torch.autograd.grad(mse(ml.predict(model, {k: v.requires_grad_() for k, v in adapted.items()}, x_q), y_q),
                              list(adapted.values()))
    h_g = torch.autograd.grad(g_s, theta, grad_outputs=g_q)
    expected = [gq - lr * hg for gq, hg in zip(g_q, h_g)]
    second = grads_of(ml.meta_loss(model, b, first_order=False, inner_lr=lr), model)
    first = grads_of(ml.meta_loss(model, b, first_order=True, inner_lr=lr), model)
    for s, e in zip(second, expected):
        torch.testing.assert_close(s, e)
    for f, gq in zip(first, g_q):  # FOMAML = the query gradient at the (detached) adapted parameters
        torch.testing.assert_close(f, gq)
    difference = sum((s - f).norm() ** 2 for s, f in zip(second, first)).sqrt()
    assert difference > 1e-3 * sum(s.norm() ** 2 for s in second).sqrt()


def test_first_order_meta_gradient_equals_query_gradient_at_detached_adapted_params():
    model, b = model64(), batch(meta_batch=5, dtype=torch.float64)
    ours = grads_of(ml.meta_loss(model, b, first_order=True, inner_steps=2, inner_lr=0.05), model)
    adapted = ml.adapt(model, b.x_support, b.y_support, 2, 0.05, first_order=True)
    detached = {n: p.detach().requires_grad_() for n, p in adapted.items()}
    loss = mse(ml.predict(model, detached, b.x_query), b.y_query) / 5
    reference = torch.autograd.grad(loss, list(detached.values()))
    for g, r in zip(ours, reference):
        torch.testing.assert_close(g, r.sum(0))


@pytest.mark.parametrize("first_order", [False, True])
def test_batched_equals_per_task(first_order):
    model, b = model64(), batch(meta_batch=6, dtype=torch.float64)
    batched = ml.adapt(model, b.x_support, b.y_support, 2, 0.05, first_order)
    for i in range(6):
        single = ml.adapt(model, b.x_support[i], b.y_support[i], 2, 0.05, first_order)
        for n in single:
            torch.testing.assert_close(batched[n][i], single[n])
    ours = grads_of(ml.meta_loss(model, b, first_order), model)
    loop = sum(mse(ml.predict(model, ml.adapt(model, b.x_support[i], b.y_support[i], 1, 0.01, first_order),
                                 b.x_query[i]), b.y_query[i]) for i in range(6)) / 6
    for g, r in zip(ours, grads_of(loop, model)):
        torch.testing.assert_close(g, r)


def test_reptile_direction_is_theta_minus_mean_adapted():
    model, b = model64(), batch(meta_batch=3, dtype=torch.float64)
    direction, _ = reptile_direction(model, b, inner_steps=4, inner_lr=0.02)
    x, y = torch.cat([b.x_support, b.x_query], 1), torch.cat([b.y_support, b.y_query], 1)
    for n, p in model.named_parameters():
        phis = [ml.adapt(model, x[i], y[i], 4, 0.02)[n] for i in range(3)]
        torch.testing.assert_close(direction[n], p - sum(phis) / 3)


def test_pretrain_loss_is_pooled_regression():
    model, b = ml.make_model(), batch()
    x = torch.cat([b.x_support, b.x_query], 1).reshape(-1, 1)
    y = torch.cat([b.y_support, b.y_query], 1).reshape(-1, 1)
    torch.testing.assert_close(pretrain_loss(model, b), ((model(x) - y) ** 2).mean())


def test_meta_train_is_deterministic_for_a_seed():
    def run(seed):
        torch.manual_seed(0)
        model = ml.make_model()
        h = ml.meta_train(model, "maml", iterations=30, seed=seed, log_every=10, progress=False)
        return model, h
    (m1, h1), (m2, h2), (m3, _) = run(5), run(5), run(6)
    assert h1.loss == h2.loss and len(h1.loss) == 3
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(m1.parameters(), m3.parameters()))


def test_short_meta_training_beats_the_pretrained_baseline():
    results = {}
    for method in ("maml", "pretrain"):
        torch.manual_seed(0)
        model = ml.make_model()
        ml.meta_train(model, method, iterations=600, seed=1, progress=False)
        results[method] = ml.evaluate(model, k_shot=10, steps=[1, 5], n_tasks=300)
    for step in (1, 5):
        maml_mean, maml_ci = results["maml"].at(step)
        base_mean, base_ci = results["pretrain"].at(step)
        assert maml_mean + maml_ci < base_mean - base_ci, (step, results)


def test_evaluate_follows_the_papers_protocol():
    """Step 0 is the plain MSE of the model on 100 evenly spaced x in [-5, 5], averaged over the tasks."""
    model = ml.make_model()
    r = ml.evaluate(model, k_shot=5, steps=[0, 2], n_tasks=50, seed=3)
    assert r.steps == [0, 2] and r.n_tasks == 50 and r.nonfinite == [0, 0] and "K=5" in str(r)
    b = ml.SineTasks().sample(50, 5, generator=torch.Generator().manual_seed(3))
    x = torch.linspace(-5, 5, 100)[:, None]
    with torch.no_grad():
        per_task = torch.stack([((model(x) - b.amplitude[i] * torch.sin(x - b.phase[i])) ** 2).mean()
                                for i in range(50)])
    assert r.mean[0] == pytest.approx(per_task.mean().item(), rel=1e-5)
    assert r.ci95[0] == pytest.approx(1.96 * per_task.std().item() / math.sqrt(50), rel=1e-5)
    assert r.mean[1] < r.mean[0]  # two SGD steps on the K points help on average


def test_multi_step_loss_weighs_the_query_loss_after_each_step():
    """step_weights (a, b): a * (loss after 1 step) + b * (loss after 2 steps), gradients included."""
    model, b = model64(), batch(dtype=torch.float64)
    weighted = ml.meta_loss(model, b, inner_steps=2, step_weights=(0.7, 0.3))
    one, two = ml.meta_loss(model, b, inner_steps=1), ml.meta_loss(model, b, inner_steps=2)
    torch.testing.assert_close(weighted, 0.7 * one + 0.3 * two)
    grads = torch.autograd.grad(weighted, list(model.parameters()))
    expected = [0.7 * g1 + 0.3 * g2 for g1, g2 in zip(torch.autograd.grad(one, list(model.parameters())),
                                                      torch.autograd.grad(two, list(model.parameters())))]
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e)
    # only the last step weighted: the plain objective
    torch.testing.assert_close(ml.meta_loss(model, b, inner_steps=2, step_weights=(0, 1)), two)
    with pytest.raises(ValueError, match="one weight per inner step"):
        ml.meta_loss(model, b, inner_steps=3, step_weights=(0.5, 0.5))
    with pytest.raises(ValueError, match="positive sum"):
        ml.meta_train(ml.make_model(), "maml", iterations=1, inner_steps=2, step_weights=(0, 0), progress=False)
    with pytest.raises(ValueError, match="reptile has none"):
        ml.meta_train(ml.make_model(), "reptile", iterations=1, step_weights=(1,) * 5, progress=False)


def test_task_errors_score_each_task_after_each_step_count():
    """Row s, column i: task i's grid MSE after s SGD steps, as adapting that one task alone gives it."""
    torch.manual_seed(0)
    model = ml.make_model()
    b = ml.SineTasks().sample(4, 5, generator=torch.Generator().manual_seed(1))
    errors = ml.task_errors(model, b, steps=[0, 3], inner_lr=0.02)
    assert errors.shape == (2, 4)
    x = torch.linspace(-5, 5, 100)[:, None]
    for i in range(4):
        params = ml.adapt(model, b.x_support[i], b.y_support[i], inner_steps=3, inner_lr=0.02)
        with torch.no_grad():
            alone = ((ml.predict(model, params, x) - b.amplitude[i] * torch.sin(x - b.phase[i])) ** 2).mean()
        torch.testing.assert_close(errors[1, i], alone, rtol=1e-5, atol=1e-6)
    assert (errors[1] < errors[0]).any()
    with pytest.raises(ValueError, match="ascending"):
        ml.task_errors(model, b, steps=[3, 1])
    with pytest.raises(ValueError, match="inner_lr"):
        ml.task_errors(model, b, steps=[1], inner_lr=-1.0)


def test_metasgd_meta_gradient_equals_unrolled_autograd_for_weights_and_rates():
    model, b = model64(), batch(meta_batch=3, dtype=torch.float64)
    rates = {n: (0.01 + 0.02 * torch.rand_like(p, dtype=torch.float64)).requires_grad_()
             for n, p in model.named_parameters()}
    ours = torch.autograd.grad(ml.meta_loss(model, b, inner_steps=2, inner_lr=rates),
                               [*model.parameters(), *rates.values()])
    reference = [torch.zeros_like(g) for g in ours]
    for i in range(3):
        params = dict(model.named_parameters())
        for _ in range(2):
            loss = ((torch.func.functional_call(model, params, (b.x_support[i],)) - b.y_support[i]) ** 2).mean()
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
            params = {n: p - rates[n] * g for (n, p), g in zip(params.items(), grads)}
        loss_q = ((torch.func.functional_call(model, params, (b.x_query[i],)) - b.y_query[i]) ** 2).mean() / 3
        for acc, g in zip(reference, torch.autograd.grad(loss_q, [*model.parameters(), *rates.values()])):
            acc += g
    for g, r in zip(ours, reference):
        torch.testing.assert_close(g, r)
    assert any(g.abs().sum() > 0 for g in ours[len(rates):])  # the rates really get a gradient


def test_metasgd_learns_rates_that_survive_a_checkpoint(tmp_path):
    model = ml.make_model()
    ml.meta_train(model, "metasgd", iterations=50, log_every=10, progress=False)
    rates = model.learned_inner_lr
    assert set(rates) == {n for n, _ in model.named_parameters()}
    assert any(not torch.allclose(r, torch.full_like(r, 0.01)) for r in rates.values())
    ml.save_checkpoint(model, tmp_path / "m.pt", method="metasgd")
    loaded = ml.load_checkpoint(tmp_path / "m.pt")
    assert all(torch.equal(loaded.learned_inner_lr[n], r) for n, r in rates.items())
    x, y = torch.linspace(-3, 3, 5)[:, None], torch.zeros(5, 1)
    a, b = ml.adapt(model, x, y, inner_lr=rates), ml.adapt(loaded, x, y, inner_lr=loaded.learned_inner_lr)
    assert all(torch.allclose(a[n], b[n]) for n in a)


def test_rescaled_units_compute_the_same_function_but_step_like_per_unit_rates():
    """ReLU's rescaling symmetry: same function; one SGD step on the rescaled weights is a step on the
    original weights with rate alpha / s^2 for every parameter multiplied by s (Meta-SGD's rule)."""
    model, alpha = model64(), 0.01
    g = torch.Generator().manual_seed(0)
    c1, c2 = (0.3 + 2.7 * torch.rand(40, generator=g, dtype=torch.float64) for _ in range(2))
    theta = {n: p.detach() for n, p in model.named_parameters()}
    scaled = ml.rescale_units(theta, [c1, c2])
    x = torch.linspace(-5, 5, 100, dtype=torch.float64)[:, None]
    torch.testing.assert_close(ml.forward(scaled, x), ml.forward(theta, x))
    b = batch(meta_batch=1, dtype=torch.float64)
    xs, ys = b.x_support[0], b.y_support[0]
    stepped = ml.rescale_units(ml.adapt(model, xs, ys, 1, alpha, params=scaled), [1 / c1, 1 / c2])
    rates = {"layers.0.weight": alpha / c1[:, None] ** 2, "layers.0.bias": alpha / c1 ** 2,
             "layers.1.weight": alpha * (c1[None, :] / c2[:, None]) ** 2, "layers.1.bias": alpha / c2 ** 2,
             "layers.2.weight": alpha * c2[None, :] ** 2, "layers.2.bias": torch.full((1,), alpha, dtype=torch.float64)}
    expected = ml.adapt(model, xs, ys, 1, rates, params=theta)
    for n in theta:
        torch.testing.assert_close(stepped[n], expected[n])
    plain = ml.adapt(model, xs, ys, 1, alpha, params=theta)  # the scales really change the step
    assert not torch.allclose(ml.forward(stepped, x), ml.forward(plain, x), atol=1e-3)
    with pytest.raises(ValueError, match="one scale tensor per hidden layer"):
        ml.rescale_units(theta, [c1])


def test_unit_scales_get_a_meta_gradient_only_through_adaptation():
    """The function does not depend on the scales, so without a step (inner_lr=0) their gradient is 0."""
    model, b = model64(), batch(dtype=torch.float64)
    log_scales = [torch.zeros(40, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    for lr, moves in ((0.0, False), (0.01, True)):
        start = ml.rescale_units(dict(model.named_parameters()), [s.exp() for s in log_scales])
        grads = torch.autograd.grad(ml.meta_loss(model, b, inner_lr=lr, params=start), log_scales)
        assert (max(gr.abs().max().item() for gr in grads) > 1e-6) == moves, (lr, grads)


def test_learning_unit_scales_trains_faster_and_leaves_a_plain_mlp():
    """Same seed, same init, same iterations: learning the scales reaches a lower 1-step loss, and the
    result is an ordinary MLP adapted by plain SGD (the scales are folded into its weights)."""
    scores, histories = {}, {}
    for learn in (False, True):
        torch.manual_seed(0)
        model = ml.make_model()
        histories[learn] = ml.meta_train(model, "maml", iterations=400, seed=1, k_shot=5, k_query=10,
                                         outer_lr=5e-3, learn_unit_scales=learn, progress=False)
        scores[learn] = ml.evaluate(model, k_shot=5, steps=[1], n_tasks=1000).at(1)
        assert type(model) is ml.MLP and not hasattr(model, "learned_inner_lr")
    assert histories[False].unit_scales is None
    assert [s.shape for s in histories[True].unit_scales] == [(40,), (40,)]
    assert scores[True][0] + scores[True][1] < scores[False][0] - scores[False][1], scores
    with pytest.raises(ValueError, match="reptile has no such loop"):
        ml.meta_train(ml.make_model(), "reptile", iterations=1, learn_unit_scales=True, progress=False)
    with pytest.raises(ValueError, match="ReLU"):
        ml.meta_train(ml.make_model(activation="tanh"), "maml", iterations=1, learn_unit_scales=True, progress=False)


def test_smooth_relu_is_a_rounded_relu_with_curvature():
    """softplus_beta is within log(2)/beta of ReLU, and unlike ReLU has a second derivative at the kink."""
    z = torch.linspace(-6, 6, 2001, dtype=torch.float64, requires_grad=True)
    for beta in (1.0, 10.0, 100.0):
        gap = ml.smooth_relu(beta)(z) - torch.relu(z)
        assert 0 <= gap.min() and abs(gap.max().item() - math.log(2) / beta) < 1e-12
    zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    for act, curvature in ((torch.relu, 0.0), (ml.smooth_relu(10.0), 10.0 / 4)):  # softplus'' = beta s (1 - s)
        (slope,) = torch.autograd.grad(act(zero).sum(), zero, create_graph=True)
        (second,) = torch.autograd.grad(slope.sum(), zero, allow_unused=True, materialize_grads=True)
        assert second.item() == pytest.approx(curvature)
    model = ml.make_model()
    x = torch.linspace(-5, 5, 7)[:, None]
    h = torch.nn.functional.softplus(model.layers[0](x), beta=5.0)
    h = torch.nn.functional.softplus(model.layers[1](h), beta=5.0)
    assert torch.allclose(ml.forward(dict(model.named_parameters()), x, ml.smooth_relu(5.0)), model.layers[2](h))
    for bad in (0, -1.0, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="beta must be a finite number > 0"):
            ml.smooth_relu(bad)
    h = torch.relu(model.layers[0](x))  # one activation per hidden layer
    h = torch.nn.functional.softplus(model.layers[1](h), beta=5.0)
    params = dict(model.named_parameters())
    assert torch.allclose(ml.forward(params, x, ("relu", ml.smooth_relu(5.0))), model.layers[2](h))
    with pytest.raises(ValueError, match="one activation per hidden layer"):
        ml.forward(params, x, ("relu",))


def test_relu_smoothing_trains_through_softplus_first_then_relu():
    """The first iterations' loss is MAML's meta-loss through smooth_relu(beta) on the same batch; the last
    ones go through the ReLU; the model is a ReLU MLP afterwards, even when training stops with an error."""
    def first_loss(iterations, smoothing):
        torch.manual_seed(0)
        model = ml.make_model()
        history = ml.meta_train(model, "maml", iterations, seed=3, k_shot=5, log_every=1, progress=False,
                                relu_smoothing=smoothing)
        assert model.activation == "relu"
        return history.loss[0]

    torch.manual_seed(0)
    reference = ml.make_model()
    first_batch = ml.SineTasks().sample(25, 5, 5, generator=torch.Generator().manual_seed(3))
    beta_1 = 3.0 * (100.0 / 3.0) ** (1 / (0.8 * 5))  # iteration 1 of 5: the schedule's first step
    assert smoothing_beta(1, 5, (3.0, 100.0)) == pytest.approx(beta_1)
    assert smoothing_beta(4, 5, (3.0, 100.0)) == pytest.approx(100.0) and smoothing_beta(5, 5, (3.0, 100.0)) is None
    reference.activation = ml.smooth_relu(beta_1)
    assert first_loss(5, (3.0, 100.0)) == pytest.approx(ml.meta_loss(reference, first_batch).item(), rel=1e-6)
    reference.activation = "relu"
    relu_loss = ml.meta_loss(reference, first_batch).item()
    assert first_loss(1, (3.0, 100.0)) == pytest.approx(relu_loss, rel=1e-6)  # 1 iteration: past the 80%
    assert first_loss(5, None) == pytest.approx(relu_loss, rel=1e-6)
    model = ml.make_model()
    with pytest.raises(ml.DivergenceError):
        ml.meta_train(model, "maml", iterations=5, inner_lr=1e30, inner_steps=3, relu_smoothing=(3, 100),
                      progress=False)
    assert model.activation == "relu"


def test_smooth_layers_rounds_off_only_the_named_layers():
    """smooth_layers=(2,): the first iteration's loss is the meta-loss with the first layer's exact ReLU and the
    second layer's softplus, not the all-layers one."""
    first_batch = ml.SineTasks().sample(25, 5, 5, generator=torch.Generator().manual_seed(3))
    beta_1 = smoothing_beta(1, 5, (3.0, 100.0))
    losses = {}
    for layers in (None, (2,), (1, 2)):
        torch.manual_seed(0)
        model = ml.make_model()
        history = ml.meta_train(model, "maml", 5, seed=3, k_shot=5, log_every=1, progress=False,
                                relu_smoothing=(3.0, 100.0), smooth_layers=layers)
        assert model.activation == "relu"
        losses[layers] = history.loss[0]
    torch.manual_seed(0)
    reference = ml.make_model()
    reference.activation = ("relu", ml.smooth_relu(beta_1))
    assert losses[(2,)] == pytest.approx(ml.meta_loss(reference, first_batch).item(), rel=1e-6)
    assert losses[(1, 2)] == losses[None] and abs(losses[(2,)] - losses[None]) > 1e-4


@pytest.mark.parametrize("smoothing, layers, message", [
    ((3, 100), (3,), "numbered 1 to 2"),
    ((3, 100), (0,), "numbered 1 to 2"),
    ((3, 100), (), "numbered 1 to 2"),
    ((3, 100), (2, 2), "distinct"),
    ((3, 100), "2", "numbered 1 to 2"),
    ((3, 100), (True,), "numbered 1 to 2"),
    ((3, 100), ([2],), "numbered 1 to 2"),
    (None, (2,), "set relu_smoothing too"),
])
def test_smooth_layers_rejects_bad_settings(smoothing, layers, message):
    with pytest.raises(ValueError, match=message):
        ml.meta_train(ml.make_model(), "maml", iterations=1, relu_smoothing=smoothing, smooth_layers=layers,
                      progress=False)


@pytest.mark.parametrize("model, smoothing, message", [
    (ml.make_model(activation="tanh"), (3, 100), "needs a maml_lite ReLU MLP"),
    (ml.make_model(), (100, 3), "beta_start <= beta_end"),
    (ml.make_model(), (0, 3), "0 < beta_start"),
    (ml.make_model(), (3, float("nan")), "finite"),
    (ml.make_model(), "3,100", "must be \\(beta_start, beta_end\\)"),
    (ml.make_model(), (3,), "must be \\(beta_start, beta_end\\)"),
])
def test_relu_smoothing_rejects_bad_settings(model, smoothing, message):
    with pytest.raises(ValueError, match=message):
        ml.meta_train(model, "maml", iterations=1, relu_smoothing=smoothing, progress=False)
