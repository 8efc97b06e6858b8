"""The static playground (web/playground/): notebook 04's playground in plain JavaScript, no kernel,
no server.

Served by a local static http server (Python's http.server, nothing else) and opened in headless
Debian Chromium:

* parity: every model's predictions on the 200-point grid after 0..10 steps match the package's
  (`maml_lite.playground.export.reference`: `ml.adapt`, `cavia.adapt_context`,
  `learned_opt.rollout`) within 1e-4, relative to the largest |prediction| of that curve, on fixed
  tasks and on points placed by real clicks;
* the readouts: each model's MSE, and the step at which a model diverged, agree with the package's;
* offline: the page requests nothing but its own files over http, and works opened as a file;
* input-to-redraw is recorded for every input (printed; the figures belong to
  benchmarks/static_playground.py).

Screenshots go to artifacts/ (gitignored). Needs: apt-get install -y chromium,
pip install playwright.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from browser import CHROMIUM, CHROMIUM_ARGS, offline_page, require_browser, static_site

from maml_lite.playground import export as export_web

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web" / "playground"
ARTIFACTS = ROOT / "artifacts"
TOLERANCE = 1e-4
# (amplitude, phase, K, half range, log10 inner_lr, point seed): the notebook's default, and tasks
# over the ranges
TASKS = [(4.0, 0.5, 5, False, -2, 0), (1.3, 2.8, 10, True, -1.5, 7), (0.5, 0.0, 1, False, -2, 3),
         (4.9, 3.1, 20, False, -1, 11), (2.2, 1.0, 3, True, -2.5, 5)]

sync_api = require_browser()



@pytest.fixture(scope="module")
def site():
    """web/playground/ on a local static server, as any static host would serve it."""
    with static_site(WEB) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, site):
    """The page at 1280x720; any request that leaves the local server fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg, outside, errors = offline_page(context, site)
    pg.on("console", lambda m: errors.append(m.text)
          if m.type == "error" and "favicon" not in m.text else None)
    pg.goto(f"{site}/index.html")
    pg.wait_for_function("window.playground !== undefined && "
                         "document.querySelector('.maml-mse-maml').textContent")
    pg.errors, pg.outside = errors, outside
    yield pg
    context.close()


def relative_errors(js: dict, x, y, lr: float) -> dict[str, dict[str, float]]:
    """Each model's largest error over steps 0..10, relative to that curve's largest |prediction|,
    against the package in float64 (the page's precision: asserted below 1e-4) and in float32 (what
    the notebooks compute: reported; its rounding is amplified where a model is about to diverge).
    The page must diverge at the float64 package's step; steps from there on are not compared."""
    out = {"float64": {}, "float32": {}}
    mine_all = {name: np.array(rows, dtype=np.float64) for name, rows in js.items()}
    for precision, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        for name, mine in mine_all.items():
            ref = export_web.reference(name, x, y, 10, lr, dtype=dtype)
            at = export_web.diverged_at(ref)
            if precision == "float64":
                assert export_web.diverged_at(mine) == at, (name, export_web.diverged_at(mine), at)
            upto = min(s for s in (at, export_web.diverged_at(mine), ref.shape[0]) if s is not None)
            if upto:
                err = (np.abs(mine[:upto] - ref[:upto]).max(-1)
                       / np.maximum(np.abs(ref[:upto]).max(-1), 1e-6))
                out[precision][name] = float(err.max())
    return out


def _merge(worst: dict, errors: dict) -> None:
    for precision, per_model in errors.items():
        for name, err in per_model.items():
            worst.setdefault(precision, {})[name] = max(
                worst.get(precision, {}).get(name, 0.0), err)


def _report(label: str, worst: dict) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "static_playground_parity.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[label] = worst
    path.write_text(json.dumps(data, indent=1))
    for precision, per_model in worst.items():
        print(f"\n{label}, max relative error over 0..10 steps vs the package in {precision}: "
              + ", ".join(f"{n} {e:.1e}" for n, e in per_model.items()))


