#!/usr/bin/env python3
"""Stamp README's results table from the shipped model cards, so its figures can only be what the
cards say.

The sine table sits between `<!-- results:start -->` and `<!-- results:end -->`: one row per
checkpoint and K, MSE +- 95% CI after 0, 1, 5 and 10 inner steps on the card's 1000 tasks (or the
number of diverged tasks), the training time, and the runaway check on fresh tasks. A checkpoint
added under maml_lite/checkpoints/ gets its rows by running this script; nothing is hand-listed. Its
label comes from maml_lite.plots.LABELS (the method's name otherwise).

The character classifiers' table (notebook 08) sits between `<!-- few-shot:start -->` and
`<!-- few-shot:end -->`: test accuracy +- 95% CI on each card's 1000 episodes per setting, after
the card's last step, beside the paper's Table 1.

    python .ci/results_table.py            # stamp README.md
    python .ci/results_table.py --check    # exit 1 if README's table is not what the cards say
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import maml_lite as ml
from maml_lite.methods import FEW_SHOT
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


FEW_SHOT_START, FEW_SHOT_END = "<!-- few-shot:start -->", "<!-- few-shot:end -->"
FEW_SHOT_ORDER = ["omniglot/maml", "omniglot/fomaml", "omniglot/protonet", "omniglot/finetune"]
SETTINGS = ["5-way 1-shot", "5-way 5-shot", "20-way 1-shot"]
PAPER_TABLE1 = ["98.7 ± 0.4", "99.9 ± 0.1", "95.8 ± 0.3"]  # Finn et al. 2017, Table 1 (MAML)


def few_shot_table() -> str:
    names = ([n for n in FEW_SHOT_ORDER if n in FEW_SHOT]
             + [n for n in FEW_SHOT if n not in FEW_SHOT_ORDER])
    rows = ["| checkpoint | " + " | ".join(SETTINGS) + " | steps | training time |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name in names:
        card = ml.model_card(name)
        cells = []
        for setting in SETTINGS:
            t = card["evaluation"][setting]
            cells.append(f"{100 * t['mean'][-1]:.1f} ± {100 * t['ci95'][-1]:.1f}")
        steps = card["evaluation"][SETTINGS[0]]["steps"][-1]
        rows.append(f"| {LABELS.get(card['method'], card['method'])} (`{name}`) | "
                    + " | ".join(cells) + f" | {steps} | {card['training_seconds'] / 60:.1f} min, "
                    f"{card['threads']} threads |")
    rows.append("| MAML, the paper's Table 1 (full Omniglot, GPU) | " + " | ".join(PAPER_TABLE1)
                + " | 3 | hours |")
    return "\n".join(rows)


def stamped(text: str) -> str:
    for start_mark, end_mark, make in ((START, END, table),
                                       (FEW_SHOT_START, FEW_SHOT_END, few_shot_table)):
        start, end = text.index(start_mark) + len(start_mark), text.index(end_mark)
        text = text[:start] + "\n" + make() + "\n" + text[end:]
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README's table is out of date")
    args = ap.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    for start_mark, end_mark in ((START, END), (FEW_SHOT_START, FEW_SHOT_END)):
        if start_mark not in text or end_mark not in text:
            print(f"README.md has no {start_mark} ... {end_mark} markers", file=sys.stderr)
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
