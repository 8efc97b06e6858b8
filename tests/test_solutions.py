"""Every exercise has a solution in solutions/ and a check in its notebook.

Each notebook's answer cells carry the tag `exercise-N` and its checking cells `check-N`; the
solution goes in solutions/<notebook>.md after `<!-- exercise-N -->`. That every solution passes its
notebook's own check is shown where the course runs anyway, so it is not executed twice: the Colab
emulation (.ci/services-check colab, part of `make test`) runs each notebook with its solutions put
in (.ci/answers.py) and fails unless every check prints "correct". The student notebooks themselves
stay unanswered (nbval checks that).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".ci"))
from answers import answered, check_failures, solutions, tags  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def exercise_tags(nb) -> set[str]:
    return {t for c in nb.cells for t in tags(c) if t.startswith("exercise-")}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_cell_has_a_solution_and_a_check(notebook):
    nb = nbformat.read(notebook, as_version=4)
    wanted = exercise_tags(nb)
    assert wanted, (f"{notebook.name}: no cell tagged exercise-N (every notebook ends with "
                    "exercises)")
    assert (ROOT / "solutions" / f"{notebook.stem}.md").exists(), (
        f"solutions/{notebook.stem}.md is missing")
    missing = sorted(wanted - set(solutions(notebook)))
    assert not missing, f"{notebook.name}: no solution for {missing}"
    checks = {t for c in nb.cells for t in tags(c) if t.startswith("check-")}
    assert {t.replace("exercise", "check") for t in wanted} == checks, (
        f"{notebook.name}: each exercise needs a check")
    nb = answered(notebook)
    assert all(c.source == solutions(notebook)[t] for c in nb.cells for t in tags(c) if t in wanted)


def test_the_solutions_check_can_fail():
    """check_failures on a notebook whose check printed a hint, or raised, reports it (its
    own yardstick)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("",
                                                                   metadata={"tags": ["check-1"]}),
                                         nbformat.v4.new_code_cell("",
                                                                   metadata={"tags": ["check-2"]})])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="Exercise 1: not yet. Hint: ...")]
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="x",
                                                  traceback=[])]
    assert len(check_failures(nb, "nb")) == 2
    nb.cells = nb.cells[:1]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="Exercise 1: correct.")]
    assert check_failures(nb, "nb") == []
