"""The character playground (apps/characters.ipynb, notebook 08's) served by Voilà in headless
Chromium: it shows the picture and the drawing pad, a stroke drawn with the mouse reaches the
kernel and redraws the picture with the models' answers for it, the steps slider redraws it, and
no error reaches the page. A screenshot goes to artifacts/ (gitignored)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_browser, server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
PICTURE = ".maml-characters-picture"

sync_api = require_browser("voila")


def test_the_character_playground_answers_a_drawing_in_voila(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = [sys.executable, "-m", "voila", str(ROOT / "apps" / "characters.ipynb"), "--no-browser",
           f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=False"]
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    with server(cmd, f"{base}/voila/static/", tmp_path / "voila.log", env=env, cwd=ROOT), \
            sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/", timeout=120000)
        page.wait_for_selector(f"{PICTURE} img, img{PICTURE}", timeout=120000)
        page.wait_for_selector(".maml-drawpad canvas", timeout=30000)
        image = page.locator(f"{PICTURE} img, img{PICTURE}").first
        first = image.get_attribute("src")
        box = page.locator(".maml-drawpad canvas").bounding_box()
        x = box["x"] + box["width"] / 2
        page.mouse.move(x, box["y"] + 30)
        page.mouse.down()
        for y in range(30, 170, 5):
            page.mouse.move(x, box["y"] + y)
        page.mouse.up()
        page.wait_for_function(f"(() => {{ const i = document.querySelector('{PICTURE} img, "
                               f"img{PICTURE}'); return i && i.src !== {first!r}; }})()",
                               timeout=60000)
        drawn = image.get_attribute("src")
        page.locator(".maml-characters .noUi-handle, .maml-characters .ui-slider-handle").last \
            .focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"(() => {{ const i = document.querySelector('{PICTURE} img, "
                               f"img{PICTURE}'); return i && i.src !== {drawn!r}; }})()",
                               timeout=60000)
        page.screenshot(path=str(ARTIFACTS / "voila_characters.png"), full_page=True)
        messages = page.locator(".maml-characters-messages").inner_text().strip()
        errors = page.locator(".jp-OutputArea-output[data-mime-type="
                              "'application/vnd.jupyter.stderr']").count()
        browser.close()
    assert messages == "" and errors == 0
