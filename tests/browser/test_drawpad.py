"""The character playground's drawing pad (maml_lite/playground/drawpad.js) in Chromium: drawing
with the mouse sends 28 x 28 ink values to the widget's model, which the playground reads as an
image (check_drawing); "clear" empties it. The module runs as anywidget runs it, render({model,
el}), with a stand-in model that records what it is sent."""

from __future__ import annotations

from pathlib import Path

from browser import CHROMIUM, CHROMIUM_ARGS, require_browser

from maml_lite.playground.characters import check_drawing

JS = Path(__file__).resolve().parents[2] / "maml_lite" / "playground" / "drawpad.js"

sync_api = require_browser()

STAND_IN = """window.model = {data: {ink: []}, saved: 0, get(k) { return this.data[k]; },
    set(k, v) { this.data[k] = v; }, save_changes() { this.saved += 1; }};
window.drawpad.render({model: window.model, el: document.getElementById('el')});
undefined;"""  # not render's clean-up function: evaluate() would call a function it is given


def test_drawing_sends_ink_where_the_stroke_went_and_clear_empties_it():
    source = JS.read_text().replace("export default { render };", "window.drawpad = { render };")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        page = browser.new_page(viewport={"width": 400, "height": 300})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content('<body style="margin:0"><div id="el"></div></body>')
        page.add_script_tag(content=source, type="module")
        page.wait_for_function("window.drawpad !== undefined")
        page.evaluate(STAND_IN)
        box = page.locator("canvas").bounding_box()
        x = box["x"] + box["width"] / 2  # a vertical stroke down the middle
        page.mouse.move(x, box["y"] + 20)
        page.mouse.down()
        for y in range(20, 177, 4):
            page.mouse.move(x, box["y"] + y)
        page.mouse.up()
        saved, ink = page.evaluate("[window.model.saved, window.model.data.ink]")
        page.click("button.maml-drawpad-clear")
        cleared = page.evaluate("window.model.data.ink")
        browser.close()
    assert not errors and saved == 1 and len(ink) == 784 and cleared == []
    image = check_drawing(ink)[0]
    assert image[4:24, 13:15].mean() > 0.5  # the stroke: rows 3 to 25 of the middle columns
    assert image[:, :10].max() == 0 and image[:, 18:].max() == 0  # nothing far from it
    assert check_drawing(cleared) is None
