#!/usr/bin/env python3
"""The figure pack: the course's key figures, taken from the committed executed notebooks,
for lecturers.

    python .ci/figures.py [--out artifacts/figures] [--require-tags] [--site-root DIR]

A figure is the image output of a code cell tagged `figure-pack:<name>` (for example
`figure-pack:average-task`).
Each is written as <out>/<NN>_<name>.png, and as .svg too where the cell's output holds an SVG,
beside a page, <out>/index.md, that shows every figure with its caption and the notebook section it
comes from. Nothing is re-run: the images are the outputs committed with the notebooks
(`bash .ci/execute-notebooks` makes them), so the pack always shows what the notebooks show.

The captions live in FIGURES below, in the order of the lecture guide (docs/lecture_guide.md), which
projects them. Until a notebook's cells carry their tags, a figure is found by `find`, a phrase
unique to its cell's source; --require-tags refuses that fallback (use it in CI once the tags are
in). A cell tagged `figure-pack:<name>` with a name not in FIGURES is an error, and so is a figure
that no cell provides: the pack and the guide stay in step.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = "figure-pack:"


@dataclass(frozen=True)
class Figure:
    name: str       # the tag's suffix and the file name
    title: str      # the heading on the page
    notebook: str   # the notebook's stem, e.g. "01_fine_tuning"
    section: str    # the section heading the figure sits under, for the page
    caption: str    # what the figure shows and the point to make with it
    find: str       # a phrase unique to the cell's source: the fallback until the cell is tagged
    lecture: str    # where docs/lecture_guide.md projects it


FIGURES = [
    Figure("average-task", "Pretraining learns the average task",
           "01_fine_tuning", "4. Why: the pooled target averages the tasks away",
           "Pretraining learns the average task: the pretrained network's curve (before any "
           "fine-tuning) lies on the mean of 10,000 tasks and on the closed form "
           "-(2E[A]/pi) cos x. Everything that tells tasks apart has been averaged away.",
           'title="Pretraining learns the average task"', "90-minute lecture, 10-22 min"),
    Figure("maml-in-parameter-space", "MAML in parameter space",
           "02_maml", "3. The algorithm",
           "MAML in parameter space (after the paper's Figure 1): the outer loop moves theta to a "
           "point from which one gradient step on each task's support set lands near that task's "
           "own best weights. A sketch, not a measurement.",
           "def draw_maml_picture(ax):", "90-minute lecture, 22-35 min"),
    Figure("one-step", "One step from each start",
           "02_maml", "8. What one step does: the whole curve moves",
           "One SGD step on the same five points, from the pretrained start (left) and from MAML's "
           "start (right): the change the step makes against the change the task needs. From "
           "MAML's start the step reshapes the whole curve, even where there are no points.",
           'label="change made by one step"', "90-minute lecture, 35-50 min"),
    Figure("half-range", "Five points on half the range (the paper's Figure 2)",
           "02_maml", "9. Figure 2: five points on half the range",
           "The paper's Figure 2: five points, all on x in [0, 5]. After one and ten steps MAML "
           "also draws the half it saw no points on; the pretrained network does not.",
           "no points here", "90-minute lecture, 35-50 min"),
    Figure("error-vs-steps", "Error against gradient steps (the paper's Figure 3)",
           "02_maml", "10. Figure 3 and Table 2: error against gradient steps",
           "The paper's Figure 3: mean squared error on 600 test tasks against the number of SGD "
           "steps at alpha = 0.01, for K = 5, 10 and 20, with 95% confidence bands. MAML drops "
           "most of its error in the first step and keeps falling; fine-tuning the pretrained "
           "network barely moves.",
           'title=f"K={k_shot}: MAML vs pretrained"', "90-minute lecture, 35-50 min"),
    Figure("five-models", "Five starts, the same steps",
           "04_live_adaptation", "1. Five starting points, one inner loop",
           "Five starting points, the same plain SGD steps on the same five points: the curves "
           "after one step, and each model's error over ten steps (log scale). The meta-learned "
           "starts fit the task in one step.",
           'title="Error while adapting to this task"', "90-minute lecture, 55-72 min"),
    Figure("first-order", "What dropping the Hessian costs",
           "03_first_order_maml", "6. What it costs: accuracy on the paper's benchmark",
           "MAML, first-order MAML, Reptile and the pretrained baseline on 600 test tasks, at "
           "K = 5 and K = 10: dropping the Hessian term keeps nearly all of MAML's accuracy.",
           "results_k10 = {m: ml.evaluate", "45-minute follow-up, 5-18 min"),
    Figure("heat-map", "Unrolled steps explode the meta-gradient",
           "05_unrolling", "1. Unrolling m inner steps: a product of Jacobians",
           "The norm of MAML's meta-gradient at the shipped initialisation, for 1 to 10 unrolled "
           "inner steps and six step sizes, second order (left) and first order (right); black "
           "cells diverged. Past a step size near 2/lambda_max the second-order norm explodes with "
           "every unrolled step.",
           'fig.suptitle("Shipped MAML initialisation, one fixed batch of 25 tasks")',
           "45-minute follow-up, 25-33 min"),
    Figure("sharpening", "MAML sharpens its initialisation",
           "05_unrolling", "2. How sharp does MAML make its initialisation?",
           "MAML sharpens its own start: the largest eigenvalue of each task's support-loss "
           "Hessian at a random initialisation, after 300 MAML iterations, and at the shipped "
           "checkpoint, against 1/alpha and the stability limit 2/alpha.",
           'title=f"MAML sharpens its initialisation (α = {alpha})"',
           "45-minute follow-up, 33-40 min"),
    Figure("characters-table1", "Few-shot characters against the paper's Table 1",
           "08_few_shot_characters", "4. The shipped checkpoints against the paper's Table 1",
           "The shipped MAML, first-order MAML, prototypical network and pretrained classifier "
           "with a refit head on 1,000 test episodes of alphabets never seen in training (95% "
           "CI), beside the paper's MAML. A CPU-sized subset: the ordering of the methods "
           "transfers, the level does not.",
           'ax.set_title("Shipped checkpoints on unseen alphabets', "optional: notebook 08"),
    Figure("map-of-meta-learning", "A map of meta-learning",
           "08_few_shot_characters", "6. A map of meta-learning",
           "Every method of the course placed by what it meta-learns across tasks and what it "
           "adapts to a new task: optimisation-based (a start, step sizes, an update rule), "
           "metric-based (an embedding) and the pretrained baseline.",
           'ax.set_title("A map of meta-learning', "optional: notebook 08"),
]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def images(cell: dict) -> list[dict[str, str]]:
    """The cell's image outputs, in order: one {"png": base64, "svg": text (if any)} per figure."""
    found = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/png" in data or "image/svg+xml" in data:
            svg = data.get("image/svg+xml")
            found.append({"png": data.get("image/png", ""),
                          "svg": "".join(svg) if isinstance(svg, list) else svg or ""})
    return found


