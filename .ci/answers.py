"""The exercises' solutions, put into their notebooks, and what their checks must print.

Each notebook's answer cells carry the tag `exercise-N` and its checking cells `check-N`;
solutions/<notebook>.md holds each answer as the fenced block after `<!-- exercise-N -->`.
`answered(path)` is the notebook with every answer cell replaced by its solution;
`check_failures(executed)` lists every check of an executed answered notebook that did not print
"correct" (or printed a phrase a check prints for a wrong or missing answer, or raised).

Used by tests/test_solutions.py (every exercise has a solution and a check) and by the Colab
emulation in .ci/services-check, which runs the answered notebooks: one execution shows both that
the course runs under Colab's versions and that every solution passes its notebook's own check.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
WRONG = ("not yet", "not quite", "not attempted")
BLOCK = re.compile(r"<!-- (exercise-\d+) -->\s*```python\n(.*?)```", re.S)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def solutions(notebook: Path, root: Path = ROOT) -> dict[str, str]:
    """{exercise-N: the solution's code} from solutions/<notebook>.md (empty if there is none)."""
    path = root / "solutions" / f"{notebook.stem}.md"
    return dict(BLOCK.findall(path.read_text(encoding="utf-8"))) if path.exists() else {}


def answered(notebook: Path, root: Path = ROOT) -> nbformat.NotebookNode:
    """The notebook with each `exercise-N` cell's source replaced by its solution."""
    nb = nbformat.read(notebook, as_version=4)
    answers = solutions(notebook, root)
    for cell in nb.cells:
        for tag in tags(cell):
            if tag in answers:
                cell.source = answers[tag]
    return nb


def check_failures(executed: nbformat.NotebookNode, name: str) -> list[str]:
    """Every `check-N` cell of an executed answered notebook that raised or did not
    print "correct"."""
    problems = []
    for cell in executed.cells:
        for tag in (t for t in tags(cell) if t.startswith("check-")):
            text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                           if o.get("output_type") == "stream")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                problems.append(f"{name} {tag}: {errors[0]['ename']}: {errors[0]['evalue']}")
            elif "correct" not in text.lower() or any(w in text for w in WRONG):
                problems.append(f"{name} {tag}: {text!r}")
    return problems
