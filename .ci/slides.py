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
import shutil
import subprocess
import sys
import tarfile
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


# What the decks load, from the npm registry, so they also work offline in a lecture hall: the reveal.js version
# nbconvert's slides template is written for, and the require.js and jQuery its page script needs.
VENDORED = {  # option of nbconvert's SlidesExporter: (npm package@version, file or folder inside the package)
    "reveal_url_prefix": ("reveal.js@4.0.2", "."),
    "require_js_url": ("requirejs@2.1.10", "require.js"),
    "jquery_url": ("jquery@2.2.4", "dist/jquery.min.js"),
}


def vendor(out: Path) -> list[str]:
    """nbconvert options pointing at local copies beside the decks; an empty list (the CDNs) without npm."""
    options, tmp = [], ROOT / "build" / "vendor"
    for option, (spec, inside) in VENDORED.items():
        name = spec.split("@")[0]
        target = out / "vendor" / name
        if not target.exists():
            (tmp / name).mkdir(parents=True, exist_ok=True)
            try:
                subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp / name, check=True, capture_output=True)
            except (OSError, subprocess.CalledProcessError) as e:
                print(f"npm could not fetch {spec} ({e}); the decks will load their scripts from CDNs")
                return []
            with tarfile.open(next((tmp / name).glob("*.tgz"))) as tar:
                tar.extractall(tmp / name, filter="data")
            shutil.copytree(tmp / name / "package", target, ignore=shutil.ignore_patterns("*.map", "test", "examples"))
        path = f"vendor/{name}" if inside == "." else f"vendor/{name}/{inside}"
        options.append(f"--SlidesExporter.{option}={path}")
    return options


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
                    *vendor(args.out), *map(str, NOTEBOOKS)], check=True)
    for path in NOTEBOOKS:
        deck = args.out / f"{path.stem}.slides.html"
        print(f"{deck.relative_to(ROOT) if deck.is_relative_to(ROOT) else deck}: "
              f"{deck.read_text(encoding='utf-8').count('<section')} sections")


if __name__ == "__main__":
    main()
