"""maml_lite.exercises: the helper behind the notebooks' check cells (predict first, hint, reveal
only when right)."""

import math

import pytest

from maml_lite.exercises import Checker, close


def test_close_accepts_numbers_near_the_truth_and_nothing_else():
    assert close(1.01, 1.0) and close("1.0", 1.0) and close(0.0, 1e-9, atol=1e-6)
    assert not close(1.1, 1.0) and not close(None, 1.0) and not close("one", 1.0)
    assert not close(math.nan, 1.0) and not close(math.inf, math.inf)
    assert close(1.1, 1.0, rtol=0.2) and not close(-1.0, 1.0, rtol=0.5)


def test_nothing_happens_before_a_prediction(capsys):
    checker = Checker()
    assert not checker.committed("Exercise 1", None)
    assert "Exercise 1: not attempted yet" in capsys.readouterr().out
    assert checker.first == {}


def test_a_prediction_outside_the_choices_is_refused_and_not_recorded(capsys):
    checker = Checker()
    assert not checker.committed("Exercise 2", "bigger", ("larger", "smaller"))
    out = capsys.readouterr().out
    assert "Exercise 2: not yet" in out and "'bigger'" in out and "correct" not in out
    assert checker.committed("Exercise 2", "larger", ("larger", "smaller"))
    assert checker.first == {"Exercise 2": "larger"}


def test_the_first_prediction_is_kept(capsys):
    checker = Checker()
    checker.committed("Exercise 1", 0.02)
    checker.committed("Exercise 1", 0.01)  # changed after a hint
    assert checker.first["Exercise 1"] == 0.02
    assert (checker.compared("Exercise 1", 0.01)
            == "Your first prediction was 0.02: the answer is 0.01.")
    assert checker.compared("Exercise 1", 0.02).endswith("right.")
    assert checker.compared("Exercise 9", 1) == ""


def test_checkers_share_nothing():
    one, two = Checker(), Checker()
    one.committed("Exercise 1", "a")
    assert two.first == {} and two.compared("Exercise 1", "a") == ""


def test_a_wrong_answer_gets_the_hint_and_never_the_reveal(capsys):
    revealed = []

    def reveal():
        revealed.append(True)
        return "the measured value is 42"

    assert not Checker().verdict("Exercise 3", False, "look at the sign", reveal)
    out = capsys.readouterr().out
    assert out.strip() == "Exercise 3: not yet. Hint: look at the sign"
    assert not revealed, "the reveal must not even be computed for a wrong answer"
    assert Checker().verdict("Exercise 3", True, "look at the sign", reveal)
    out = capsys.readouterr().out
    assert out.strip() == "Exercise 3: correct. the measured value is 42" and "Hint" not in out


@pytest.mark.parametrize("reveal", ["", "a fixed sentence"])
def test_a_correct_answer_says_correct(capsys, reveal):
    Checker().verdict("Exercise 1", True, "hint", reveal)
    assert capsys.readouterr().out.startswith("Exercise 1: correct.")


def test_student_code_that_raises_is_reported_without_a_traceback(capsys):
    ok, value = Checker().run("Exercise 4", lambda: 1 / 0, hint="divide by the number of points")
    out = capsys.readouterr().out
    assert (ok, value) == (False, None)
    assert (out.startswith("Exercise 4: not yet: your code raised ZeroDivisionError")
            and "Traceback" not in out)
    assert "divide by the number of points" in out
    assert Checker().run("Exercise 4", lambda: 7) == (True, 7)