def locate(figure: Figure, notebooks: dict[str, dict],
           require_tags: bool) -> tuple[int, dict] | str:
    """(cell index, cell) of the figure, or why it was not found."""
    cells = notebooks.get(figure.notebook, {}).get("cells")
    if cells is None:
        return f"notebooks/{figure.notebook}.ipynb does not exist"
    tagged = [(i, c) for i, c in enumerate(cells)
              if TAG + figure.name in c.get("metadata", {}).get("tags", [])]
    if len(tagged) > 1:
        return f"{len(tagged)} cells of {figure.notebook} carry the tag {TAG}{figure.name}; tag one"
    if tagged:
        return tagged[0]
    if require_tags:
        return f"no cell of {figure.notebook} carries the tag {TAG}{figure.name}"
    found = [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"
             and figure.find in source(c)]
    if len(found) != 1:
        return (f"no cell of {figure.notebook} is tagged {TAG}{figure.name}, and {len(found)} code "
                f"cells contain its phrase {figure.find!r}: tag the cell")
    return found[0]


def build(out: Path, require_tags: bool, site_root: Path = ROOT) -> list[str]:
    """Write the pack; returns the problems found (nothing is written if there are any).

    The page links to the notebooks and the lecture guide relative to `out`, through `site_root`:
    the folder that holds notebooks/ and docs/ where the page will be read (the repository, or the
    website's source tree)."""
    notebooks = {p.stem: json.loads(p.read_text(encoding="utf-8"))
                 for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))}
    known = {f.name for f in FIGURES}
    problems = [f"notebooks/{stem}.ipynb cell {i}: the tag {tag} names no figure in "
                ".ci/figures.py's FIGURES"
                for stem, nb in notebooks.items() for i, c in enumerate(nb["cells"])
                for tag in c.get("metadata", {}).get("tags", [])
                if tag.startswith(TAG) and tag[len(TAG):] not in known]
    found = []
    for number, figure in enumerate(FIGURES, start=1):
        where = locate(figure, notebooks, require_tags)
        if isinstance(where, str):
            problems.append(f"{figure.name}: {where}")
            continue
        index, cell = where
        pictures = images(cell)
        if not pictures:
            problems.append(f"{figure.name}: {figure.notebook} cell {index} has no image output; "
                            "execute the notebook (bash .ci/execute-notebooks) and commit it with "
                            "its outputs")
            continue
        found.append((number, figure, index, pictures))
    if problems:
        return problems
    out.mkdir(parents=True, exist_ok=True)
    # from the page to notebooks/, docs/
    root = Path(os.path.relpath(site_root.resolve(), out.resolve())).as_posix()
    page = ["# Figure pack", "",
            "The course's key figures, as the executed notebooks show them, in the order the "
            f"[lecture guide]({root}/docs/lecture_guide.md) projects them. Each is a PNG (and an "
            "SVG where the notebook provides one) to drop into slides. `python .ci/figures.py` "
            "takes them from the committed notebooks, so they always match the notebooks.", ""]
    for number, figure, index, pictures in found:
        for k, picture in enumerate(pictures, start=1):
            stem = f"{number:02d}_{figure.name}" + (f"_{k}" if len(pictures) > 1 else "")
            files = []
            if picture["png"]:
                (out / f"{stem}.png").write_bytes(base64.b64decode(picture["png"]))
                files.append(f"{stem}.png")
            if picture["svg"]:
                (out / f"{stem}.svg").write_text(picture["svg"], encoding="utf-8")
                files.append(f"{stem}.svg")
            title = figure.title + (f" ({k} of {len(pictures)})" if len(pictures) > 1 else "")
            page += [f"## {number}. {title}", "", f"![{title}]({files[0]})", "", figure.caption, "",
                     f"From [{figure.notebook}]({root}/notebooks/{figure.notebook}.ipynb), "
                     f"section \"{figure.section}\" (code cell {index}). Projected in: "
                     f"{figure.lecture}. Files: "
                     + ", ".join(f"[{f}]({f})" for f in files) + ".", ""]
    (out / "index.md").write_text("\n".join(page), encoding="utf-8")
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "figures")
    ap.add_argument("--require-tags", action="store_true",
                    help="find every figure by its cell tag only (no fallback to the phrase in "
                         "FIGURES)")
    ap.add_argument("--site-root", type=Path, default=ROOT,
                    help="the folder holding notebooks/ and docs/ where the page is read (default: "
                         "the repository); for the website: --out build/book/docs/figures "
                         "--site-root build/book")
    args = ap.parse_args()
    problems = build(args.out, args.require_tags, args.site_root)
    if problems:
        sys.exit("figure pack not written:\n  " + "\n  ".join(problems))
    print(f"figure pack: {len(FIGURES)} figures in {args.out} (page: {args.out / 'index.md'})")


if __name__ == "__main__":
    main()
