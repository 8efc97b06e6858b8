"""Input-to-redraw of the static playground (web/playground/), in headless Chromium, and its size.

Real inputs through Playwright (mouse clicks on the canvas, keys on the sliders); the page notes,
for every input, the time from the input event's own time stamp to

  redraw     the end of the redraw (the inner loop, the curves, the readouts: all done in the
             event handler)
  frame      the next animation frame (the browser paints after it)
  complete   every shown model drawn: later than `redraw` only while a learned optimiser (an LSTM
             per weight, the slowest update) steps between frames

Scenarios (each `--repeats` inputs): the notebook's defaults (five models, 1 step) clicked; the same
at 10 steps; moving the steps slider; moving the K slider at 10 steps; and all ten models (notebooks
04, 06, 07) clicked at 1 and at 10 steps. The goal is a median redraw under 20 ms.

Usage: .venv/bin/python benchmarks/static_playground.py [--repeats 40]
Needs Debian's chromium and playwright (as the browser tests). Prints medians and 90th percentiles
in ms, and the page's size (raw and gzipped, what a static host sends).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web" / "playground"
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser import CHROMIUM, CHROMIUM_ARGS, median_p90, page_size, static_site  # noqa: E402

FIVE = ["maml", "fomaml", "reptile", "pretrain", "scratch"]
ALL = [*FIVE, "metasgd", "anil", "cavia", "lstm_opt", "meta_learner"]



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(page_size(WEB))
    with static_site(WEB) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{base}/index.html")
        page.wait_for_function("window.playground !== undefined")
        box = page.locator(".maml-canvas").bounding_box()

        def clicks(n: int) -> None:
            for i in range(n):
                page.mouse.click(box["x"] + (0.1 + 0.8 * ((i * 7) % 17) / 17) * box["width"],
                                 box["y"] + (0.25 + 0.5 * ((i * 5) % 11) / 11) * box["height"])
                if i % 6 == 5:
                    page.locator(".maml-clear").click()

        def keys(css: str, n: int) -> None:
            page.locator(f".{css}").focus()
            for i in range(n):
                page.keyboard.press("ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft")

        scenarios = [
            ("five models, 1 step: clicks", FIVE, 1, lambda: clicks(args.repeats)),
            ("five models, 10 steps: clicks", FIVE, 10, lambda: clicks(args.repeats)),
            ("five models: steps slider", FIVE, 5, lambda: keys("maml-steps-slider", args.repeats)),
            ("five models, 10 steps: K slider", FIVE, 10,
             lambda: keys("maml-k-slider", args.repeats)),
            ("ten models, 1 step: clicks", ALL, 1, lambda: clicks(args.repeats)),
            ("ten models, 10 steps: clicks", ALL, 10, lambda: clicks(args.repeats)),
        ]
        print(f"ms from the input event, {args.repeats} inputs each (Chromium {browser.version}, "
              "headless):")
        for label, names, steps, run in scenarios:
            page.evaluate("names => playground.show(names)", names)
            page.evaluate("playground.set({amplitude: 4, phase: 0.5, k: 5, seed: 0, steps: "
                          f"{steps}, lr_exponent: -2}})")
            run()  # warm-up: the JIT compiles the inner loop
            page.wait_for_function("playground.idle()")
            page.evaluate("playground.timings.length = 0")
            run()
            page.wait_for_function("playground.idle()")
            page.wait_for_timeout(50)
            timings = [t for t in page.evaluate("playground.timings") if t["kind"] != "clear"]
            line = f"  {label:34s} redraw {median_p90([t['handler_ms'] for t in timings])}"
            line += (" | frame "
                     f"{median_p90([t['frame_ms'] for t in timings if t['frame_ms'] is not None])}")
            done = [t["complete_ms"] for t in timings if t.get("complete_ms") is not None]
            if len(names) > 5 and done:
                line += f" | complete {median_p90(done)}"
            print(line)
        browser.close()


if __name__ == "__main__":
    main()