def test_every_model_matches_the_package_on_fixed_tasks(page):
    torch.set_num_threads(1)
    page.evaluate("names => playground.show(names)", list(export_web.MODELS))
    worst: dict[str, dict[str, float]] = {}
    for amplitude, phase, k, half, lr_exp, seed in TASKS:
        page.evaluate("v => playground.set(v)",
                      {"amplitude": amplitude, "phase": phase, "k": k, "half": half,
                       "lr_exponent": lr_exp, "seed": seed, "steps": 10})
        points = page.evaluate("playground.points()")
        assert len(points["x"]) == k and (not half or min(points["x"]) >= 0)
        js = page.evaluate("playground.trajectories(10)")
        assert set(js) == set(export_web.MODELS)
        _merge(worst, relative_errors(js, points["x"], points["y"], 10.0 ** lr_exp))
    _report("fixed tasks", worst)
    assert max(worst["float64"].values()) < TOLERANCE, worst["float64"]
    notebook_04 = {n: e for n, e in worst["float32"].items() if export_web.MODELS[n][0] == "04"}
    # what notebook 04 itself computes, too
    assert max(notebook_04.values()) < TOLERANCE, notebook_04
    assert not page.errors and not page.outside, (page.errors, page.outside)


def test_the_page_draws_the_notebooks_points_and_random_tasks(page):
    """The same seeded generator as the package (torch's Mersenne Twister): the page's K points for
    a task and its "new random task" sequence are notebook 04's (playground.sample_points,
    playground random_task)."""
    from maml_lite.playground.logic import random_task, sample_points

    for amplitude, phase, k, half, _, seed in TASKS:
        page.evaluate("v => playground.set(v)",
                      {"amplitude": amplitude, "phase": phase, "k": k, "half": half, "seed": seed})
        points = page.evaluate("playground.points()")
        x, y = sample_points(amplitude, phase, k, half, seed)
        assert points["x"] == x.tolist()  # the same doubles
        assert np.allclose(points["y"], y, rtol=1e-12, atol=1e-12)
    page.reload()
    page.wait_for_function("window.playground !== undefined && "
                           "document.querySelector('.maml-mse-maml').textContent")
    generator = torch.Generator().manual_seed(0)  # the Playground's own: Playground(seed=0)
    for _ in range(3):
        page.locator(".maml-new-task").click()
        amplitude, phase, seed = random_task(generator)
        shown = page.evaluate("playground.task()")
        assert (shown["amplitude"], shown["phase"], shown["seed"]) == (amplitude, phase, seed)
        assert (f"A = {amplitude:.2f}, φ = {phase:.2f}"
                in page.locator(".maml-points-info").inner_text())
    assert not page.errors and not page.outside, (page.errors, page.outside)


def test_clicked_points_match_the_package_and_the_readouts(page):
    page.evaluate("names => playground.show(names)", list(export_web.MODELS))
    page.evaluate("playground.set({amplitude: 3, phase: 1, steps: 3, lr_exponent: -2})")
    page.locator(".maml-clear").click()
    assert "0 support points placed by clicking" in page.locator(".maml-points-info").inner_text()
    box = page.locator(".maml-canvas").bounding_box()
    clicks = [(0.15, 0.3), (0.3, 0.7), (0.5, 0.45), (0.62, 0.2), (0.8, 0.6), (0.93, 0.5)]
    for fx, fy in clicks:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.wait_for_function("playground.idle()")
    info = page.locator(".maml-points-info").inner_text()
    assert f"{len(clicks)} support points placed by clicking" in info and "after 3 steps" in info
    points = page.evaluate("playground.points()")
    assert len(points["x"]) == len(clicks)
    # where we clicked
    assert points["x"] == sorted(points["x"]) and -5 < points["x"][0] and points["x"][-1] < 5
    js = page.evaluate("playground.trajectories(10)")
    errors = relative_errors(js, points["x"], points["y"], 0.01)
    _report("clicked points", errors)
    assert max(errors["float64"].values()) < TOLERANCE, errors["float64"]
    # the readouts: each model's MSE against the true curve after 3 steps, as the package
    # computes it
    readouts = page.evaluate("playground.readouts()")
    x_grid = np.linspace(-5, 5, export_web.N_GRID)
    truth = 3 * np.sin(x_grid - 1)
    for name in export_web.MODELS:
        ref = export_web.reference(name, points["x"], points["y"], 3, 0.01)
        mse = float(np.mean((ref[3] - truth) ** 2))
        shown = readouts[name]
        assert shown.startswith("MSE "), (name, shown)
        assert abs(float(shown[4:]) - mse) <= 1e-3 + 1e-4 * mse, (name, shown, mse)
    page.locator(".maml-undo").click()
    assert (f"{len(clicks) - 1} support points placed by clicking"
            in page.locator(".maml-points-info").inner_text())
    assert not page.errors and not page.outside, (page.errors, page.outside)


