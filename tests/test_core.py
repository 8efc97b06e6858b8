"""The maths of maml_lite, checked against independent references (float64 where it matters)."""

import math

import pytest
import torch
from helpers import batch, model64

import maml_lite as ml
from maml_lite.adapt import mse
from maml_lite.method import Pretrain
from maml_lite.methods.reptile import Reptile, reptile_direction


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
    reference = torch.nn.Sequential(*[m for layer in model.layers
                                      for m in (layer, torch.nn.ReLU())][:-1])
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
    ours = grads_of(ml.meta_loss(model, b, first_order=False, inner_steps=steps, inner_lr=0.05),
                    model)
    per_task = [unrolled_meta_gradient(model, b.x_support[i], b.y_support[i], b.x_query[i],
                                       b.y_query[i], 0.05, steps)
                for i in range(3)]
    for j, g in enumerate(ours):
        torch.testing.assert_close(g, sum(t[j] for t in per_task) / 3)


def test_second_order_equals_explicit_hessian_formula_and_differs_from_first_order():
    """d/dtheta L_q(theta - a grad L_s) = (I - a H_s) grad L_q(theta'), with H_s g by a
    Hessian-vector product."""
    model, b, lr = model64("tanh"), batch(meta_batch=1, dtype=torch.float64), 0.1
    theta = list(model.parameters())
    x_s, y_s, x_q, y_q = b.x_support[0], b.y_support[0], b.x_query[0], b.y_query[0]
    g_s = torch.autograd.grad(((model(x_s) - y_s) ** 2).mean(), theta, create_graph=True)
    adapted = {n: (p - lr * g).detach() for (n, p), g in zip(model.named_parameters(), g_s)}
    g_q = torch.autograd.grad(mse(ml.predict(model,
                                             {k: v.requires_grad_() for k, v in adapted.items()},
                                             x_q), y_q),
                              list(adapted.values()))
    h_g = torch.autograd.grad(g_s, theta, grad_outputs=g_q)
    expected = [gq - lr * hg for gq, hg in zip(g_q, h_g)]
    second = grads_of(ml.meta_loss(model, b, first_order=False, inner_lr=lr), model)
    first = grads_of(ml.meta_loss(model, b, first_order=True, inner_lr=lr), model)
    for s, e in zip(second, expected):
        torch.testing.assert_close(s, e)
    # FOMAML = the query gradient at the (detached) adapted parameters
    for f, gq in zip(first, g_q):
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
    ours = grads_of(ml.meta_loss(model, b, first_order=first_order), model)
    loop = sum(mse(ml.predict(model,
                              ml.adapt(model, b.x_support[i], b.y_support[i], 1, 0.01, first_order),
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


def test_reptile_objective_has_the_adapted_loss_as_value_and_the_direction_as_gradient():
    model, b = model64(), batch(meta_batch=3, dtype=torch.float64)
    direction, loss = reptile_direction(model, b, inner_steps=4, inner_lr=0.02)
    value = Reptile(inner_steps=4, inner_lr=0.02)(model, b)
    assert value.item() == loss.item()
    for g, (n, _) in zip(grads_of(value, model), model.named_parameters()):
        assert torch.equal(g, direction[n])


def test_pretrain_loss_is_pooled_regression():
    model, b = ml.make_model(), batch()
    x = torch.cat([b.x_support, b.x_query], 1).reshape(-1, 1)
    y = torch.cat([b.y_support, b.y_query], 1).reshape(-1, 1)
    torch.testing.assert_close(Pretrain()(model, b), ((model(x) - y) ** 2).mean())


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
    """Step 0 is the plain MSE of the model on 100 evenly spaced x in [-5, 5], averaged over
    the tasks."""
    model = ml.make_model()
    r = ml.evaluate(model, k_shot=5, steps=[0, 2], n_tasks=50, seed=3)
    assert r.steps == [0, 2] and r.n_tasks == 50 and r.diverged == [0, 0] and "K=5" in str(r)
    b = ml.SineTasks().sample(50, 5, generator=torch.Generator().manual_seed(3))
    x = torch.linspace(-5, 5, 100)[:, None]
    with torch.no_grad():
        per_task = torch.stack([((model(x) - b.amplitude[i] * torch.sin(x - b.phase[i])) ** 2)
                                .mean() for i in range(50)])
    assert r.mean[0] == pytest.approx(per_task.mean().item(), rel=1e-5)
    assert r.ci95[0] == pytest.approx(1.96 * per_task.std().item() / math.sqrt(50), rel=1e-5)
    assert r.mean[1] < r.mean[0]  # two SGD steps on the K points help on average


def test_evaluate_counts_tasks_that_diverge_or_run_away():
    """A task is diverged when its error is NaN, inf or above DIVERGED_MSE (100): counted, whatever
    the mean."""
    from maml_lite.tasks import DIVERGED_MSE

    torch.manual_seed(0)
    model = ml.make_model()
    b = ml.SineTasks().sample(200, 5, generator=torch.Generator().manual_seed(2017))
    for lr in (0.01, 0.3, 3.0):
        r = ml.evaluate(model, 5, steps=[0, 3, 10], n_tasks=200, method=ml.MAML(inner_lr=lr))
        errors = ml.task_errors(model, b, [0, 3, 10], method=ml.MAML(inner_lr=lr))
        assert r.diverged == (~(errors <= DIVERGED_MSE)).sum(1).tolist()
    # at lr 3 SGD blows up; before any step nothing has
    assert r.diverged[0] == 0 and r.diverged[-1] > 0
    finite_but_huge = ((errors > DIVERGED_MSE) & errors.isfinite()).sum()
    overflow = (~errors.isfinite()).sum()
    assert r.diverged[1] + r.diverged[2] == finite_but_huge + overflow and finite_but_huge > 0


def test_task_errors_score_each_task_after_each_step_count():
    """Row s, column i: task i's grid MSE after s SGD steps, as adapting that one task alone
    gives it."""
    torch.manual_seed(0)
    model = ml.make_model()
    b = ml.SineTasks().sample(4, 5, generator=torch.Generator().manual_seed(1))
    errors = ml.task_errors(model, b, steps=[0, 3], method=ml.MAML(inner_lr=0.02))
    assert errors.shape == (2, 4)
    x = torch.linspace(-5, 5, 100)[:, None]
    for i in range(4):
        params = ml.adapt(model, b.x_support[i], b.y_support[i], inner_steps=3, inner_lr=0.02)
        with torch.no_grad():
            alone = ((ml.predict(model, params, x) - b.amplitude[i] * torch.sin(x - b.phase[i]))
                     ** 2).mean()
        torch.testing.assert_close(errors[1, i], alone, rtol=1e-5, atol=1e-6)
    assert (errors[1] < errors[0]).any()
    with pytest.raises(ValueError, match="ascending"):
        ml.task_errors(model, b, steps=[3, 1])
    with pytest.raises(ValueError, match="inner_lr"):
        ml.task_errors(model, b, steps=[1], method=ml.MAML(inner_lr=-1.0))




def test_table2_shows_diverged_counts_instead_of_a_meaningless_mean():
    from maml_lite import plots

    fine = ml.EvalResult(5, 600, [0, 1, 10], [3.0, 0.6, 0.3], [0.2, 0.05, 0.03], [2.5, 0.4, 0.2],
                         [0, 0, 0])
    broken = ml.EvalResult(5, 600, [0, 1, 10], [3.0, 0.4, math.nan], [0.2, 0.04, math.nan],
                           [2.5, 0.3, 9.0], [0, 0, 290])
    table = plots.table2({"maml": fine, "metasgd": broken}, steps=(1, 10))
    maml_row, metasgd_row = table.splitlines()[2:]
    assert "0.60 +- 0.05 (0.67)" in maml_row and "0.30 +- 0.03 (0.35)" in maml_row
    assert ("0.40 +- 0.04" in metasgd_row and "290 diverged" in metasgd_row
            and "nan" not in metasgd_row)
