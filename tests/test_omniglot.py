"""Few-shot characters against independent references: episode sampling and the split, the batched
functional conv net against plain nn.Modules task by task, MAML's second-order meta-gradient
(through per-task batch statistics) against a per-task unrolled float64 reference, ProtoNet's logits
against a hand computation, the fine-tuning baseline, and the shipped cards recomputed."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import maml_lite as ml
from maml_lite import omniglot as om
from maml_lite.cli import FEW_SHOT_CARD
from maml_lite.methods import CHECKPOINTS
from maml_lite.methods.finetune import FineTune
from maml_lite.methods.protonet import ProtoNet, as_linear_head, prototypes


@pytest.fixture(scope="module")
def train_tasks():
    return om.OmniglotTasks("train", n_way=5)


def reference_net(params):
    """A plain nn.Sequential with one task's `params` (no task dimension), and each ConvNet
    parameter's name in it."""
    hidden = params["convs.0.weight"].shape[0]
    layers, names = [], {}
    for i in range(4):
        names[f"convs.{i}.weight"] = f"{len(layers)}.weight"
        layers.append(nn.Conv2d(1 if i == 0 else hidden, hidden, 3, stride=2, padding=1,
                                bias=False))
        names[f"norms.{i}.weight"], names[f"norms.{i}.bias"] = (f"{len(layers)}.weight",
                                                                f"{len(layers)}.bias")
        layers += [nn.BatchNorm2d(hidden, track_running_stats=False), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    names["head.weight"], names["head.bias"] = f"{len(layers)}.weight", f"{len(layers)}.bias"
    layers.append(nn.Linear(hidden, params["head.weight"].shape[0]))
    net = nn.Sequential(*layers).to(params["head.weight"].dtype)
    assert set(names) == set(params)
    own = dict(net.named_parameters())
    with torch.no_grad():
        for n, p in params.items():
            own[names[n]].copy_(p)
    return net, names


def per_task_params(model, meta_batch, seed=0, scale=0.1):
    """Different weights for each task: the model's plus seeded noise."""
    gen = torch.Generator().manual_seed(seed)
    return {n: p.detach().expand(meta_batch, *p.shape)
            + scale * torch.randn(meta_batch, *p.shape, generator=gen, dtype=p.dtype)
            for n, p in model.named_parameters()}


# episodes and the split

def test_episodes_have_the_documented_shapes_and_labels(train_tasks):
    b = train_tasks.sample(3, k_shot=2, k_query=4, generator=torch.Generator().manual_seed(0))
    assert b.x_support.shape == (3, 10, 1, 28, 28) and b.x_support.dtype == torch.float32
    assert b.x_query.shape == (3, 20, 1, 28, 28) and b.y_query.shape == (3, 20)
    assert b.y_support.tolist()[0] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert 0 <= b.x_support.min() and b.x_support.max() <= 1
    for t in range(3):
        assert len(set(b.classes[t].tolist())) == 5
        for c in range(5):  # every drawing of label c is one of class classes[t, c]'s drawings
            drawings = train_tasks.images[b.classes[t, c]].float() / 255
            s, q = b.x_support[t, b.y_support[t] == c], b.x_query[t, b.y_query[t] == c]
            for im in torch.cat([s, q]):
                assert ((drawings - im[0]).abs().amax((1, 2)) == 0).any()
            # six different drawers: six different images
            assert torch.cat([s, q]).flatten(1).unique(dim=0).shape[0] == 6


def test_the_label_order_is_shuffled_and_seeded(train_tasks):
    b1 = train_tasks.sample(50, 1, 1, generator=torch.Generator().manual_seed(1))
    b2 = train_tasks.sample(50, 1, 1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(b1.x_support, b2.x_support) and torch.equal(b1.classes, b2.classes)
    assert (b1.classes.sort(1).values != b1.classes).any(), "classes must not come sorted"
    assert len(set(b1.classes[:, 0].tolist())) > 30


def test_rotations_are_for_training_only_and_splits_share_no_character():
    train, val, test = (om.OmniglotTasks(s) for s in om.SPLITS)
    assert train.rotations and not val.rotations and not test.rotations
    assert (train.n_classes, val.n_classes, test.n_classes) == (4 * 179, 17, 46)
    assert torch.equal(train.images[1], torch.rot90(train.images[0], 1, dims=(-2, -1)))
    chars = [set(t.characters.tolist()) for t in (train, val, test)]
    assert not chars[0] & chars[1] and not chars[0] & chars[2] and not chars[1] & chars[2]
    assert not {*train.alphabets} & {*val.alphabets, *test.alphabets}
    assert om.OmniglotTasks("test", n_way=20).sample(2, 1, 15).x_query.shape == (2, 300, 1, 28, 28)


def test_bad_requests_say_what_to_do():
    with pytest.raises(ValueError, match="split must be one of"):
        om.OmniglotTasks("evaluation")
    with pytest.raises(ValueError, match="n_way must be between 2 and 17"):
        om.OmniglotTasks("val", n_way=20)
    with pytest.raises(ValueError, match="k_query must be between 0 and 19"):
        om.OmniglotTasks("val").sample(1, 1, 20)


def test_shifts_move_each_image_by_whole_pixels_within_the_bound():
    x = torch.zeros(4, 5, 28, 28)
    x[..., 10, 12] = 1
    y = om.shifted(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.equal(y.sum((-1, -2)), x.sum((-1, -2)))
    where = torch.stack([t.nonzero()[0] for t in y.reshape(-1, 28, 28)])
    assert (where[:, 0] - 10).abs().max() <= 2 and (where[:, 1] - 12).abs().max() <= 2
    assert len({tuple(p) for p in where.tolist()}) > 5  # each image its own offset
    assert om.shifted(x, 0) is x


def test_scores_are_each_episodes_accuracy():
    logits = torch.tensor([[[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]])
    scores = om.OmniglotTasks.score(logits, torch.tensor([[0, 1, 1]]))
    assert scores.tolist() == pytest.approx([2 / 3])


# the network

def test_batched_functional_forward_equals_plain_modules_task_by_task():
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=8).double()
    x = torch.rand(3, 7, 1, 28, 28, dtype=torch.float64)
    params = per_task_params(model, 3)
    logits = model.functional(params, x)
    assert logits.shape == (3, 7, 5)
    for t in range(3):
        net, _ = reference_net({n: p[t] for n, p in params.items()})
        torch.testing.assert_close(logits[t], net(x[t]), rtol=1e-10, atol=1e-10)
    shared, (net, _) = model(x), reference_net(dict(model.named_parameters()))
    for t in range(3):  # shared weights, but each task's own batch statistics
        torch.testing.assert_close(shared[t], net(x[t]), rtol=1e-10, atol=1e-10)


def test_batch_statistics_are_per_task():
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=8).double()
    x = torch.rand(3, 6, 1, 28, 28, dtype=torch.float64)
    y = x.clone()
    y[1] = 1 - y[1]
    a, b = model(x), model(y)
    torch.testing.assert_close(a[[0, 2]], b[[0, 2]], rtol=0, atol=0)
    assert not torch.allclose(a[1], b[1])


def test_with_ways_keeps_the_body_and_fits_the_head():
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=8)
    w, b = model.head.weight, model.head.bias
    three, twenty = model.with_ways(3), model.with_ways(20)
    assert torch.equal(three.head.weight, w[:3]) and torch.equal(three.head.bias, b[:3])
    torch.testing.assert_close(twenty.head.weight, w.mean(0).expand(20, 8))
    torch.testing.assert_close(twenty.head.bias, b.mean().expand(20))
    assert torch.equal(twenty.convs[2].weight, model.convs[2].weight)
    x = torch.rand(2, 3, 1, 28, 28)
    assert twenty(x).shape == (2, 3, 20) and (twenty(x) - twenty(x)[..., :1]).abs().max() == 0


# MAML through the core

def reference_meta_gradient(model, batch, inner_steps, inner_lr, first_order):
    """Each task alone, through a plain nn.Module unrolled with autograd; the mean of the query
    losses differentiated with respect to the shared start."""
    net, names = reference_net(dict(model.named_parameters()))
    start = {names[n]: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    losses = []
    for t in range(batch.x_support.shape[0]):
        fast = dict(start)
        for _ in range(inner_steps):
            loss = F.cross_entropy(torch.func.functional_call(net, fast, (batch.x_support[t],)),
                                   batch.y_support[t])
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            fast = {n: p - inner_lr * g for (n, p), g in zip(fast.items(), grads)}
        losses.append(F.cross_entropy(torch.func.functional_call(net, fast, (batch.x_query[t],)),
                                      batch.y_query[t]))
    loss = torch.stack(losses).mean()
    grads = dict(zip(start, torch.autograd.grad(loss, list(start.values()))))
    return loss, {n: grads[names[n]] for n in names}


def meta_gradient(model, method, batch):
    loss = method(model, batch)
    return loss, dict(zip(dict(model.named_parameters()),
                          torch.autograd.grad(loss, list(model.parameters()))))


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_maml_meta_gradient_equals_a_per_task_unrolled_reference(train_tasks, inner_steps):
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=6).double()
    batch = train_tasks.sample(3, 1, 2, generator=torch.Generator().manual_seed(2))
    batch = batch.to(torch.float64)
    for first_order in (False, True):
        ref_loss, ref = reference_meta_gradient(model, batch, inner_steps, 0.4, first_order)
        loss, got = meta_gradient(model, ml.MAML(inner_steps, 0.4, first_order), batch)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-12)
        for n in ref:
            torch.testing.assert_close(got[n], ref[n], rtol=1e-8, atol=1e-10, msg=n)
    _, second = meta_gradient(model, ml.MAML(inner_steps, 0.4), batch)
    _, first = meta_gradient(model, ml.FOMAML(inner_steps, 0.4), batch)
    # the Hessian term reaches every layer, the batch-norm scales included
    for n in ("convs.0.weight", "norms.0.weight", "norms.3.bias"):
        assert (second[n] - first[n]).abs().max() > 1e-6 * second[n].abs().max(), n


