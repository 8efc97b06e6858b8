"""The shipped checkpoints load safely and meet the bars we promise, on 1000 fresh tasks.

Bars (paper, Finn et al. 2017, Table 2, K=5: MAML 0.67 / 0.38 / 0.35 after 1 / 5 / 10 steps):
the paper-recipe MAML matches the paper; the tuned MAML (maml_plus) beats it beyond its 95% CI at
every step count and meets the stretch bar 0.50 / 0.30 / 0.25 (the paper-recipe MAML does not:
strict xfail); no task of the card's 1000 diverges within ten steps for any checkpoint but Meta-SGD;
on fresh tasks (seed 31415: no recipe was chosen on them and no card is scored on them) every card's
runaway counts are recomputed exactly, so a card cannot claim fewer runaways than there are; FOMAML
and Reptile clearly better than the pretrained baseline at every step count; the baseline shows the
paper's gap (K=5, 1 step > 2). Notebook 07's checkpoints, each adapted its own way: the meta-learner
(learned start and update) below MAML at K=5 after 1, 5 and 10 steps (issue 17's goal), CAVIA
clearly below MAML, ANIL behind MAML after one step but ahead of the baseline from five.
"""

import functools
import math

import pytest
import torch

import maml_lite as ml
from maml_lite.checkpoints import card_file_matches
from maml_lite.cli import FRESH_SEED, RUNAWAY_MSE, fresh_check
from maml_lite.methods import methods, shipped
from maml_lite.plots import PAPER_TABLE2

pytestmark = pytest.mark.slow  # every card recomputed, on 1000 and on fresh tasks

N_TASKS = 1000
SHIPPED = list(ml.PRETRAINED)
# Meta-SGD is left out: its rates are learned for ONE step (notebook 06)
STABLE = ["maml", "maml_plus", "fomaml", "reptile", "pretrain", "anil", "cavia", "lstm_opt",
          "meta_learner"]
# their rule runs on all 1761 numbers per task: fresh checks at K=5 only
LEARNED = ("lstm_opt", "meta_learner")


@functools.cache
def result(name: str, k_shot: int) -> ml.EvalResult:
    """The checkpoint adapted its own way (SGD, learned rates, head only, context, learned rule), as
    its card says."""
    torch.set_num_threads(1)
    model, method = ml.load_pretrained(name)
    return ml.evaluate(model, k_shot, n_tasks=N_TASKS, method=method)


@pytest.mark.parametrize("name", SHIPPED)
def test_loads_as_a_sine_regressor(name):
    model, _ = ml.load_pretrained(name)
    assert isinstance(model, torch.nn.Module)
    x = torch.linspace(-5, 5, 7)[:, None]
    # CAVIA's network also reads its context
    x = torch.cat([x, torch.zeros(7, model.sizes[0] - 1)], dim=1)
    out = model(x)
    assert out.shape == (7, 1) and torch.isfinite(out).all()


def same_figures(card: list, fresh: list, slack: list) -> bool:
    """Equal up to `slack` per entry; a NaN or inf only matches another non-finite value (overflow
    can give either)."""
    return len(card) == len(fresh) == len(slack) and all(
        math.isfinite(c) == math.isfinite(f) and (not math.isfinite(c) or abs(c - f) <= s)
        for c, f, s in zip(card, fresh, slack))


def card_slack(table: dict) -> dict[str, list[float]]:
    """How far a fresh evaluation may sit from the card's: a twentieth of the card's 95% CI for
    means and medians, 1% for the CI (half its own standard error, 1 / sqrt(2 n_tasks)); never less
    than 1e-4 of the figure.

    Floats round differently on another CPU (or in float64), and a task on the edge of SGD's
    stability magnifies that: maml's K=20 mean after 10 steps moves by 8e-4 relative and its CI by
    9e-4, all of it one task whose error bounces between steps (A=2.40, phi=3.06; float32 vs float64
    moves them as much). So little cannot change a claim, yet a card from other weights, another
    seed or another protocol moves the figures by about the CI itself.
    """
    def slack(values: list[float], allowed: list[float]) -> list[float]:
        return [max(1e-4 * abs(v), a if math.isfinite(a) else 0.0) for v, a in zip(values, allowed)]
    twentieth = [c / 20 for c in table["ci95"]]
    return {"mean": slack(table["mean"], twentieth), "median": slack(table["median"], twentieth),
            "ci95": slack(table["ci95"], [c / 100 for c in table["ci95"]])}


@pytest.mark.parametrize("name", SHIPPED)
def test_model_card_matches_a_fresh_evaluation(name):
    """Every figure of the card's evaluation, recomputed: means, CIs, medians, diverged counts,
    task counts."""
    card = ml.model_card(name)
    assert card["name"] == name and card["method"] in methods() and card["training_seconds"] > 0
    assert card_file_matches(shipped(name)), f"{name}.json is not the card inside {name}.pt"
    for k in (5, 10, 20):
        table, ours = card["evaluation"][f"K={k}"], result(name, k)
        assert (table["k_shot"], table["n_tasks"], table["steps"]) == (k, N_TASKS, list(range(11)))
        assert table["diverged"] == ours.diverged, (f"{name} K={k}: diverged {table['diverged']} "
                                                    f"vs {ours.diverged}")
        for field, slack in card_slack(table).items():
            assert same_figures(table[field], getattr(ours, field), slack), f"{name} K={k} {field}"