def test_a_diverging_step_size_is_marked_at_the_packages_step(page):
    page.evaluate("names => playground.show(names)",
                  ["maml", "fomaml", "reptile", "pretrain", "scratch"])
    page.evaluate("playground.set({amplitude: 4, phase: 0.5, k: 5, seed: 0, steps: 10, "
                  "lr_exponent: 0.5})")
    points = page.evaluate("playground.points()")
    readouts = page.evaluate("playground.readouts()")
    for name in ["maml", "fomaml", "reptile", "pretrain", "scratch"]:
        at = export_web.diverged_at(export_web.reference(name, points["x"], points["y"], 10,
                                                         10 ** 0.5, torch.float64))
        assert at is not None, (f"{name} does not diverge at α = 3.16: pick a larger step size for "
                                "this test")
        assert readouts[name] == f"diverged (step {at})", (name, readouts[name], at)
    assert "Diverged with inner_lr=3.16228" in page.locator(".maml-messages").inner_text()
    page.evaluate("playground.set({lr_exponent: -2, steps: 1})")
    assert page.locator(".maml-messages").inner_text().strip() == ""


def test_it_looks_right_at_1280x720_and_records_input_to_redraw(page):
    """Real inputs (clicks, keys on the sliders, buttons) at the page's defaults; a screenshot
    at 1280x720."""
    page.evaluate("names => playground.show(names)",
                  ["maml", "fomaml", "reptile", "pretrain", "scratch"])
    page.evaluate("playground.set({amplitude: 4, phase: 0.5, k: 5, half: false, seed: 0, steps: 1, "
                  "lr_exponent: -2})")
    page.evaluate("playground.timings.length = 0")
    box = page.locator(".maml-canvas").bounding_box()
    for i in range(8):
        page.mouse.click(box["x"] + (0.12 + 0.1 * i) * box["width"],
                         box["y"] + (0.3 + 0.05 * (i % 4)) * box["height"])
    for css, key, times in (("maml-steps-slider", "ArrowRight", 4),
                            ("maml-k-slider", "ArrowRight", 3),
                            ("maml-amplitude-slider", "ArrowLeft", 3),
                            ("maml-lr-slider", "ArrowRight", 2),
                            ("maml-steps-slider", "ArrowLeft", 4)):
        page.locator(f".{css}").focus()
        for _ in range(times):
            page.keyboard.press(key)
    page.locator(".maml-new-task").click()
    page.locator(".maml-half-toggle").check()
    page.wait_for_timeout(100)
    timings = page.evaluate("playground.timings")
    assert len(timings) == 8 + 16 + 2 and all(t["handler_ms"] >= 0 for t in timings)
    handler = statistics.median(t["handler_ms"] for t in timings)
    frame = statistics.median(t["frame_ms"] for t in timings if t["frame_ms"] is not None)
    print(f"\ninput-to-redraw over {len(timings)} inputs (this test's run): median {handler:.1f} "
          f"ms to the end of the redraw, {frame:.1f} ms to the next frame "
          "(benchmarks/static_playground.py for the figures)")
    page.evaluate("playground.set({amplitude: 4, phase: 0.5, k: 5, half: false, seed: 0, steps: 1, "
                  "lr_exponent: -2})")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "static_playground.png"))
    legend = page.locator("#legend").bounding_box()
    controls = page.locator(".controls").bounding_box()
    # all on one screen
    assert legend["x"] + legend["width"] <= 1280 and controls["y"] + controls["height"] <= 720
    assert page.locator(".maml-messages").inner_text().strip() == ""
    assert not page.errors and not page.outside, (page.errors, page.outside)


def test_it_works_opened_as_a_file(browser):
    """Offline from a USB stick: file:// pages cannot fetch, which is why the weights are
    a script."""
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((WEB / "index.html").as_uri() + "?models=maml,anil,cavia,meta_learner")
    pg.wait_for_function("document.querySelector('.maml-mse-maml').textContent.startsWith('MSE')")
    pg.wait_for_function("playground.idle()")
    readouts = pg.evaluate("playground.readouts()")
    assert (sorted(n for n, t in readouts.items() if t.startswith("MSE"))
            == ["anil", "cavia", "maml", "meta_learner"])
    assert readouts["fomaml"] == "off" and not errors
    pg.close()