def test_evaluation_adapts_without_touching_the_model(train_tasks):
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=8)
    before = {n: p.clone() for n, p in model.named_parameters()}
    batch = train_tasks.sample(4, 1, 3, generator=torch.Generator().manual_seed(0))
    traj = ml.MAML(inner_lr=0.4).trajectory(model, batch.x_support, batch.y_support,
                                            batch.x_support, 5)
    assert traj.shape == (6, 4, 5, 5) and not traj.requires_grad
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    losses = [F.cross_entropy(t.flatten(0, 1), batch.y_support.flatten()) for t in traj]
    assert losses[-1] < losses[0]  # the steps fit the support set


# ProtoNet and the fine-tuning baseline

def test_prototypes_and_logits_equal_a_hand_computation():
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=4).double()
    x = torch.rand(2, 6, 1, 28, 28, dtype=torch.float64)
    xq = torch.rand(2, 5, 1, 28, 28, dtype=torch.float64)
    ys = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 0, 1, 1, 0]])
    logits = ProtoNet().trajectory(model, x, ys, xq, 0)[0]
    zs, zq = om.features(model.body(), x), om.features(model.body(), xq)
    for t in range(2):
        for c in range(3):
            members = [zs[t, i] for i in range(6) if ys[t, i] == c]
            proto = sum(members) / len(members)
            for q in range(5):
                expected = -sum((zq[t, q, d] - proto[d]) ** 2 for d in range(4))
                torch.testing.assert_close(logits[t, q, c], expected)
    # as a linear head: the same ranking of classes (logits differ by -||z||^2 per query)
    w, b = as_linear_head(prototypes(zs, ys))
    linear = zq @ w.transpose(1, 2) + b.unsqueeze(1)
    torch.testing.assert_close(linear - (zq ** 2).sum(-1, keepdim=True), logits)


