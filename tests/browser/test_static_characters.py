"""The static character playground (web/characters/): notebook 08's character playground in plain
JavaScript, no kernel, no server.

Served by a local static http server (Python's http.server, nothing else) and opened in headless
Debian Chromium:

* parity: every model's probabilities on every query (and a drawing) after 0..10 steps match the
  package's (`maml_lite.playground.export_characters.reference`: the playground's own `episode`
  and `probabilities`, in float64) within 1e-4, on fixed episodes and on a drawing made with the
  mouse; the accuracy readouts are the package's;
* "new characters" picks CharacterPlayground(seed=0)'s characters (torch's generator);
* a drawing made by mouse strokes is classified by every model; an empty pad or bad ink gives a
  message, never an error in the page;
* offline: the page requests nothing but its own files over http, and works opened as a file
  (its Workers made from a Blob), or with no Worker;
* it fits 1280x720, and input-to-redraw and adaptation times are recorded (printed; the figures
  belong to benchmarks/static_characters.py).

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

from maml_lite.omniglot import OmniglotTasks
from maml_lite.playground import export_characters as ex

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web" / "characters"
ARTIFACTS = ROOT / "artifacts"
TOLERANCE = 1e-4
READY = "window.characters !== undefined && characters.ready()"
# (classes in label order, example drawer 0..19, with a drawing): Balinese, Early Aramaic (24..45),
# and both
EPISODES = [([3, 5, 7, 12, 20], 0, False), ([24, 29, 33, 40, 45], 7, True),
             ([1, 10, 23, 26, 44], 19, False)]

sync_api = require_browser()


def a_drawing() -> list[float]:
    """A fixed drawing with grey edges, as the pad makes: a bar and a diagonal."""
    ink = np.zeros((28, 28))
    ink[4:24, 12:15] = [0.4, 1.0, 0.6]
    for i in range(18):
        ink[5 + i, 6 + i] = max(ink[5 + i, 6 + i], 0.8)
    return ink.ravel().tolist()



@pytest.fixture(scope="module")
def site():
    """web/characters/ on a local static server, as any static host would serve it."""
    with static_site(WEB) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _open(context, site: str, query: str = ""):
    pg, outside, errors = offline_page(context, site)
    pg.on("console", lambda m: errors.append(m.text)
          if m.type == "error" and "favicon" not in m.text else None)
    pg.goto(f"{site}/index.html{query}")
    pg.wait_for_function(READY, timeout=120000)
    pg.errors, pg.outside = errors, outside
    return pg


@pytest.fixture(scope="module")
def page(browser, site):
    """The page at 1280x720; any request that leaves the local server fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield _open(context, site)
    context.close()


def _quiet(page) -> None:
    assert not page.errors and not page.outside, (page.errors, page.outside)


def compare(page, classes: list[int], drawer: int, drawing: list[float] | None) -> dict:
    """The page's probabilities against the package's, in float64 (asserted within TOLERANCE)
    and float32 (what the notebook computes: reported); the readouts at 0, 1 and 10 steps."""
    js = {n: np.array(p, dtype=np.float64) for n, p in page.evaluate(
        "characters.probabilities()").items()}
    errors: dict[str, dict[str, float]] = {"float64": {}, "float32": {}}
    for precision, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        ref = ex.reference(classes, drawer, drawing, dtype=dtype)
        assert set(js) == set(ref) == set(ex.MODELS)
        for name, r in ref.items():
            assert js[name].shape == r.shape, (name, js[name].shape, r.shape)
            errors[precision][name] = float(np.abs(js[name] - r).max())
    ref = ex.reference(classes, drawer, drawing)
    for step in (0, 1, 10):
        page.evaluate("s => characters.set({steps: s})", step)
        readouts = page.evaluate("characters.readouts()")
        for name, r in ref.items():
            right = round(float(ex.accuracy(r)[step]) * 95)
            assert readouts[name]["right"] == right, (name, step, readouts[name], right)
            assert readouts[name]["text"] == f"{100 * right / 95:.0f}% of 95 right"
    return errors


def _report(label: str, errors: dict) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "static_characters_parity.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[label] = errors
    path.write_text(json.dumps(data, indent=1))
    for precision, per_model in errors.items():
        print(f"\n{label}, max abs error of the probabilities over 0..10 steps vs the package in "
              f"{precision}: " + ", ".join(f"{n} {e:.1e}" for n, e in per_model.items()))


