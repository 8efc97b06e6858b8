"""Every exercise has a solution in solutions/, and every solution passes its notebook's own check.

Each notebook's answer cells carry the tag `exercise-N` and its checking cells `check-N`. For each notebook this
test puts the code of solutions/<notebook>.md (the fenced block after `<!-- exercise-N -->`) into the answer cells,
runs the whole notebook in a fresh kernel, and requires every check to print "correct" and none of the phrases a
check prints for a wrong or missing answer. The student notebooks themselves stay unanswered (nbval checks that).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
WRONG = ("not yet", "not quite", "not attempted")
BLOCK = re.compile(r"<!-- (exercise-\d+) -->\s*```python\n(.*?)```", re.S)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def solutions(notebook: Path) -> dict[str, str]:
    path = ROOT / "solutions" / f"{notebook.stem}.md"
    return dict(BLOCK.findall(path.read_text())) if path.exists() else {}


def exercise_tags(nb) -> set[str]:
    return {t for c in nb.cells for t in tags(c) if t.startswith("exercise-")}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_cell_has_a_solution_and_a_check(notebook):
    nb = nbformat.read(notebook, as_version=4)
    wanted = exercise_tags(nb)
    assert wanted, f"{notebook.name}: no cell tagged exercise-N (every notebook ends with exercises)"
    assert (ROOT / "solutions" / f"{notebook.stem}.md").exists(), f"solutions/{notebook.stem}.md is missing"
    missing = sorted(wanted - set(solutions(notebook)))
    assert not missing, f"{notebook.name}: no solution for {missing}"
    checks = {t for c in nb.cells for t in tags(c) if t.startswith("check-")}
    assert {t.replace("exercise", "check") for t in wanted} == checks, f"{notebook.name}: each exercise needs a check"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_solutions_pass_the_notebooks_own_checks(notebook, tmp_path):
    nb = nbformat.read(notebook, as_version=4)
    answers = solutions(notebook)
    for cell in nb.cells:
        for tag in tags(cell):
            if tag in answers:
                cell.source = answers[tag]
    answered, executed = tmp_path / notebook.name, tmp_path / f"executed_{notebook.name}"
    nbformat.write(nb, answered)
    # A fresh process per notebook, as `jupyter nbconvert --execute` runs it: several nbclient executions in one
    # process sometimes waited forever for a kernel that had gone idle.
    run = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                          "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.kernel_name=python3",
                          "--output", str(executed), str(answered)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{notebook.name} with its solutions did not run:\n{run.stderr[-3000:]}"
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for tag in (t for t in tags(cell) if t.startswith("check-")):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            assert not errors, f"{notebook.name} {tag}: {errors[0]['ename']}: {errors[0]['evalue']}"
            assert "correct" in text.lower() and not any(w in text for w in WRONG), f"{notebook.name} {tag}: {text!r}"
