"""The ANIL and CAVIA methods (maml_lite.methods.anil, .cavia) against the core and
independent references.

ANIL is the core's inner loop with zero step sizes for the body, so its loss and meta-gradient must
equal ml.meta_loss with such rates. Both are also checked against a reference that adapts one task
at a time with torch.func.functional_call and plain autograd, written out here with no maml_lite
inner loop.
"""

import math

import pytest
import torch
from helpers import batch, model64
from torch import nn
from torch.func import functional_call

import maml_lite as ml
from maml_lite.methods import anil, cavia
from maml_lite.methods.anil import ANIL
from maml_lite.methods.cavia import CAVIA, make_cavia_model


def head_rates(model, lr):
    """Per-parameter step sizes: lr for the last layer, 0 for the body (written here, independently
    of ANIL)."""
    head = f"layers.{len(model.layers) - 1}."
    return {n: torch.full_like(p.detach(), lr if n.startswith(head) else 0.0)
            for n, p in model.named_parameters()}


def cavia64(n_context=2):
    torch.manual_seed(0)
    return make_cavia_model(n_context).double()


def mse(model, params, x, y):
    return ((functional_call(model, params, (x,)) - y) ** 2).mean()


def anil_reference(model, b, steps, lr, first_order):
    """Per task: SGD on the last layer's weight and bias only, then the query loss; mean
    over tasks."""
    theta = dict(model.named_parameters())
    head = [n for n in theta if n.startswith(f"layers.{len(model.layers) - 1}.")]
    loss = 0.0
    for i in range(b.x_support.shape[0]):
        params = dict(theta)
        for _ in range(steps):
            grads = torch.autograd.grad(mse(model, params, b.x_support[i], b.y_support[i]),
                                        [params[n] for n in head], create_graph=not first_order)
            params.update({n: params[n] - lr * g for n, g in zip(head, grads)})
        loss = loss + mse(model, params, b.x_query[i], b.y_query[i]) / b.x_support.shape[0]
    return loss


def cavia_reference(model, b, steps, lr, first_order=False):
    """Per task: the context from zeros by SGD on the support loss, x joined with it; returns
    (loss, contexts)."""
    theta = dict(model.named_parameters())
    n_context = model.sizes[0] - 1
    loss, contexts = 0.0, []
    for i in range(b.x_support.shape[0]):
        context = torch.zeros(n_context, dtype=torch.float64, requires_grad=True)
        x_s, x_q = b.x_support[i], b.x_query[i]
        for _ in range(steps):
            inputs = torch.cat([x_s, context.expand(len(x_s), n_context)], dim=1)
            (g,) = torch.autograd.grad(mse(model, theta, inputs, b.y_support[i]), [context],
                                       create_graph=not first_order)
            context = context - lr * g
        contexts.append(context)
        inputs = torch.cat([x_q, context.expand(len(x_q), n_context)], dim=1)
        loss = loss + mse(model, theta, inputs, b.y_query[i]) / b.x_support.shape[0]
    return loss, torch.stack(contexts)


def grads(loss, model):
    return torch.autograd.grad(loss, list(model.parameters()))


# ANIL


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 3])
def test_anil_equals_the_core_inner_loop_with_zero_body_rates(steps, first_order):
    model, b = model64(), batch(dtype=torch.float64)
    ours = ANIL(steps, 0.05, first_order)(model, b)
    core = ml.meta_loss(model, b, steps, inner_lr=head_rates(model, 0.05), first_order=first_order)
    torch.testing.assert_close(ours, core, rtol=0, atol=1e-10)
    for name, g, e in zip(dict(model.named_parameters()), grads(ours, model), grads(core, model)):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 2])
def test_anil_meta_gradient_equals_unrolled_per_task_autograd(steps, first_order):
    # tanh: the Hessian counts
    model, b = model64(activation="tanh"), batch(meta_batch=3, dtype=torch.float64)
    ours = ANIL(steps, 0.1, first_order)(model, b)
    reference = anil_reference(model, b, steps, 0.1, first_order)
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
    ours_grads = grads(ours, model)
    for name, g, e in zip(dict(model.named_parameters()), ours_grads, grads(reference, model)):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12, msg=name)
    # every layer, the body included, gets a gradient
    assert all(g.abs().sum() > 0 for g in ours_grads)


def test_second_order_differs_from_first_order():
    """The head's inner gradient depends on the body's features: second order sees that, first order
    does not."""
    model, b = model64(activation="tanh"), batch(dtype=torch.float64)
    second, first = (grads(ANIL(1, 0.1)(model, b), model),
                     grads(ANIL(1, 0.1, first_order=True)(model, b), model))
    assert (second[0] - first[0]).abs().max() > 1e-6


