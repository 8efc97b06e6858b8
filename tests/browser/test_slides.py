"""The slide decks (`.ci/slides.py`, `make slides`) project: no slide overflows 1280x720, maths
renders offline.

The decks are built into a temporary folder, served by a local static server and opened in headless
Chromium at 1280x720 with every request that leaves the server aborted (a lecture hall's network):
each slide is shown in turn and its content must fit reveal.js's slide height; every formula must
have been typeset by the vendored MathJax (no raw `$$` left, MathJax's output elements present). A
screenshot of a projected slide goes to artifacts/.

Needs: apt-get install -y chromium, pip install playwright, npm (to vendor reveal.js and MathJax;
without it the decks would load them from CDNs and this test fails offline).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, offline_page, require_browser, static_site

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

sync_api = require_browser()

# Every slide of the deck now shown: its indices, how far (screen pixels) its content runs past the
# window, and its maths: TeX left as text, MathJax's output elements, and formulas MathJax took in
# but did not typeset.
SLIDES_JS = """async () => {
  // measure slides where they rest
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  const untypeset = (slide) => [...slide.querySelectorAll('script[type^="math/tex"]')].filter(s =>
    !(s.previousElementSibling
      && /MathJax_CHTML|mjx-chtml|MJXc-display/.test(s.previousElementSibling.className))
  ).length;
  const out = [];
  for (const slide of Reveal.getSlides()) {
    const {h, v} = Reveal.getIndices(slide);
    Reveal.slide(h, v);
    // the deck re-typesets a slide's maths when it is shown (nbconvert's template): wait until it
    // has (3 s at most)
    for (let t = 0; t < 150 && untypeset(slide); t++)
      await new Promise(done => setTimeout(done, 20));
    const text = slide.innerText, box = slide.getBoundingClientRect(), scale = Reveal.getScale();
    // screen pixels the content runs past the window's bottom (or above its top): what a projector
    // cuts off
    const bottom = box.top + slide.scrollHeight * scale;
    out.push({h, v: v || 0, overflow: Math.round(Math.max(bottom - window.innerHeight, -box.top)),
              title: (slide.querySelector('h1, h2, h3') || {}).innerText || text.slice(0, 40),
              raw_tex: (text.match(/\\$\\$|\\\\\\(|\\\\\\[|\\\\frac|\\\\theta|\\\\nabla/g)
                        || []).length,
              mathjax: slide.querySelectorAll('mjx-container, .MathJax, .MathJax_CHTML, .mjx-chtml')
                         .length,
              untypeset: untypeset(slide)});
  }
  Reveal.slide(0, 0);
  return out;
}"""



def measure(browser, base: str, deck: str, screenshot: Path | None = None) -> list[dict]:
    """Every slide of `deck` at 1280x720, offline; the deck's scripts must load from the server."""
    page, outside, errors = offline_page(browser, base, {"width": 1280, "height": 720})
    try:
        page.goto(f"{base}/{deck}")
        page.wait_for_selector(".reveal.ready", timeout=30000)
        # nbconvert's deck loads reveal.js through require.js: take the module from its registry
        page.evaluate("window.Reveal = window.Reveal || "
                      "Object.entries(requirejs.s.contexts._.defined).find(([name]) => "
                      "name.endsWith('dist/reveal.js'))[1]")
        # MathJax 2 typeset all
        if page.evaluate("window.MathJax !== undefined && MathJax.Hub !== undefined"):
            page.evaluate("new Promise(done => MathJax.Hub.Register.StartupHook('End', done))")
            page.evaluate("new Promise(done => MathJax.Hub.Queue(done))")
        page.evaluate("Reveal.layout()")
        page.wait_for_timeout(200)
        slides = page.evaluate(SLIDES_JS)
        if screenshot is not None:
            page.evaluate("Reveal.slide(2, 0)")
            page.wait_for_timeout(800)
            page.screenshot(path=str(screenshot))
        page.outside, page.errors = outside, errors
        for s in slides:
            s["deck"], s["outside"] = deck, [u for u in outside if "widget" not in u]
        return slides
    finally:
        page.close()


def overflowing(slides: list[dict], tolerance: int = 2) -> list[dict]:
    return [s for s in slides if s["overflow"] > tolerance]


def built(kind: str, tmp_path_factory) -> Path:
    """The decks or the book: the ones `make test` just built (MAML_LITE_BUILT=artifacts), else
    built here."""
    if os.environ.get("MAML_LITE_BUILT"):
        return Path(os.environ["MAML_LITE_BUILT"]) / kind
    out = tmp_path_factory.mktemp(kind) / "html"
    script = ROOT / ".ci" / ("slides.py" if kind == "slides" else "book.py")
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True,
                   capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return out


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    out = built("slides", tmp_path_factory)
    with static_site(out) as base:
        yield out, base


@pytest.fixture(scope="module")
def all_slides(decks):
    out, base = decks
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        try:
            slides = []
            for nb in NOTEBOOKS:
                shot = ARTIFACTS / "slide_projected.png" if nb.name.startswith("02") else None
                slides += measure(browser, base, f"{nb.stem}.slides.html", shot)
        finally:
            browser.close()
    return slides


def test_every_notebook_has_a_deck_with_a_slide_per_section(decks, all_slides):
    out, _ = decks
    for nb in NOTEBOOKS:
        assert (out / f"{nb.stem}.slides.html").is_file()
        assert sum(s["deck"] == f"{nb.stem}.slides.html" for s in all_slides) >= 5


def test_no_slide_overflows_a_1280x720_screen(all_slides):
    bad = overflowing(all_slides)
    print(f"\n{len(bad)} of {len(all_slides)} slides overflow 1280x720")
    assert not bad, "\n".join(f"{s['deck']} slide {s['h']}.{s['v']} ({s['title'][:40]!r}): "
                              f"{s['overflow']} px too tall"
                              for s in bad)


def test_maths_renders_offline(all_slides):
    with_maths = [s for s in all_slides if s["mathjax"]]
    assert len(with_maths) >= 5, ("no typeset maths in the decks: "
                                  "is MathJax vendored and pointed at?")
    raw = [s for s in all_slides if s["raw_tex"] or s["untypeset"]]
    assert not raw, [(s["deck"], s["h"], s["v"], s["title"][:40]) for s in raw]
    leaked = sorted({u for s in all_slides for u in s["outside"]})
    assert not leaked, f"the decks fetch from outside the server: {leaked[:5]}"


# ----------------------------------------------------------------------------------------- the book
BOOK_MATHS_JS = """async () => {
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  const main = document.querySelector('main, article, .bd-article') || document.body;
  const prose = main.cloneNode(true);  // the text, without code (whose strings may hold TeX)
  for (const code of prose.querySelectorAll('pre, code, .cell_input, .cell_output')) code.remove();
  document.body.appendChild(prose);
  const text = prose.innerText;
  prose.remove();
  return {typeset: main.querySelectorAll('mjx-container').length,
          math: main.querySelectorAll('.math').length,
          untypeset: [...main.querySelectorAll('.math')]
                       .filter(e => !e.querySelector('mjx-container')).length,
          raw_tex: (text.match(/\\$\\$|\\\\\\(|\\\\\\[|\\\\frac|\\\\theta|\\\\nabla/g)
                    || []).length};
}"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    with static_site(built("book", tmp_path_factory)) as base:
        yield base


def test_the_book_renders_maths_and_the_playground_offline(book):
    """The website with the network cut: maths typeset by the vendored MathJax, the playground and
    the character playground live in their pages."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        page, outside, errors = offline_page(browser, book, {"width": 1280, "height": 720})
        try:
            for name in ("02_maml", "05_unrolling"):
                page.goto(f"{book}/notebooks/{name}.html")
                maths = page.evaluate(BOOK_MATHS_JS)
                assert (maths["typeset"] >= 10 and maths["untypeset"] == 0
                        and maths["raw_tex"] == 0), (name, maths)
            page.goto(f"{book}/notebooks/02_maml.html#the-objective-be-good-after-a-gradient-step")
            page.evaluate(BOOK_MATHS_JS)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "book_offline_maths.png"))
            for url, models in (("notebooks/04_live_adaptation.html", 5),
                                ("notebooks/07_beyond_maml.html", 4), ("playground.html", 5)):
                page.goto(f"{book}/{url}")
                frame_el = page.locator("iframe.static-playground").first
                frame_el.scroll_into_view_if_needed()
                frame = frame_el.element_handle().content_frame()
                frame.wait_for_function("document.querySelectorAll('.maml-mse').length > 0 && "
                                        "[...document.querySelectorAll('.maml-mse')].filter(e => "
                                        f"e.textContent.startsWith('MSE')).length === {models}",
                                        timeout=30000)
            page.screenshot(path=str(ARTIFACTS / "book_offline_playground.png"))
            # notebook 08's character playground, and the playground page's second frame: the
            # static character playground, every model scored on the episode's 95 drawings
            for url, index in (("notebooks/08_few_shot_characters.html", 0),
                               ("playground.html", 1)):
                page.goto(f"{book}/{url}")
                frame_el = page.locator("iframe.static-playground").nth(index)
                frame_el.scroll_into_view_if_needed()
                assert "characters/index.html" in frame_el.get_attribute("src"), url
                frame = frame_el.element_handle().content_frame()
                frame.wait_for_function("[...document.querySelectorAll('.maml-accuracy')]"
                                        ".filter(e => /of 95 right/.test(e.textContent))"
                                        ".length === 3", timeout=60000)
            page.screenshot(path=str(ARTIFACTS / "book_offline_characters.png"))
            # links to the static pages (README's, notebook 08's, the playground page's) reach them
            for url in ("README.html", "notebooks/08_few_shot_characters.html", "playground.html"):
                page.goto(f"{book}/{url}")
                hrefs = page.eval_on_selector_all(
                    "a[href*='characters/index.html']", "els => els.map(e => e.href)")
                assert hrefs, f"{url} has no link to the character playground"
                for href in hrefs:
                    assert page.request.get(href).ok, (url, href)
            # the launch buttons open this release's notebook (notebook 08 is not in older ones)
            version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
            page.goto(f"{book}/notebooks/08_few_shot_characters.html")
            assert f"/blob/v{version}/notebooks/08_few_shot_characters.ipynb" in page.content(), \
                "the book's launch buttons open another release"
        finally:
            browser.close()
    # sphinx-book-theme declares THEBE_JS_URL twice on pages with launch buttons (with or without
    # a network)
    assert not [e for e in errors if "THEBE_JS_URL" not in e], errors
    assert not outside, f"the book fetched from outside its server: {sorted(set(outside))[:5]}"