def test_the_card_check_catches_figures_from_other_tasks():
    """The slack is no blanket: the same weights scored on other tasks (seed 2018) fail every field
    of the check."""
    torch.set_num_threads(1)
    table = ml.model_card("maml")["evaluation"]["K=20"]
    other = ml.evaluate(ml.load_pretrained("maml")[0], 20, n_tasks=N_TASKS, seed=2018)
    for field, slack in card_slack(table).items():
        assert not same_figures(table[field], getattr(other, field), slack), field


@pytest.mark.parametrize("k_shot", [5, 10, 20])
@pytest.mark.parametrize("name", STABLE)
def test_no_task_diverges_within_ten_steps(name, k_shot):
    """No task becomes non-finite, and none runs away: that would lift the 10-step mean above the
    1-step one."""
    r = result(name, k_shot)
    assert r.diverged == [0] * 11
    ten, one = r.at(10)[0], r.at(1)[0]
    assert ten < one, f"{name} K={k_shot}: mean {ten:.3g} after 10 steps, {one:.3g} after 1"


@pytest.mark.parametrize("k_shot", [5, 10, 20])
@pytest.mark.parametrize("name", SHIPPED)
def test_the_cards_runaway_counts_on_fresh_tasks_are_exact(name, k_shot):
    """Recomputed on the same fresh tasks: how many diverged (MSE NaN, inf or > 100) and how many
    ended above 12.5 after ten steps, exactly as the card says, and its worst error within rounding.
    The README and notebooks quote these counts (e.g. ANIL: a few of 10,000 at K=5), so a card that
    hid one would fail here."""
    if name in LEARNED and k_shot != 5:
        pytest.skip("the learned rules' fresh check costs about a minute per K: K=5 is rechecked, "
                    "10 and 20 not")
    torch.set_num_threads(1)
    fresh = ml.model_card(name)["fresh_tasks"]
    assert fresh["seed"] == FRESH_SEED and fresh["steps"] == 10 and fresh["n_tasks"] >= 2000
    model, method = ml.load_pretrained(name)
    table = fresh[f"K={k_shot}"]
    ours = fresh_check(model, method, fresh["n_tasks"], ks=(k_shot,))[f"K={k_shot}"]
    assert ((ours["diverged"], ours["above_12.5"])
            == (table["diverged"], table["above_12.5"])), (name, ours, table)
    assert (ours["worst"] == pytest.approx(table["worst"], rel=1e-3)
            or not math.isfinite(table["worst"]))


@pytest.mark.parametrize("name", ["maml", "fomaml", "cavia", "lstm_opt", "meta_learner"])
def test_these_never_run_away_on_fresh_tasks(name):
    """The README's claim: no fresh task diverges or ends above 12.5 at any K for these (read off
    their cards, which the test above recomputes)."""
    fresh = ml.model_card(name)["fresh_tasks"]
    assert all(fresh[f"K={k}"]["diverged"] == fresh[f"K={k}"]["above_12.5"] == 0
               for k in (5, 10, 20)), fresh


def test_rare_runaways_are_reported_not_hidden():
    """What the fresh tasks show and README reports: the tuned MAML ends one K=5 task of 10,000
    above 12.5; ANIL and Reptile send a few K=5 tasks far off; none of them at K=20."""
    cards = {name: ml.model_card(name)["fresh_tasks"] for name in ("maml_plus", "anil", "reptile")}
    assert cards["maml_plus"]["K=5"]["above_12.5"] >= 1 and cards["anil"]["K=5"]["diverged"] >= 1
    assert all(card["K=20"]["diverged"] == 0 for card in cards.values())
    assert RUNAWAY_MSE == 5.0 ** 2 / 2


@pytest.mark.parametrize("step", [1, 5, 10])
def test_maml_matches_the_papers_table2_at_k5(step):
    """Paper: 0.67 / 0.38 / 0.35. Ours must not be worse beyond its 95% confidence interval."""
    mean, ci = result("maml", 5).at(step)
    paper = PAPER_TABLE2["maml"][step]
    assert mean - ci <= paper, f"MAML K=5 after {step} steps: {mean:.3f} +- {ci:.3f}, paper {paper}"


@pytest.mark.parametrize("step", [1, 5, 10])
def test_tuned_maml_beats_the_paper_beyond_its_confidence_interval_at_k5(step):
    mean, ci = result("maml_plus", 5).at(step)
    paper = PAPER_TABLE2["maml"][step]
    assert mean + ci < paper, (f"tuned MAML K=5 after {step} steps: {mean:.3f} +- {ci:.3f}, paper "
                               f"{paper}")


