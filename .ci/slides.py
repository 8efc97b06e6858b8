#!/usr/bin/env python3
"""Each notebook as a reveal.js slide deck: one slide per section (each `#` or `##` heading), the cells under it on
the same slide (a long slide scrolls), `###` headings as sub-slides.

    python .ci/slides.py --stamp     # write that slide metadata into notebooks/*.ipynb (RISE reads it too)
    python .ci/slides.py --check     # exit 1 if a notebook's metadata is missing or stale
    python .ci/slides.py [--out artifacts/slides]   # build NN_name.slides.html for every notebook

Stamping edits only cell metadata, never sources or outputs, so committed outputs stay valid for nbval.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def slide_type(cell: dict) -> str:
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if cell["cell_type"] == "markdown" and source.startswith(("# ", "## ")):
        return "slide"
    if cell["cell_type"] == "markdown" and source.startswith("### "):
        return "subslide"
    return "-"


def stale(nb: dict) -> list[int]:
    stamped = [c["metadata"].get("slideshow", {}).get("slide_type") for c in nb["cells"]]
    return [i for i, (c, s) in enumerate(zip(nb["cells"], stamped)) if s != slide_type(c)]


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
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
                print(f"stamped: {path.relative_to(ROOT)}")
            elif cells:
                bad.append(f"{path.name}: cells {cells[:5]}")
        if bad:
            sys.exit("slide metadata missing or stale (run `python .ci/slides.py --stamp`): " + "; ".join(bad))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", "--output-dir", str(args.out),
                    *map(str, NOTEBOOKS)], check=True)
    for path in NOTEBOOKS:
        deck = args.out / f"{path.stem}.slides.html"
        print(f"{deck.relative_to(ROOT) if deck.is_relative_to(ROOT) else deck}: "
              f"{deck.read_text(encoding='utf-8').count('<section')} sections")


if __name__ == "__main__":
    main()