def test_every_model_matches_the_package_on_fixed_episodes(page):
    torch.set_num_threads(1)
    worst: dict[str, dict[str, float]] = {}
    for classes, drawer, drawn in EPISODES:
        drawing = a_drawing() if drawn else None
        page.evaluate("d => characters.setDrawing(d)", drawing or [])
        page.evaluate("v => characters.set(v)", {"classes": classes, "drawer": drawer})
        page.wait_for_function(READY, timeout=120000)
        assert page.evaluate("characters.episode()")["classes"] == classes
        errors = compare(page, classes, drawer, drawing)
        for precision, per_model in errors.items():
            for name, err in per_model.items():
                worst.setdefault(precision, {})[name] = max(worst.get(precision, {}).get(name, 0),
                                                            err)
    _report("fixed episodes", worst)
    assert max(worst["float64"].values()) < TOLERANCE, worst["float64"]
    assert max(worst["float32"].values()) < TOLERANCE, worst["float32"]
    page.evaluate("characters.setDrawing([])")
    _quiet(page)


def test_new_characters_are_the_python_playgrounds(browser, site):
    """CharacterPlayground(seed=0): the first alphabet and randperm's five, then "new characters"
    and another alphabet, from the same torch generator."""
    generator = torch.Generator().manual_seed(0)
    tasks_alphabet = OmniglotTasks("test").class_alphabet

    def pick(alphabet: str) -> list[int]:
        pool = [c for c, a in enumerate(tasks_alphabet) if a == alphabet]
        return sorted(pool[i] for i in torch.randperm(len(pool), generator=generator)[:5].tolist())

    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = _open(context, site)
    assert pg.evaluate("characters.episode()") == {"alphabet": "Balinese", "drawer": 0,
                                                  "classes": pick("Balinese")}
    for _ in range(2):
        pg.locator(".maml-new-characters").click()
        assert pg.evaluate("characters.episode()")["classes"] == pick("Balinese")
    pg.locator(".maml-alphabet").select_option(label="Early Aramaic")
    assert pg.evaluate("characters.episode()") == {"alphabet": "Early_Aramaic", "drawer": 0,
                                                  "classes": pick("Early_Aramaic")}
    pg.wait_for_function(READY, timeout=120000)
    _quiet(pg)
    context.close()


def _stroke(page, points: list[tuple[float, float]]) -> None:
    box = page.locator(".maml-drawpad").bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(at, at[1:]):
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    page.mouse.up()


def test_a_mouse_drawing_is_classified_by_every_model(page):
    torch.set_num_threads(1)
    page.evaluate("characters.set({classes: [24, 29, 33, 40, 45], drawer: 2, steps: 5})")
    page.locator(".maml-drawpad-clear").click()
    _stroke(page, [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8)])  # two strokes: a hook and a bar
    _stroke(page, [(0.3, 0.5), (0.6, 0.5)])
    page.wait_for_function(READY, timeout=120000)
    drawing = page.evaluate("characters.drawing()")
    image = np.array(drawing).reshape(28, 28)
    assert image[5, 8:20].mean() > 0.5 and image[8:20, 22].mean() > 0.5  # where the strokes went
    assert image[24:, :10].max() == 0
    answers = page.evaluate("characters.answers()")
    assert set(answers) == set(ex.MODELS) and all(a in range(5) for a in answers.values())
    errors = compare(page, [24, 29, 33, 40, 45], 2, drawing)
    _report("mouse drawing", errors)
    assert max(errors["float64"].values()) < TOLERANCE, errors["float64"]
    ref = ex.reference([24, 29, 33, 40, 45], 2, drawing)
    page.evaluate("characters.set({steps: 5})")
    shown = page.evaluate("characters.answers()")
    assert shown == {n: int(p[5, -1].argmax()) for n, p in ref.items()}
    for name, cls in shown.items():
        assert f": class {cls}" in page.locator(f".maml-bar-{name} .title").inner_text()
    assert page.locator(".maml-messages").inner_text().strip() == ""
    _quiet(page)


def test_an_empty_pad_or_bad_ink_gives_a_message(page):
    page.locator(".maml-drawpad-clear").click()
    assert "Draw on the pad" in page.locator(".maml-bars").inner_text()
    box = page.locator(".maml-drawpad").bounding_box()
    page.mouse.click(box["x"] + 50, box["y"] + 50)  # a click, no stroke: nothing drawn
    assert "The pad is empty" in page.locator(".maml-messages").inner_text()
    assert page.evaluate("characters.drawing()") is None
    for bad, says in ((float("nan"), "between 0 and 1"), (2.0, "between 0 and 1")):
        ink = [0.0] * 784
        ink[100] = bad
        assert says in page.evaluate("d => characters.setDrawing(d)", ink)
        assert says in page.locator(".maml-messages").inner_text()
    assert "784 ink values" in page.evaluate("characters.setDrawing([0.5, 0.5])")
    assert "784 ink values" in page.evaluate("characters.setDrawing('a string')")
    assert page.evaluate("characters.drawing()") is None
    before = page.evaluate("characters.episode()")
    page.evaluate("characters.set({classes: [1, 1, 2, 3, 4]})")  # as episode() refuses them
    assert "pick 5 different characters" in page.locator(".maml-messages").inner_text()
    assert page.evaluate("characters.episode()") == before
    page.locator(".maml-new-characters").click()  # the next input clears the message
    assert page.locator(".maml-messages").inner_text().strip() == ""
    page.wait_for_function(READY, timeout=120000)
    _quiet(page)