def test_features_are_the_last_hidden_layer():
    model, b = model64(), batch(dtype=torch.float64)
    phi = anil.features(model, b.x_query)
    assert phi.shape == (4, 5, 40) and anil.features(model, b.x_query[0]).shape == (5, 40)
    assert (phi >= 0).all()  # after the ReLU
    head = model.layers[2]
    torch.testing.assert_close(phi @ head.weight.T + head.bias, model(b.x_query))
    tanh = model64(activation="tanh")
    torch.testing.assert_close(anil.features(tanh, b.x_query) @ tanh.layers[2].weight.T
                               + tanh.layers[2].bias, tanh(b.x_query))


def test_anil_adapts_the_head_only_in_evaluation_as_the_core_with_zero_body_rates():
    """ANIL's trajectory (the head moved, the body fixed) equals the core's SGD with zero rates for
    the body."""
    model = ml.make_model()
    b = ml.SineTasks().sample(20, 5, generator=torch.Generator().manual_seed(0))
    head_only = ml.task_errors(model, b, [0, 1, 3], method=ANIL(inner_lr=0.05))
    x, y = ml.SineTasks().eval_points(b)
    adapted = ml.adapt(model, b.x_support, b.y_support, 3, head_rates(model, 0.05),
                       first_order=True)
    with torch.no_grad():
        expected = ((ml.predict(model, adapted, x) - y) ** 2).mean(dim=(1, 2))
    torch.testing.assert_close(head_only[2], expected, rtol=1e-5, atol=1e-6)
    # before any step: the model
    torch.testing.assert_close(head_only[0], ml.task_errors(model, b, [0])[0])
    full = ml.evaluate(model, 5, [0, 1], n_tasks=20)
    anil_result = ml.evaluate(model, 5, [0, 1], n_tasks=20, method=ANIL())
    assert anil_result.mean[0] == full.mean[0] and anil_result.mean[1] != full.mean[1]


# CAVIA


@pytest.mark.parametrize("steps", [1, 2])
def test_cavia_meta_gradient_and_contexts_equal_unrolled_per_task_autograd(steps):
    model, b = cavia64(), batch(meta_batch=3, dtype=torch.float64)
    ours = CAVIA(2, steps, 0.5)(model, b)
    reference, ref_contexts = cavia_reference(model, b, steps, 0.5)
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
    for name, g, e in zip(dict(model.named_parameters()), grads(ours, model),
                          grads(reference, model)):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12, msg=name)
    context = cavia.contexts(model, CAVIA(2, steps, 0.5), b, steps)
    assert context.shape == (3, 2) and not context.requires_grad
    torch.testing.assert_close(context, ref_contexts.detach(), rtol=1e-10, atol=1e-12)


def test_cavia_first_order_drops_the_inner_gradient_only():
    model, b = cavia64(), batch(dtype=torch.float64)
    ours = CAVIA(2, 2, 0.5, first_order=True)(model, b)
    reference, _ = cavia_reference(model, b, 2, 0.5, first_order=True)
    torch.testing.assert_close(ours, reference)
    first = grads(ours, model)
    for g, e in zip(first, grads(reference, model)):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)
    second = grads(CAVIA(2, 2, 0.5)(model, b), model)
    assert max((g - e).abs().max() for g, e in zip(second, first)) > 1e-6


def test_with_context_joins_x_and_each_tasks_context():
    x, context = torch.randn(3, 4, 1), torch.randn(3, 2)
    joined = cavia.with_context(x, context)
    assert joined.shape == (3, 4, 3)
    assert torch.equal(joined[..., :1], x) and torch.equal(joined[:, 2, 1:], context)


def test_cavia_task_errors_start_at_the_zero_context_and_evaluate_plugs_in():
    model, b = cavia64(), batch(meta_batch=6, dtype=torch.float64)
    errors = ml.task_errors(model, b, [0, 2, 3], method=CAVIA(inner_lr=0.5))
    assert errors.shape == (3, 6)
    x_grid, y_grid = ml.SineTasks().eval_points(b)
    _, reference_two = cavia_reference(model, b, 2, 0.5)
    with torch.no_grad():
        zero = (model(cavia.with_context(x_grid, torch.zeros(6, 2, dtype=torch.float64)))
                - y_grid) ** 2
        after_two = (model(cavia.with_context(x_grid, reference_two.detach())) - y_grid) ** 2
    torch.testing.assert_close(errors[0], zero.mean(dim=(1, 2)))
    torch.testing.assert_close(errors[1], after_two.mean(dim=(1, 2)))

    torch.manual_seed(0)
    result = ml.evaluate(make_cavia_model(), 5, [0, 1], n_tasks=50, method=CAVIA())
    assert isinstance(result, ml.EvalResult) and result.steps == [0, 1] and result.n_tasks == 50
    assert len(result.mean) == len(result.ci95) == len(result.diverged) == 2
    assert all(math.isfinite(m) and m > 0 for m in result.mean) and result.diverged == [0, 0]