@pytest.mark.parametrize("name", [
    pytest.param("maml",
                 marks=pytest.mark.xfail(strict=True,
                                         reason="the paper's one-step recipe matches the paper "
                                                "(0.65 after one step) but does not reach the "
                                                "stretch bar")),
    "maml_plus",
])
def test_maml_beats_the_paper_at_k5_by_the_stretch_margin(name):
    r = result(name, 5)
    for step, bar in ((1, 0.50), (5, 0.30), (10, 0.25)):
        assert r.at(step)[0] <= bar, f"MAML K=5 after {step} steps: {r.at(step)[0]:.3f} > {bar}"


def test_pretrained_baseline_shows_the_papers_gap():
    assert result("pretrain", 5).at(1)[0] > 2.0


@pytest.mark.parametrize("k_shot", [5, 10, 20])
@pytest.mark.parametrize("name", ["maml", "maml_plus", "fomaml", "reptile"])
def test_meta_learned_models_clearly_beat_the_baseline_at_every_step(name, k_shot):
    ours, base = result(name, k_shot), result("pretrain", k_shot)
    for step in range(1, 11):
        (m, c), (bm, bc) = ours.at(step), base.at(step)
        assert m + c < bm - bc, (f"{name} K={k_shot} step {step}: {m:.3f}+-{c:.3f} vs baseline "
                                 f"{bm:.3f}+-{bc:.3f}")


@pytest.mark.parametrize("k_shot", [5, 10, 20])
def test_metasgd_adapts_in_one_step_better_than_maml(k_shot):
    (m, c), (maml, maml_c) = result("metasgd", k_shot).at(1), result("maml", k_shot).at(1)
    assert m + c < maml - maml_c, (f"K={k_shot}, 1 step: Meta-SGD {m:.3f}+-{c:.3f} vs MAML "
                                   f"{maml:.3f}+-{maml_c:.3f}")


# Notebook 07's checkpoints: learned optimisers, ANIL and CAVIA, each adapted its own way
# (see `result`).

@pytest.mark.parametrize("step", [1, 5, 10])
def test_the_learned_optimiser_with_a_learned_start_beats_maml_at_k5(step):
    """Issue 17's goal: Ravi & Larochelle's meta-learner (start and update learned) below SGD from
    MAML's start, on the 1000 test tasks, with no task diverged at ten steps."""
    (ours, ci), (maml, maml_ci) = result("meta_learner", 5).at(step), result("maml", 5).at(step)
    assert ours < maml, (f"K=5, {step} steps: meta-learner {ours:.3f}+-{ci:.3f} vs MAML "
                         f"{maml:.3f}+-{maml_ci:.3f}")
    assert result("meta_learner", 5).diverged[10] == 0


def test_the_meta_learner_beats_maml_task_by_task_beyond_the_paired_confidence_interval():
    """The two means' intervals overlap after one step, so compare on the same 1000 tasks, task by
    task: the mean difference plus its 95% CI must stay below zero after 1, 5 and 10 steps."""
    torch.set_num_threads(1)
    batch = ml.SineTasks().sample(N_TASKS, 5, generator=torch.Generator().manual_seed(2017))
    start, learned = ml.load_pretrained("meta_learner")
    maml, _ = ml.load_pretrained("maml")
    diff = (ml.task_errors(start, batch, [1, 5, 10], learned)
            - ml.task_errors(maml, batch, [1, 5, 10]))
    for step, d in zip((1, 5, 10), diff):
        mean, ci = d.mean().item(), 1.96 * d.std().item() / math.sqrt(N_TASKS)
        assert mean + ci < 0, f"{step} steps: meta-learner minus MAML {mean:.3f} +- {ci:.3f}"


@pytest.mark.parametrize("k_shot", [5, 10, 20])
def test_cavia_adapting_two_numbers_beats_maml_at_every_step(k_shot):
    ours, maml = result("cavia", k_shot), result("maml", k_shot)
    for step in (1, 5, 10):
        (m, c), (mm, mc) = ours.at(step), maml.at(step)
        assert m + c < mm - mc, (f"K={k_shot}, {step} steps: CAVIA {m:.3f}+-{c:.3f} vs MAML "
                                 f"{mm:.3f}+-{mc:.3f}")


@pytest.mark.parametrize("k_shot", [5, 10, 20])
def test_anil_beats_the_baseline_from_five_steps_on_but_not_maml_after_one(k_shot):
    """Adapting 41 numbers at 0.01: far behind MAML after one step, ahead of the pretrained baseline
    from five."""
    anil, maml, base = result("anil", k_shot), result("maml", k_shot), result("pretrain", k_shot)
    assert anil.at(1)[0] > maml.at(1)[0] + maml.at(1)[1]
    for step in (5, 10):
        (m, c), (bm, bc) = anil.at(step), base.at(step)
        assert m + c < bm - bc, (f"K={k_shot}, {step} steps: ANIL {m:.3f}+-{c:.3f} vs baseline "
                                 f"{bm:.3f}+-{bc:.3f}")
