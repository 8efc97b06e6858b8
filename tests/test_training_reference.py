"""meta_train, end to end, against an independent reference for every method.

The reference samples the same seeded meta-batches, computes each method's update direction one task
at a time with torch.func.functional_call (no maml_lite inner loop), and applies Adam and the
learning-rate schedule written out by hand. Three iterations: the second and third Adam steps depend
on the size of the directions, not only on their signs, and the cosine schedule changes the step
size after the first.
"""

import math

import pytest
import torch
from torch.func import functional_call

import maml_lite as ml
from maml_lite.methods.maml_plus import MAMLPlus
from maml_lite.methods.metasgd import MetaSGD
from maml_lite.methods.reptile import Reptile

ITERATIONS, LR, ALPHA, META_BATCH, K = 3, 1e-3, 0.01, 4, 5


def mse(model, params, x, y):
    return ((functional_call(model, params, (x,)) - y) ** 2).mean()


def inner_sgd(model, params, x, y, steps, rates, create_graph):
    for _ in range(steps):
        grads = torch.autograd.grad(mse(model, params, x, y), list(params.values()),
                                    create_graph=create_graph)
        params = {n: p - rates[n] * g for (n, p), g in zip(params.items(), grads)}
    return params


def direction(method, model, rates, batch):
    """The gradient (or pseudo-gradient) each method hands to Adam, task by task: ({name: tensor},
    {name: tensor})."""
    theta = dict(model.named_parameters())
    if method == "pretrain":
        x = torch.cat([batch.x_support, batch.x_query], 1).reshape(-1, 1)
        y = torch.cat([batch.y_support, batch.y_query], 1).reshape(-1, 1)
        return dict(zip(theta,
                        torch.autograd.grad(mse(model, theta, x, y), list(theta.values())))), {}
    if method == "reptile":
        x, y = (torch.cat([batch.x_support, batch.x_query], 1),
                torch.cat([batch.y_support, batch.y_query], 1))
        phis = [inner_sgd(model, theta, x[i], y[i], 5, {n: ALPHA for n in theta}, False)
                for i in range(META_BATCH)]
        return ({n: (p - sum(phi[n] for phi in phis) / META_BATCH).detach()
                 for n, p in theta.items()}, {})
    loss = 0.0
    for i in range(META_BATCH):
        step_rates = rates if method == "metasgd" else {n: ALPHA for n in theta}
        adapted = inner_sgd(model, theta, batch.x_support[i], batch.y_support[i], 1, step_rates,
                            create_graph=method != "fomaml")
        # the query gradient at the adapted parameters, as if they were theta
        if method == "fomaml":
            adapted = {n: theta[n] + (a - theta[n]).detach() for n, a in adapted.items()}
        loss = loss + mse(model, adapted, batch.x_query[i], batch.y_query[i]) / META_BATCH
    wrt = list(theta.values()) + (list(rates.values()) if method == "metasgd" else [])
    grads = torch.autograd.grad(loss, wrt)
    names = list(theta)
    return dict(zip(names, grads)), dict(zip(names, grads[len(names):]))


def reference_run(method, schedule):
    torch.manual_seed(0)
    model = ml.make_model()
    rates = {n: torch.full_like(p, ALPHA, requires_grad=True) for n, p in model.named_parameters()}
    state = {}  # Adam's moments per tensor
    generator = torch.Generator().manual_seed(0)
    for t in range(1, ITERATIONS + 1):
        batch = ml.SineTasks().sample(META_BATCH, K, K, generator=generator)
        g_theta, g_rates = direction(method, model, rates, batch)
        lr = LR * (0.5 * (1 + math.cos(math.pi * (t - 1) / ITERATIONS)) if schedule == "cosine"
                   else 1.0)
        with torch.no_grad():
            tensors = dict(model.named_parameters()) | {f"rate:{n}": r for n, r in rates.items()}
            grads = g_theta | {f"rate:{n}": g for n, g in g_rates.items()}
            for name, g in grads.items():
                m, v = state.get(name, (torch.zeros_like(g), torch.zeros_like(g)))
                m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
                state[name] = (m, v)
                m_hat, v_hat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
                tensors[name] -= lr * m_hat / (v_hat.sqrt() + 1e-8)
    return model, rates


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("method", ["maml", "fomaml", "reptile", "pretrain", "metasgd"])
def test_meta_train_matches_an_independent_reference(method, schedule):
    expected, expected_rates = reference_run(method, schedule)
    torch.manual_seed(0)
    model = ml.make_model()
    objective = {"metasgd": lambda: MetaSGD(model),
                 "reptile": Reptile}.get(method, lambda: method)()
    ml.meta_train(model, objective, ITERATIONS, seed=0, meta_batch=META_BATCH, k_shot=K,
                  outer_lr=LR, schedule=schedule, progress=False)
    for (name, p), q in zip(model.named_parameters(), expected.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=f"{method}/{schedule}: {name}")
    if method == "metasgd":
        for name, r in objective.rates().items():
            torch.testing.assert_close(r, expected_rates[name], rtol=1e-4, atol=1e-7,
                                       msg=f"rates {name}")
    torch.manual_seed(0)
    start = ml.make_model()
    moved = max((p - q).abs().max().item() for p, q in zip(model.parameters(), start.parameters()))
    assert moved > 0.5 * LR  # three Adam steps of about LR each: the weights really moved


def test_mamlplus_without_refinements_trains_like_maml():
    """The satellite's seam adds nothing when its refinements are off: the same weights as the
    core's MAML."""
    torch.manual_seed(0)
    a = ml.make_model()
    b = ml.make_model()
    b.load_state_dict(a.state_dict())
    ml.meta_train(a, "maml", 5, progress=False)
    objective = MAMLPlus(b, 5)
    ml.meta_train(b, objective, 5, progress=False)
    objective.finish(b)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
