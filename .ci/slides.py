#!/usr/bin/env python3
"""Each notebook as a reveal.js slide deck that projects: a slide per section and subsection, no
code unless asked for, nothing cut off at 1280x720, maths and scripts served from beside the decks
(a lecture hall's network may fail).

    python .ci/slides.py --stamp  # write the slide metadata into notebooks/*.ipynb
                                  # (RISE reads it too)
    python .ci/slides.py --check  # exit 1 if a notebook's metadata is missing or stale
    python .ci/slides.py [--out artifacts/slides]  # build NN_name.slides.html for every notebook

Stamped in the notebooks (cell metadata only, never sources or outputs, so committed outputs stay
valid for nbval): a cell that starts with a `#` or `##` heading starts a slide, one that starts with
`###` a sub-slide (below it, in reveal.js's second dimension); and notebook metadata `rise.scroll`
so RISE's live slides scroll where they are long.

The decks are built from an in-memory copy of each notebook, laid out for a 1280x720 screen by these
rules (no notebook is tuned by hand):

* every `#`/`##`/`###` heading starts a slide, also one in the middle of a markdown cell (the cell
  is split there);
* code is hidden, its outputs shown; a code cell tagged `slide-code` shows its code too; a code cell
  with nothing to show is left out, and so are stderr (warnings, progress bars) and the title cell's
  Colab / Binder badges;
* a slide holds about SLIDE_BUDGET px of content, estimated per block (a paragraph's characters, a
  formula, a list item, an output's lines, a figure's own size); past that, the next block starts a
  continuation slide below it, headed "... (continued)". Markdown cells are split between
  paragraphs, code cells between outputs;
* figures are capped in height and long printouts scroll in their own box, so one block cannot
  overflow a slide;
* notebook 04, 06 and 07's playground widget (which needs a kernel) becomes the static playground
  (web/playground, copied beside the decks) in a frame, and notebook 08's character playground the
  static character playground (web/characters): they run in the deck itself;
* reveal.js, require.js, jQuery and MathJax are vendored from the npm registry into OUT/vendor
  (nothing from a CDN); reveal.js's scrolling is on as a last resort.

tests/browser/test_slides.py opens every deck offline at 1280x720 and fails on any slide that
overflows or any formula MathJax did not typeset.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHOW_CODE = "slide-code"  # the tag that shows a code cell's code in the decks
HIDDEN = {"remove-cell"}  # cells the book hides (checks for the tests) are left off the slides too
RISE = {"scroll": True}   # notebook metadata for RISE (JupyterLab's live slides)

# ----------------------------------------------------------------------------------------- stamping


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def slide_type(cell: dict) -> str:
    source = _source(cell)
    if cell["cell_type"] == "markdown" and source.startswith(("# ", "## ")):
        return "slide"
    if cell["cell_type"] == "markdown" and source.startswith("### "):
        return "subslide"
    return "-"


def stale(nb: dict) -> list[int | str]:
    """Cells whose stamped slide type is not slide_type's, and "rise" when the notebook lacks
    RISE's settings."""
    stamped = [c["metadata"].get("slideshow", {}).get("slide_type") for c in nb["cells"]]
    bad: list[int | str] = [i for i, (c, s) in enumerate(zip(nb["cells"], stamped))
                            if s != slide_type(c)]
    rise = nb["metadata"].get("rise", {})
    return bad + ([] if all(rise.get(k) == v for k, v in RISE.items()) else ["rise"])


# ---------------------------------------------------------------------------------------- vendoring
# What the decks (and the book, .ci/book.py) load, from the npm registry: the reveal.js version
# nbconvert's slides template is written for, the require.js and jQuery its page script needs, and
# MathJax (2 for the decks, whose template calls MathJax 2's API; 3 for the book, which Sphinx
# drives). Only the files they load are kept.
MATHJAX2_KEEP = ("MathJax.js", "LICENSE", "config/TeX-AMS_CHTML-full.js", "extensions/",
                 "jax/input/TeX/", "jax/output/CommonHTML/", "jax/output/PreviewHTML/",
                 "jax/element/", "fonts/HTML-CSS/TeX/woff/", "localization/en/")
MATHJAX3_KEEP = ("LICENSE", "es5/tex-mml-chtml.js", "es5/input/", "es5/output/chtml/", "es5/ui/",
                 "es5/a11y/", "es5/adaptors/")