def test_it_fits_1280x720_and_records_input_to_redraw(page):
    """Real inputs (keys on the sliders, a stroke); a screenshot at 1280x720."""
    page.evaluate("characters.set({classes: [3, 5, 7, 12, 20], drawer: 0, steps: 0})")
    page.wait_for_function(READY, timeout=120000)
    _stroke(page, [(0.3, 0.15), (0.3, 0.85), (0.7, 0.85)])
    page.wait_for_function(READY, timeout=120000)
    page.evaluate("characters.timings.length = 0")
    page.locator(".maml-steps-slider").focus()
    for key in ["ArrowRight"] * 10 + ["ArrowLeft"] * 7:
        page.keyboard.press(key)
    page.wait_for_timeout(100)
    timings = page.evaluate("characters.timings")
    assert len(timings) == 17 and all(t["kind"] == "steps" for t in timings)
    handler = statistics.median(t["handler_ms"] for t in timings)
    frame = statistics.median(t["frame_ms"] for t in timings if t["frame_ms"] is not None)
    adapts = page.evaluate("characters.adapts")
    done = [a["done_ms"] for a in adapts if a["done_ms"] is not None]
    print(f"\nsteps slider, input-to-redraw over {len(timings)} inputs (this test's run): median "
          f"{handler:.1f} ms to the end of the redraw, {frame:.1f} ms to the next frame; "
          f"adapting (0..10 steps, all models): median {statistics.median(done) / 1000:.1f} s "
          f"over {len(done)} (benchmarks/static_characters.py for the figures)")
    assert handler < 100, timings
    assert "After 3 steps" in page.locator("#caption").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "static_characters.png"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"the page scrolls sideways at 1280x720: {width} px wide"
    for css in (".maml-maps", ".maml-bars", ".maml-drawpad", ".maml-classes"):
        b = page.locator(css).bounding_box()
        assert b["x"] + b["width"] <= 1280 and b["y"] + b["height"] <= 720, (css, b)
    assert page.locator(".maml-messages").inner_text().strip() == ""
    _quiet(page)


@pytest.mark.parametrize("query, engines", [("", ("worker", "2 workers")),
                                             ("?workers=2", ("2 workers",)),
                                             ("?worker=0", ("page",))])
def test_it_works_opened_as_a_file(browser, query, engines):
    """Offline from a USB stick: file:// pages cannot fetch, which is why the data is a script;
    the Workers (one, or two with cores to spare) are made from a Blob of convnet.js's text;
    without one, the page computes itself. Each way, the same answers."""
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto((WEB / "index.html").as_uri() + query)
    pg.wait_for_function(READY, timeout=120000)
    assert pg.evaluate("characters.engine()") in engines
    episode = pg.evaluate("characters.episode()")
    ref = ex.reference(episode["classes"], episode["drawer"], steps=0)
    readouts = pg.evaluate("characters.readouts()")
    assert readouts == {n: {"right": round(float(ex.accuracy(p)[0]) * 95),
                            "text": f"{100 * round(float(ex.accuracy(p)[0]) * 95) / 95:.0f}% of "
                                    "95 right"} for n, p in ref.items()}
    assert not errors, errors
    pg.close()


@pytest.mark.parametrize("broken", [
    "delete window.Worker;",  # no Workers at all
    # Workers whose script fails to start (as where a policy refuses Blob scripts)
    "const W = window.Worker; window.Worker = function () { "
    "return new W('data:text/javascript,throw new Error(\"refused\")'); };",
])
def test_without_a_working_worker_the_page_computes_itself(browser, site, broken):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_init_script(broken)
    pg = _open(context, site)
    assert pg.evaluate("characters.engine()") == "page"
    pg.evaluate("characters.set({classes: [24, 29, 33, 40, 45], drawer: 7, steps: 2})")
    pg.wait_for_function(READY, timeout=120000)
    js = pg.evaluate("characters.probabilities()")
    ref = ex.reference([24, 29, 33, 40, 45], 7)
    assert all(np.abs(np.array(js[n]) - r).max() < TOLERANCE for n, r in ref.items())
    pg.errors[:] = [e for e in pg.errors if "refused" not in e]  # the failed Worker's own report
    assert pg.locator(".maml-messages").inner_text().strip() == ""
    _quiet(pg)
    context.close()
