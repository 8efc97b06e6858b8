"""Input-to-redraw and adaptation times of the static character playground (web/characters/), in
headless Chromium, and its size.

Real inputs through Playwright; the page notes, for every input, the time from the input event's
own time stamp to

  redraw     the end of the redraw (the steps slider only redraws: the steps are computed already)
  frame      the next animation frame (the browser paints after it)

and, for every adaptation (new characters, another example drawing, a drawing on the pad: every
model, 0..10 steps, in one Worker or more), the time to

  first      every model's step 0 shown
  done       all 11 steps of every model computed

Usage: .venv/bin/python benchmarks/static_characters.py [--repeats 5] [--keys 40] [--workers N]
Needs Debian's chromium and playwright (as the browser tests). Prints medians and 90th percentiles,
and the page's size (raw and gzipped, what a static host sends).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web" / "characters"
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser import CHROMIUM, CHROMIUM_ARGS, median_p90, page_size, static_site  # noqa: E402

READY = "characters.ready()"



def stroke(page, i: int) -> None:
    """One mouse stroke on the pad, a different one each time."""
    box = page.locator(".maml-drawpad").bounding_box()
    x0, x1 = box["x"] + (0.2 + 0.05 * (i % 5)) * box["width"], box["x"] + 0.75 * box["width"]
    page.mouse.move(x0, box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for t in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * t / 10, box["y"] + (0.2 + 0.06 * t) * box["height"])
    page.mouse.up()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="adaptations per scenario")
    ap.add_argument("--keys", type=int, default=40, help="steps-slider key presses")
    ap.add_argument("--workers", type=int, default=0,
                    help="Workers (the page's ?workers=N; 0: its default, by the cores)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(page_size(WEB))
    with static_site(WEB) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        query = f"?workers={args.workers}" if args.workers else ""
        page.goto(f"{base}/index.html{query}")
        page.wait_for_function(f"window.characters !== undefined && {READY}", timeout=120000)
        load = page.evaluate("characters.adapts[0]")
        print(f"Chromium {browser.version}, headless, {page.evaluate('characters.engine()')}; "
              f"first load: step 0 after {load['first_ms'] / 1000:.1f} s, all steps after "
              f"{load['done_ms'] / 1000:.1f} s")


        scenarios = [
            ("new characters", lambda i: page.locator(".maml-new-characters").click()),
            ("example drawing", lambda i: (page.locator(".maml-drawer-slider").focus(),
                                           page.keyboard.press("ArrowRight"),
                                           page.keyboard.press("Tab"))),
            ("a stroke on the pad", lambda i: stroke(page, i)),
        ]
        print(f"adapting every model, 0..10 steps (s), {args.repeats} each:")
        for label, action in scenarios:
            page.evaluate("characters.adapts.length = 0")
            for i in range(args.repeats):
                action(i)
                page.wait_for_function(READY, timeout=120000)
            done = page.evaluate("characters.adapts")
            print(f"  {label:22s} first {median_p90([a['first_ms'] for a in done], 1000)} | "
                  f"done {median_p90([a['done_ms'] for a in done], 1000)}")
        page.evaluate("characters.timings.length = 0")
        page.locator(".maml-steps-slider").focus()
        for i in range(args.keys):
            page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
        page.wait_for_timeout(100)
        timings = [t for t in page.evaluate("characters.timings") if t["kind"] == "steps"]
        print(f"steps slider, {len(timings)} inputs (ms from the input event): redraw "
              f"{median_p90([t['handler_ms'] for t in timings])} | frame "
              f"{median_p90([t['frame_ms'] for t in timings if t['frame_ms'] is not None])}")
        browser.close()


if __name__ == "__main__":
    main()