# option of nbconvert's SlidesExporter: (npm package@version, file or folder inside the
# package, keep)
VENDORED = {
    "reveal_url_prefix": ("reveal.js@4.0.2", ".", None),
    "require_js_url": ("requirejs@2.1.10", "require.js", ("require.js", "LICENSE")),
    "jquery_url": ("jquery@2.2.4", "dist/jquery.min.js", ("dist/jquery.min.js", "LICENSE.txt")),
    "mathjax_url": ("mathjax@2.7.7", "MathJax.js?config=TeX-AMS_CHTML-full,Safe", MATHJAX2_KEEP),
}


def npm_package(spec: str, target: Path, keep: tuple[str, ...] | None = None) -> bool:
    """Unpack npm package `spec` (name@version) into `target` (once), keeping only the paths that
    start with one of `keep` (all when None). False, with a message, when npm cannot fetch it."""
    if target.exists():
        return True
    tmp = ROOT / "build" / "vendor" / spec.replace("/", "_")
    tmp.mkdir(parents=True, exist_ok=True)
    if not list(tmp.glob("*.tgz")):
        try:
            subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"npm could not fetch {spec} ({e}); pages will load it from a CDN and need a "
                  "network")
            return False
    with tarfile.open(next(tmp.glob("*.tgz"))) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/") and (
            keep is None or m.name.removeprefix("package/").startswith(keep))
            and not re.search(r"\.map$|/(test|examples|unpacked)/", m.name)]
        target.mkdir(parents=True)
        for m in members:
            m.name = m.name.removeprefix("package/")
            tar.extract(m, target, filter="data")
    return True


def vendor(out: Path) -> list[str]:
    """nbconvert options pointing at local copies beside the decks; what npm could not fetch stays
    on its CDN."""
    options = []
    for option, (spec, inside, keep) in VENDORED.items():
        name = spec.split("@")[0]
        if npm_package(spec, out / "vendor" / name, keep):
            path = f"vendor/{name}" if inside == "." else f"vendor/{name}/{inside}"
            options.append(f"--SlidesExporter.{option}={path}")
    # nbconvert imports mermaid (diagrams, which these notebooks have none of) from a CDN: build()
    # points the decks at this stand-in instead (the URL is not a configurable option)
    (out / "vendor" / "mermaid-none.mjs").write_text("export default { initialize() {} };\n")
    return options


# ------------------------------------------------------------------------------------------- layout
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720
# px of estimated content per slide (the rest: the slide's margins, the estimate's error)
SLIDE_BUDGET = 560
TEXT_WIDTH = 1180         # px a paragraph wraps at
CHAR_PX, LINE_PX = 10.5, 31   # 20 px text: an average character's width, a line's height
CODE_LINE_PX, CODE_CHARS = 25, 100
IMAGE_MAX_PX = 430        # figures are scaled down to this height (CSS below)
PRINT_MAX_PX = 300        # longer printouts scroll in their box (CSS below)
PLAYGROUND_PX = 560       # the static playground's frame
HEADING_PX = {1: 80, 2: 66, 3: 54, 4: 44, 5: 40, 6: 40}
DECK_CSS = f"""
<style>
/* .ci/slides.py: nothing may run past a 1280x720 slide */
.reveal h1, .reveal h2, .reveal h3, .reveal h4 {{ text-transform: none; }}
.reveal .jp-OutputArea-output img {{ max-height: {IMAGE_MAX_PX}px; width: auto; max-width: 100%; }}
.reveal .jp-OutputArea-output svg {{ max-height: {IMAGE_MAX_PX}px; }}
.reveal .jp-OutputArea-output pre {{ max-height: {PRINT_MAX_PX}px; overflow: auto; }}
.reveal .jp-OutputArea-output table {{ font-size: 16px; }}
.reveal .jp-RenderedHTMLCommon p.slide-continued {{
  color: #888; font-size: 16px; margin: 0 0 4px; }}
.reveal iframe.static-playground {{ width: 100%; height: {PLAYGROUND_PX}px; border: 0; }}
</style>
"""