def test_protonet_trains_the_body_not_the_head(train_tasks):
    torch.manual_seed(0)
    model = om.ConvNet(5, hidden=8)
    ProtoNet()(model, train_tasks.sample(2, 2, 3)).backward()
    assert model.head.weight.grad is None and model.convs[0].weight.grad.abs().sum() > 0


def test_finetune_pretrains_over_global_classes_and_refits_a_head(train_tasks):
    torch.manual_seed(0)
    model, method = om.ConvNet(5, hidden=16), FineTune(n_classes=716, hidden=16, weight_decay=0)
    batch = train_tasks.sample(3, 2, 2, generator=torch.Generator().manual_seed(0))
    logits = method.classifier(om.features(model.body(), batch.x_support))
    expected = F.cross_entropy(logits.flatten(0, 1), batch.classes.gather(1, batch.y_support)
                               .flatten())
    both = FineTune(n_classes=716, hidden=16)
    both.load_state_dict(method.state_dict())
    support_only = om.FewShotBatch(batch.x_support, batch.y_support, batch.x_support[:, :0],
                                   batch.y_support[:, :0], batch.classes)
    torch.testing.assert_close(both(model, support_only), expected)
    # the refit head separates the support set it was fit on
    traj = method.trajectory(model, batch.x_support, batch.y_support, batch.x_support, 300)
    assert traj.shape == (301, 3, 10, 5) and (traj[0] == 0).all()
    assert (om.OmniglotTasks.score(traj[-1], batch.y_support) == 1).all()
    with pytest.raises(ValueError, match="set n_classes"):
        FineTune(n_classes=10, hidden=16)(model, batch)


# the shipped checkpoints

SHIPPED = sorted(p.stem for p in (CHECKPOINTS / "omniglot").glob("*.pt"))


