"""Learned optimisers (maml_lite.methods.learned_opt) against references written out task by task.

The reference runs each task alone through torch.func.functional_call, takes the support gradient at
a detached copy of the parameters (the papers' constant-gradient assumption, by a different route
than the package's), and sums the query losses step by step; its loss and every gradient must equal
the batched objective's in float64.
"""

import math

import pytest
import torch
from helpers import batch, model64
from torch.func import functional_call

import maml_lite as ml
from maml_lite.methods.learned_opt import (
    LearnedOptimizer,
    LSTMOptimizer,
    LSTMRule,
    MetaLearner,
    MetaLearnerRule,
    preprocess,
    unflatten,
)


def reference_loss(model, rule, b, steps, learn_init):
    """Mean over tasks and over steps 1..steps of the query MSE, one task at a time."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]

    def unflat(v):
        out, start = {}, 0
        for n, s in zip(names, shapes):
            out[n] = v[start:start + s.numel()].reshape(s)
            start += s.numel()
        return out

    total = 0.0
    for i in range(b.x_support.shape[0]):
        flat = torch.cat([p.reshape(-1) for p in model.parameters()])
        flat = flat if learn_init else flat.detach()
        theta, state = flat[None], None
        for _ in range(steps):
            leaf = theta.detach().requires_grad_()
            loss = ((functional_call(model, unflat(leaf[0]), (b.x_support[i],)) - b.y_support[i])
                    ** 2).mean()
            grad = torch.autograd.grad(loss, leaf)[0]
            theta, state = rule(theta, grad, loss.detach()[None], state)
            query = ((functional_call(model, unflat(theta[0]), (b.x_query[i],)) - b.y_query[i])
                     ** 2).mean()
            total = total + query / steps
    return total / b.x_support.shape[0]


def trained_a_little(rule):
    """Move every weight of the rule off its initial value, so no gradient path is
    trivially zero."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in rule.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return rule


@pytest.mark.parametrize("learn_init", [True, False])
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("kind", [LSTMRule, MetaLearnerRule])
def test_meta_gradient_matches_a_task_by_task_reference(kind, steps, learn_init):
    torch.manual_seed(0)
    model, rule = model64(), trained_a_little(kind(hidden=6)).double()
    b = batch(meta_batch=3, k=5, dtype=torch.float64)
    objective = LearnedOptimizer(rule, steps, learn_init)
    ours, ref = objective(model, b), reference_loss(model, rule, b, steps, learn_init)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10)
    wrt = list(rule.parameters()) + (list(model.parameters()) if learn_init else [])
    for g_ours, g_ref in zip(torch.autograd.grad(ours, wrt), torch.autograd.grad(ref, wrt)):
        assert torch.allclose(g_ours, g_ref, rtol=1e-8, atol=1e-12)
    if not learn_init:  # a fixed start gets no gradient at all
        assert all(g is None for g in torch.autograd.grad(ours, list(model.parameters()),
                                                          allow_unused=True))


def test_meta_learner_with_saturated_gates_is_sgd():
    """f = 1 and i = 0.01 everywhere: the meta-learner is the core's SGD step, step for step."""
    model, rule = model64(), MetaLearnerRule(hidden=4).double()
    with torch.no_grad():
        rule.gates.weight.zero_()
        rule.gates.bias.copy_(torch.tensor([math.log(0.01 / 0.99), 40.0], dtype=torch.float64))
    b = batch(meta_batch=4, k=5, dtype=torch.float64)
    for step, (theta, _) in enumerate(LearnedOptimizer(rule).states(model, b.x_support,
                                                                    b.y_support, 3)):
        params = unflatten(theta, model)
        sgd = ml.adapt(model, b.x_support, b.y_support, step, 0.01, first_order=True)
        for n in params:
            assert torch.allclose(params[n], sgd[n], rtol=1e-9, atol=1e-12), (step, n)


def test_an_untrained_lstm_optimiser_leaves_the_start_alone():
    (model, _), b = ml.load_pretrained("maml"), batch(meta_batch=5, k=5)
    errors = ml.task_errors(model, b, [0, 1, 5], method=LSTMOptimizer())
    assert torch.equal(errors[0], errors[1]) and torch.equal(errors[0], errors[2])


def test_preprocessing_follows_the_paper():
    g = torch.tensor([1.0, -0.5, 1e-3, -1e-3, 0.0])
    expected = torch.tensor([[0.0, 1.0], [math.log(0.5) / 10, -1.0], [math.log(1e-3) / 10, 1.0],
                             [math.log(1e-3) / 10, -1.0], [-1.0, 0.0]])
    assert torch.allclose(preprocess(g), expected, atol=1e-7)
    tiny = torch.tensor([1e-6, -2e-5])  # below e^-10 ~ 4.5e-5: (-1, e^10 g)
    assert torch.allclose(preprocess(tiny),
                          torch.tensor([[-1.0, math.exp(10) * 1e-6], [-1.0, -math.exp(10) * 2e-5]]))


def test_task_errors_match_a_single_chunk_and_the_evaluate_protocol():
    torch.manual_seed(0)
    model, _ = ml.load_pretrained("maml")
    method = MetaLearner(hidden=4)
    trained_a_little(method.rule)
    b = ml.SineTasks().sample(30, 5, generator=torch.Generator().manual_seed(2017))
    method.eval_chunk = 7
    chunked = ml.task_errors(model, b, [0, 2], method=method)
    method.eval_chunk = 30
    whole = ml.task_errors(model, b, [0, 2], method=method)
    assert torch.allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    result = ml.evaluate(model, 5, [0, 2], n_tasks=30, method=method)
    assert result.mean == pytest.approx(whole.mean(1).tolist(), rel=1e-5)
    assert result.mean[0] == pytest.approx(ml.evaluate(model, 5, [0], n_tasks=30).mean[0], rel=1e-6)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model, objective = ml.make_model(), LearnedOptimizer(MetaLearnerRule(hidden=4), 2)
    b = ml.SineTasks().sample(10, 5, 10, generator=torch.Generator().manual_seed(7))
    before = objective(model, b).item()
    ml.meta_train(model, objective, 60, meta_batch=10, k_shot=5, k_query=10, outer_lr=1e-2,
                  progress=False)
    assert objective(model, b).item() < 0.9 * before


def test_bad_input_is_refused_with_a_message(tmp_path):
    with pytest.raises(TypeError, match="rule must be an LSTMRule or a MetaLearnerRule"):
        LearnedOptimizer(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="inner_steps must be between 1"):
        LearnedOptimizer(LSTMRule(), inner_steps=0)
    with pytest.raises(TypeError, match="hidden must be an int"):
        MetaLearnerRule(hidden=2.5)
    model, b = ml.make_model(), batch(meta_batch=2)
    with pytest.raises(ValueError, match="steps must be between 0 and 1000"):
        LSTMOptimizer().trajectory(model, b.x_support, b.y_support, b.x_query, 10**6)


def test_a_learned_rule_unrolled_for_many_steps_is_refused_before_it_allocates():
    """Its LSTM state per weight is most of its memory (about 54 GB for 1000 steps of 25 tasks):
    refused by the estimate, in an instant, naming inner_steps."""
    with pytest.raises(ValueError, match="inner_steps"):
        ml.meta_train(ml.make_model(), LSTMOptimizer(inner_steps=1000), 1, progress=False)
    ml.meta_train(ml.make_model(), LSTMOptimizer(hidden=4, inner_steps=5), 1, meta_batch=4,
                  progress=False)  # the shipped recipes' sizes pass
