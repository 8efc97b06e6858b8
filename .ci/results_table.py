#!/usr/bin/env python3
"""Stamp README's results table from the shipped model cards, so its figures can only be what the
cards say.

The table sits between `<!-- results:start -->` and `<!-- results:end -->`: one row per checkpoint
and K, MSE +- 95% CI after 0, 1, 5 and 10 inner steps on the card's 1000 tasks (or the number of
diverged tasks), the training time, and the runaway check on fresh tasks. A checkpoint added under
maml_lite/checkpoints/ gets its rows by running this script; nothing is hand-listed. Its label comes
from maml_lite.plots.LABELS (the method's name otherwise).

    python .ci/results_table.py            # stamp README.md
    python .ci/results_table.py --check    # exit 1 if README's table is not what the cards say
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import maml_lite as ml
from maml_lite.plots import LABELS

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
ORDER = ["maml", "maml_plus", "fomaml", "reptile", "pretrain", "metasgd", "meta_learner",
         "lstm_opt", "anil", "cavia"]


def cell(table: dict, step: int) -> str:
    i = table["steps"].index(step)
    if table["diverged"][i]:
        return f"{table['diverged'][i]} of {table['n_tasks']} diverged"
    return f"{table['mean'][i]:.2f} ± {table['ci95'][i]:.2f}"


def fresh(card: dict, k: int) -> str:
    check = card["fresh_tasks"]
    counts = check[f"K={k}"]
    if not counts["above_12.5"]:
        return f"none of {check['n_tasks']:,} above 12.5"
    diverged = f" ({counts['diverged']:,} diverged)" if counts["diverged"] else ""
    return f"{counts['above_12.5']:,} of {check['n_tasks']:,} above 12.5{diverged}"


def table() -> str:
    names = [n for n in ORDER if n in ml.PRETRAINED] + [n for n in ml.PRETRAINED if n not in ORDER]
    rows = ["| checkpoint | K | 0 steps | 1 step | 5 steps | 10 steps | fresh tasks after 10 steps "
            "| training time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in names:
        card = ml.model_card(name)
        for k in (5, 10, 20):
            t = card["evaluation"][f"K={k}"]
            first = k == 5
            label = f"{LABELS.get(name, name)} (`{name}`)" if first else ""
            seconds = f"{card['training_seconds']:.0f} s" if first else ""
            rows.append(f"| {label} | {k} | " + " | ".join(cell(t, s) for s in (0, 1, 5, 10))
                        + f" | {fresh(card, k)} | {seconds} |")
    return "\n".join(rows)


def stamped(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + table() + "\n" + text[end:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README's table is out of date")
    args = ap.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
        return 1
    new = stamped(text)
    if args.check:
        if new != text:
            print("README.md's results table is not what the model cards say: "
                  "run `python .ci/results_table.py`", file=sys.stderr)
            return 1
        print("README.md's results table: up to date")
        return 0
    readme.write_text(new, encoding="utf-8")
    print("stamped README.md's results table from the model cards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