def test_every_recipe_has_its_checkpoint_and_card():
    recipes = sorted(p.stem for p in (CHECKPOINTS.parent / "recipes" / "omniglot").glob("*.toml"))
    assert recipes == SHIPPED == ["finetune", "fomaml", "maml", "protonet"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_card_figures_recompute_exactly(name):
    """The card's 5-way 1-shot figures from the weights, on the card's own 1000 test episodes, after
    up to 3 steps (the other settings and 10 steps cost minutes more; they come from the same
    code)."""
    model, method = ml.load_pretrained(f"omniglot/{name}")
    card = ml.model_card(f"omniglot/{name}")
    assert card == json.loads((CHECKPOINTS / "omniglot" / f"{name}.json").read_text())
    assert list(card["evaluation"]) == [f"{n}-way {k}-shot" for n, k in FEW_SHOT_CARD]
    stored = card["evaluation"]["5-way 1-shot"]
    # MAML's steps each cost a backward pass through the conv net: up to 3; the others' are cheap
    steps = [s for s in stored["steps"] if s <= 3] if "maml" in name else stored["steps"]
    torch.set_num_threads(2)
    result = ml.evaluate(model, 1, steps, stored["n_tasks"], method=method,
                         tasks=om.OmniglotTasks("test", 5))
    for step, got in zip(steps, result.mean):
        want = stored["mean"][stored["steps"].index(step)]
        assert got == pytest.approx(want, abs=1.5e-3)  # one episode in 1000 is 1e-3 of 75 queries


# the character playground

def test_a_playground_episode_shows_one_drawing_and_queries_the_other_nineteen():
    from maml_lite.playground.characters import episode
    tasks = om.OmniglotTasks("test", 5)
    batch = episode(tasks, [3, 7, 11], support_drawer=4)
    assert batch.x_support.shape == (1, 3, 1, 28, 28) and batch.x_query.shape == (1, 57, 1, 28, 28)
    for k, c in enumerate([3, 7, 11]):
        assert torch.equal(batch.x_support[0, k, 0], tasks.images[c, 4].float() / 255)
        queries = batch.x_query[0, batch.y_query[0] == k, 0]
        others = [d for d in range(20) if d != 4]
        assert torch.equal(queries, tasks.images[c, others].float() / 255)
    with pytest.raises(ValueError, match="different characters"):
        episode(tasks, [3, 3], 0)


def test_the_character_playground_redraws_and_turns_failures_into_messages():
    from maml_lite.playground.characters import CharacterPlayground
    torch.manual_seed(0)
    models = {"maml": (om.ConvNet(5, 8), ml.MAML(inner_lr=0.4)), "protonet": (om.ConvNet(5, 8),
                                                                               ProtoNet())}
    pg = CharacterPlayground(models)
    first = bytes(pg.picture.value)
    assert first.startswith(b"\x89PNG") and pg.messages.value == ""
    assert {pg.tasks.class_alphabet[c] for c in pg.classes} == {pg.alphabet.value}
    pg.steps.value = 3
    assert bytes(pg.picture.value) != first and pg.messages.value == ""
    before = pg.classes
    pg.new.click()
    assert pg.classes != before
    pg.alphabet.value = pg.tasks.alphabets[1]
    assert {pg.tasks.class_alphabet[c] for c in pg.classes} == {pg.tasks.alphabets[1]}
    # a drawing from the pad: one more query, predicted by every model, shown as bars
    drawing = torch.zeros(28, 28)
    drawing[5:23, 13:15] = 1
    pg.pad.ink = drawing.flatten().tolist()
    assert pg.messages.value == "" and all(p.shape == (11, 96, 5) for p in pg.probs.values())
    pg.pad.ink = [0.5] * 5
    assert "784" in pg.messages.value
    pg.pad.ink = []
    assert pg.drawing is None and pg.messages.value == ""
    pg.models["broken"] = (nn.Linear(2, 2), ProtoNet())  # a model the playground cannot use
    pg.drawer.value = 7
    assert "Could not update" in pg.messages.value


def test_the_map_in_docs_is_notebook_08s_figure():
    import base64

    root = CHECKPOINTS.parents[1]
    nb = json.loads((root / "notebooks" / "08_few_shot_characters.ipynb").read_text())
    cell = next(c for c in nb["cells"]
                if "figure-pack:map-of-meta-learning" in c["metadata"].get("tags", []))
    png = next(o["data"]["image/png"] for o in cell["outputs"] if "image/png" in o.get("data", {}))
    assert (root / "docs" / "map_of_meta_learning.png").read_bytes() == base64.b64decode(png)
