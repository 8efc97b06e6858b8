"""Checks for the notebooks' exercises: a prediction first, then a verdict that never gives the
answer away.

A notebook makes one `Checker` in its setup cell; each (hidden) check cell calls it:

    checker.committed(label, prediction, choices)  True once the student has written a prediction
    checker.verdict(label, ok, hint, reveal)       "correct" and the reveal, or "not yet" and a hint
    checker.compared(label, truth)                 the student's first prediction against what was
                                                   measured
    checker.run(label, function, hint)             the student's code, reported without a traceback
    close(answer, truth, rtol, atol)               whether an answer is a finite number near the
                                                   truth

The rules the checks follow: nothing is measured or shown before a prediction is written; a wrong
answer gets a hint (a direction, never the value); the reveal comes only with a correct answer. The
first prediction for each label is kept by the `Checker` (not by this module: there is no global
state), so changing it after a hint does not change what the reveal compares. Every message starts
with the exercise's label and says "not attempted yet", "not yet" or "correct"
(tests/test_solutions.py reads them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any


def close(answer: Any, truth: float, rtol: float = 0.02, atol: float = 0.0) -> bool:
    """True if `answer` is a finite number within `rtol` of `truth` (relative) or within
    `atol` (absolute)."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and abs(value - truth) <= max(atol, rtol * abs(truth))


class Checker:
    """The state of one notebook's exercises: the first prediction made for each exercise label."""

    def __init__(self) -> None:
        self.first: dict[str, Any] = {}

    def committed(self, label: str, prediction: Any, choices: Iterable[Any] | None = None,
                  what: str = "prediction") -> bool:
        """True once `prediction` is written (and is one of `choices`, if given); else say what
        is missing."""
        if prediction is None:
            then = " first (nothing is measured or shown before)" if what == "prediction" else ""
            print(f"{label}: not attempted yet: write your {what}{then}.")
            return False
        if choices is not None:
            allowed = tuple(choices)
            if prediction not in allowed:
                print(f"{label}: not yet: your {what} must be one of {allowed}, got "
                      f"{prediction!r}.")
                return False
        self.first.setdefault(label, prediction)
        return True

    def verdict(self, label: str, ok: bool, hint: str,
                reveal: str | Callable[[], str] = "") -> bool:
        """Print "correct" and the reveal (computed only then), or "not yet" and the hint;
        return `ok`."""
        if ok:
            text = reveal() if callable(reveal) else reveal
            print(f"{label}: correct." + (f" {text}" if text else ""))
        else:
            print(f"{label}: not yet. Hint: {hint}")
        return bool(ok)

    def compared(self, label: str, truth: Any) -> str:
        """A sentence for the reveal: the first prediction recorded for `label`, against `truth`."""
        if label not in self.first:
            return ""
        guess = self.first[label]
        return f"Your first prediction was {guess!r}: " + ("right." if guess == truth
                                                           else f"the answer is {truth!r}.")

    def run(self, label: str, function: Callable[[], Any], hint: str = "") -> tuple[bool, Any]:
        """Call the student's code: (True, its value), or (False, None) with "not yet" and the
        error, no traceback."""
        try:
            return True, function()
        except Exception as error:  # the student's own code: report it and let the check go on
            print(f"{label}: not yet: your code raised {type(error).__name__}: {error}"
                  + (f" Hint: {hint}" if hint else ""))
            return False, None