def _blocks(text: str) -> list[str]:
    """Markdown split into blocks at blank lines, never inside a
    ``` fence or a $$ formula; a heading is a block."""
    blocks, current, fence, maths = [], [], False, False
    for line in text.splitlines():
        stripped = line.strip()
        if not fence and not maths and re.match(r"#{1,6} ", line):
            if current:
                blocks.append("\n".join(current))
            blocks.append(line)
            current = []
            continue
        if stripped.startswith("```"):
            fence = not fence
        elif not fence and stripped.count("$$") % 2 == 1:
            maths = not maths
        if not stripped and not fence and not maths:
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def heading_level(block: str) -> int:
    m = re.match(r"(#{1,6}) ", block)
    return len(m.group(1)) if m else 0


def _wrapped_lines(text: str, chars: float) -> int:
    return sum(max(1, -(-len(line) // int(chars))) for line in text.splitlines() or [""])


def markdown_px(block: str) -> int:
    """Estimated height of one markdown block on a slide."""
    level = heading_level(block)
    if level:
        return HEADING_PX[level] + 26 * (len(block) // 60)
    if block.lstrip().startswith("```"):
        return 24 + CODE_LINE_PX * _wrapped_lines(block, CODE_CHARS)
    if block.lstrip().startswith("|"):
        return 16 + 38 * sum(1 for line in block.splitlines()
                             if not re.match(r"\s*\|[\s:|-]+\|\s*$", line))
    # a quote (e.g. an algorithm box): each line its own, with its maths
    if block.lstrip().startswith(">"):
        text = re.sub(r"\$[^$]+\$", lambda m: "x" * max(2, len(m.group(0)) // 3), block)
        return 30 + sum(LINE_PX * max(1, -(-int(len(line) * CHAR_PX) // (TEXT_WIDTH - 60)))
                        for line in text.splitlines())
    px = 18
    images = re.findall(r"<img[^>]*>|!\[[^\]]*\]\([^)]*\)", block)
    if any("badge" not in image for image in images):  # a figure; badges are a line of text
        px += IMAGE_MAX_PX
    for part in re.split(r"(\$\$.*?\$\$)", block, flags=re.S):
        if part.startswith("$$"):
            px += 36 + 46 * (part.count("\\\\") + 1)
            continue
        # an item of a list starts a line; inline maths reads shorter than its TeX
        text = re.sub(r"\$[^$]+\$", lambda m: "x" * max(2, len(m.group(0)) // 3), part)
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: only their text shows
        for line in re.split(r"\n(?=\s*(?:[-*+]|\d+\.)\s)", text):
            if line.strip():
                px += LINE_PX * max(1, -(-int(len(" ".join(line.split())) * CHAR_PX)
                                         // TEXT_WIDTH)) + 4
    return px


def _png_size(data: str) -> tuple[int, int] | None:
    raw = base64.b64decode(data[:64])
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", raw[16:24])


def output_px(output: dict) -> int:
    """Estimated height of one output on a slide (after the caps in DECK_CSS)."""
    if output["output_type"] == "stream":
        text = "".join(output["text"])
        return 16 + min(PRINT_MAX_PX, CODE_LINE_PX * _wrapped_lines(text.rstrip("\n"), CODE_CHARS))
    if output["output_type"] == "error":
        return 16 + min(PRINT_MAX_PX, CODE_LINE_PX * len(output.get("traceback", [])))
    data = output.get("data", {})
    if "text/html" in data and "static-playground" in "".join(data["text/html"]):
        return PLAYGROUND_PX + 20
    if "image/png" in data:
        size = _png_size("".join(data["image/png"]).replace("\n", ""))
        meta = output.get("metadata", {}).get("image/png", {})
        w, h = ((meta.get("width"), meta.get("height")) if meta.get("height")
                else (size or (600, 400)))
        return 16 + min(IMAGE_MAX_PX, int(h * min(1.0, TEXT_WIDTH / max(w, 1))))
    if "image/svg+xml" in data:
        return 16 + IMAGE_MAX_PX
    if "text/html" in data:
        html = "".join(data["text/html"])
        rows = html.count("<tr")
        return 16 + (min(PRINT_MAX_PX + 100, 34 * rows) if rows else LINE_PX * _wrapped_lines(
            re.sub(r"<[^>]+>", "", html).strip(), 100))
    if "text/markdown" in data:
        return sum(markdown_px(b) for b in _blocks("".join(data["text/markdown"])))
    if "text/plain" in data:
        return 16 + min(PRINT_MAX_PX,
                        CODE_LINE_PX * _wrapped_lines("".join(data["text/plain"]), CODE_CHARS))
    return 0


# ------------------------------------------------------------------------------------ the deck copy
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_states(nb: dict, model_id: str) -> list[dict]:
    """The saved states of a widget and all its children (from the notebook's widget state)."""
    state = (nb["metadata"].get("widgets", {})
             .get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))
    seen, todo, found = set(), [model_id], []
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        widget = state[mid].get("state", {})
        todo += [child.removeprefix("IPY_MODEL_") for child in widget.get("children", [])]
        found.append(widget)
    return found


def _playground_models(nb: dict, model_id: str) -> list[str]:
    """The models a maml_lite Playground widget shows, or []."""
    names = []
    for widget in _widget_states(nb, model_id):
        value = widget.get("value")
        if isinstance(value, str):
            names += [n for n in re.findall(r'class="maml-mse maml-mse-([a-z_]+)"', value)
                      if n not in names]
    return names


def static_output(nb: dict, output: dict, site: str) -> dict:
    """`output` for a page with no kernel: a maml_lite Playground widget becomes the static
    playground (web/playground/ copied to `site`playground/) in a frame, with the same models; the
    character playground the static character playground (web/characters/ copied to
    `site`characters/); another widget a note; anything else is kept."""
    view = output.get("data", {}).get(WIDGET_VIEW)
    if view is None:
        return output
    model_id = view.get("model_id", "")
    names = _playground_models(nb, model_id)
    characters = any("maml-characters" in w.get("_dom_classes", [])
                     for w in _widget_states(nb, model_id))
    frame = '<iframe class="static-playground" src="{}" title="{}, running in the browser" ' \
            'loading="lazy"></iframe>'
    html = (frame.format(f"{site}characters/index.html?embed=1", "the character playground")
            if characters else
            frame.format(f"{site}playground/index.html?embed=1&models={','.join(names)}",
                         "the playground") if names else
            "<p><i>An interactive widget: run the notebook to use it.</i></p>")
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": html}}


# A title cell's Colab / Binder badges (images from those sites): left out of pages for offline use
BADGES = r"<!-- badges:start -->[^\n]*?<!-- badges:end -->|^[^\n]*<!-- badges -->[^\n]*$"


def without_widgets(nb: dict, site: str) -> dict:
    """A copy of `nb` for a page with no kernel and no network: static_output on every output, no
    widget manager, and no badges (the book has its own launch buttons)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [static_output(nb, o, site) for o in cell.get("outputs", [])]
        else:
            cell["source"] = re.sub(BADGES, "", _source(cell), flags=re.M)
    nb["metadata"].pop("widgets", None)
    return nb


def deck_outputs(nb: dict, cell: dict) -> list[dict]:
    """What a code cell shows on a slide: its outputs but stderr (warnings, progress bars), widgets
    made static."""
    return [static_output(nb, o, "") for o in cell.get("outputs", [])
            if not (o["output_type"] == "stream" and o.get("name") == "stderr")]


def _markdown_cell(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def deck_notebook(nb: dict) -> dict:
    """The notebook laid out as slides (see the module docstring); `nb` is not changed."""
    deck = copy.deepcopy(nb)
    # (cell, estimated px, heading level that starts a slide or 0)
    units: list[tuple[dict, int, int]] = []
    for cell in nb["cells"]:
        cell = copy.deepcopy(cell)
        cell["metadata"].pop("slideshow", None)
        if cell["cell_type"] == "markdown":
            # the title cell's Colab / Binder badges are for readers, not for a projected slide
            text = re.sub(BADGES, "", _source(cell), flags=re.M)
            for block in _blocks(text):
                level = heading_level(block)
                units.append((_markdown_cell(block), markdown_px(block),
                              level if level <= 3 else 0))
        elif cell["cell_type"] == "code":
            if HIDDEN & set(cell["metadata"].get("tags", [])):
                continue  # a check for the tests, hidden from readers: not on a slide either
            show = SHOW_CODE in cell["metadata"].get("tags", [])
            outputs = deck_outputs(nb, cell)
            if show:
                units.append(({**cell, "outputs": []},
                              24 + CODE_LINE_PX * _wrapped_lines(_source(cell), CODE_CHARS), 0))
            for output in outputs:
                piece = {**copy.deepcopy(cell), "outputs": [output]}
                piece["metadata"]["transient"] = {"remove_source": True}
                units.append((piece, output_px(output), 0))
    cells, used, title = [], 0, ""
    for cell, px, level in units:
        if level in (1, 2, 3):
            kind = "slide" if level < 3 else "subslide"
            title, used = _source(cell).lstrip("#").strip(), 0
        elif used and used + px > SLIDE_BUDGET:
            kind, used = "subslide", 0
            if title:
                note = _markdown_cell(f'<p class="slide-continued">{title} (continued)</p>')
                note["metadata"]["slideshow"] = {"slide_type": "subslide"}
                cells.append(note)
                used, kind = 30, "-"
        else:
            kind = "slide" if not cells else "-"
        cell["metadata"]["slideshow"] = {"slide_type": kind}
        cells.append(cell)
        used += px
    for i, cell in enumerate(cells):  # the pieces of a split cell need ids of their own
        cell["id"] = f"slide-cell-{i}"
    deck["cells"] = cells
    deck["metadata"].pop("widgets", None)  # no widget manager from a CDN: the playground is static
    return deck


def build(out: Path, notebooks: list[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    options = vendor(out)
    for page in ("playground", "characters"):  # the static pages the decks frame
        if (ROOT / "web" / page).is_dir():
            shutil.copytree(ROOT / "web" / page, out / page, dirs_exist_ok=True)
    work = ROOT / "build" / "slides"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    sources = []
    for path in notebooks:
        deck = deck_notebook(json.loads(path.read_text(encoding="utf-8")))
        (work / path.name).write_text(json.dumps(deck, ensure_ascii=False), encoding="utf-8")
        sources.append(str(work / path.name))
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", "--output-dir",
                    str(out), "--SlidesExporter.reveal_scroll=True",
                    "--SlidesExporter.reveal_theme=white",
                    f"--SlidesExporter.reveal_width={SLIDE_WIDTH}",
                    f"--SlidesExporter.reveal_height={SLIDE_HEIGHT}",
                    "--SlidesExporter.exclude_input_prompt=True",
                    "--SlidesExporter.exclude_output_prompt=True", "--log-level=ERROR", *options,
                    *sources], check=True)
    for path in notebooks:
        deck = out / f"{path.stem}.slides.html"
        html = deck.read_text(encoding="utf-8").replace("</head>", DECK_CSS + "</head>", 1)
        # slides start at the top (a long one is not pushed down by centring), and are laid out
        # again once MathJax has typeset them (its output is taller than the TeX it replaces)
        html = re.sub(r"https://cdnjs\.cloudflare\.com/ajax/libs/mermaid/[^'\"]+",
                      "./vendor/mermaid-none.mjs", html)
        html = html.replace("Reveal.initialize({",
                            "Reveal.initialize({\n            center: false,", 1)
        html = html.replace("Reveal.addEventListener('slidechanged', update);",
                            "Reveal.addEventListener('slidechanged', update);\n"
                            "        if (window.MathJax && MathJax.Hub) {\n"
                            "          MathJax.Hub.Queue(function () { Reveal.layout(); });\n"
                            "        }", 1)
        deck.write_text(html, encoding="utf-8")
        slides = html.count('<section')
        print(f"{deck.relative_to(ROOT) if deck.is_relative_to(ROOT) else deck}: {slides} sections")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stamp", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "slides")
    args = ap.parse_args()
    if args.stamp or args.check:
        bad = []
        for path in NOTEBOOKS:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = stale(nb)
            if cells and args.stamp:
                for c in nb["cells"]:
                    c["metadata"].setdefault("slideshow", {})["slide_type"] = slide_type(c)
                nb["metadata"].setdefault("rise", {}).update(RISE)
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                                encoding="utf-8")
                print(f"stamped: {path.relative_to(ROOT)}")
            elif cells:
                bad.append(f"{path.name}: {cells[:5]}")
        if bad:
            sys.exit("slide metadata missing or stale (run `python .ci/slides.py --stamp`): "
                     + "; ".join(bad))
        return
    build(args.out, NOTEBOOKS)


if __name__ == "__main__":
    main()
