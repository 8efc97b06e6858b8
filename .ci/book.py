#!/usr/bin/env python3
"""Build the course website: the executed notebooks, the lecture guide and the solutions as a Jupyter Book.

    python .ci/book.py [--out artifacts/book]      (`make book`)

The pages are copied with their relative layout into build/book (so README's and the notebooks' links keep working)
beside book/_config.yml and book/_toc.yml; notebooks are not re-executed. Every file the table of contents names must
exist, and the build fails on a missing page. Prints the build time and where index.html is.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "notebooks", "docs", "solutions"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "book")
    args = ap.parse_args()
    src = ROOT / "build" / "book"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / "book" / name, src / name)
    for page in PAGES:
        if (ROOT / page).is_dir():
            shutil.copytree(ROOT / page, src / page, ignore=shutil.ignore_patterns("*.cfg", ".ipynb_checkpoints"))
        else:
            shutil.copy(ROOT / page, src / page)
    start = time.perf_counter()
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(src), "--path-output", str(args.out.parent / "book-build"), "--quiet"],
                   check=True)
    html = args.out.parent / "book-build" / "_build" / "html"
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(html, args.out)
    missing = [p for p in ("index.html", "notebooks/02_maml.html", "solutions/02_maml.html", "docs/lecture_guide.html")
               if not (args.out / p).exists()]
    if missing:
        sys.exit(f"the book is missing pages: {missing}")
    print(f"book built in {time.perf_counter() - start:.0f} s: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