# Training


@pytest.mark.parametrize("method", ["anil", "cavia"])
def test_meta_train_lowers_the_loss(method):
    torch.manual_seed(0)
    model, objective = ((ml.make_model(), ANIL()) if method == "anil"
                        else (make_cavia_model(), CAVIA()))
    history = ml.meta_train(model, objective, iterations=200, meta_batch=25, k_shot=5, k_query=10,
                            outer_lr=1e-2, log_every=5, progress=False)  # about 0.3 s each
    assert len(history.loss) == 40 and all(math.isfinite(v) for v in history.loss)
    first, last = sum(history.loss[:5]) / 5, sum(history.loss[-5:]) / 5
    assert last < 0.9 * first, (first, last)  # seeds 0-11 give at most 0.79 (ANIL) and 0.52 (CAVIA)


# Bad input


def test_cavia_refuses_a_model_without_room_for_the_context():
    b = batch()
    with pytest.raises(ValueError, match=r"1 \+ 2 inputs: make_cavia_model\(2\)"):
        CAVIA()(ml.make_model(), b)
    with pytest.raises(ValueError, match=r"make_cavia_model\(3\)"):
        CAVIA(n_context=3)(make_cavia_model(2), b)
    with pytest.raises(TypeError, match="core MLP"):
        CAVIA()(nn.Linear(3, 1), b)


@pytest.mark.parametrize("make, error, message", [
    (lambda: CAVIA(n_context=0), ValueError, "n_context must be between 1"),
    (lambda: CAVIA(n_context=True), TypeError, "n_context must be an int"),
    (lambda: make_cavia_model(0), ValueError, "n_context must be between 1"),
    (lambda: make_cavia_model(True), TypeError, "n_context must be an int"),
    (lambda: make_cavia_model(2, hidden=(40, 0)), ValueError, "hidden must be"),
    (lambda: CAVIA(inner_steps=-1), ValueError, "inner_steps must be at least 0"),
    (lambda: CAVIA(inner_lr=math.nan), ValueError, "inner_lr must be a finite number"),
    (lambda: ANIL(inner_steps=-1), ValueError, "inner_steps must be at least 0"),
    (lambda: ANIL(inner_lr=math.nan), ValueError, "inner_lr must be a finite number"),
    (lambda: ANIL(inner_lr={"layers.2.weight": torch.ones(1, 40)}), TypeError,
     "inner_lr must be a number"),
])
def test_bad_settings(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_cavia_bad_points():
    model, method = make_cavia_model(), CAVIA()
    x = torch.zeros(2, 5, 1)
    with pytest.raises(ValueError, match="steps must be between 0"):
        method.trajectory(model, x, x, x, -1)
    with pytest.raises(TypeError, match="model is torch.float32"):
        method.trajectory(model, x.double(), x.double(), x.double(), 1)
    with pytest.raises(ValueError, match="NaN or inf"):
        method.trajectory(model, x, torch.full_like(x, math.nan), x, 1)
    empty = method.trajectory(model, x[:, :0], x[:, :0], x, 3)  # no points: the start at every step
    assert empty.shape == (4, 2, 5, 1) and (empty == empty[0]).all()


def test_anil_refuses_what_is_not_the_core_mlp():
    net = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 1))
    with pytest.raises(TypeError, match="core MLP"):
        ANIL()(net, batch())
    with pytest.raises(TypeError, match="at least one hidden layer"):
        ANIL()(ml.MLP((1, 1)), batch())


@pytest.mark.parametrize("x", [torch.zeros(5), torch.zeros(5, 2), [[0.0]]])
def test_features_refuse_a_wrong_shaped_x(x):
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(n, 1\)"):
        anil.features(ml.make_model(), x)


def test_anil_bad_points():
    model, b = ml.make_model(), batch()
    empty = ml.TaskBatch(b.x_support[:, :0], b.y_support[:, :0], b.x_query, b.y_query, b.amplitude,
                         b.phase)
    with pytest.raises(ValueError, match="no support points"):
        ANIL()(model, empty)
    with pytest.raises(TypeError, match="model is torch.float32"):
        ANIL()(model, batch(dtype=torch.float64))
