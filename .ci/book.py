#!/usr/bin/env python3
"""Build the course website: the executed notebooks, the lecture kit and the solutions as a
Jupyter Book.

    python .ci/book.py [--out artifacts/book]      (`make book`)

The pages are copied with their relative layout into build/book (so README's and the notebooks'
links keep working) beside book/_config.yml, book/_toc.yml and book's own pages (book/*.md), with
the figure pack (.ci/figures.py) as docs/figures/; notebooks are not re-executed. Every file the
table of contents names must exist, and the build fails on a missing page. Prints the build time and
where index.html is.

The site works offline (a lecture hall's network): MathJax 3 is vendored from the npm registry into
mathjax/ beside the pages (book/_config.yml points Sphinx at it), and the static playground
(web/playground) is copied to playground/ and the static character playground (web/characters) to
characters/, where the notebooks' playground widgets, which would need a kernel and a widget manager
from a CDN, show them instead (the book's copy of the notebooks only;
see .ci/slides.py's static_output).
tests/browser/test_slides.py checks it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from set_repo import Config  # noqa: E402
from slides import MATHJAX3_KEEP, npm_package, without_widgets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "notebooks", "docs", "solutions"]
MATHJAX3 = "mathjax@3.2.2"  # book/_config.yml's mathjax_path names the file inside it


# a Markdown link to a static page in the repository, e.g. [the page](../web/characters/index.html)
STATIC_LINK = re.compile(r"\[([^\]\n]+)\]\((?:\.\./)*web/(playground|characters)/index\.html\)")


# a badge: an image from another site as a link, [![Open In Colab](https://...svg)](URL)
BADGE_IMAGE = re.compile(r"\[!\[([^\]\n]*)\]\(https?://[^)\s]+\)\]\(([^)\s]+)\)")


def static_links(text: str, up: str) -> str:
    """`text` with its links to web/playground/ and web/characters/ as HTML links to the book's
    copies (playground/ and characters/ at its root; `up` is "../" from a page in a folder), quoted
    with ' so that a notebook's JSON stays valid. MyST would read a Markdown link to a file outside
    the book as a missing cross-reference."""
    return STATIC_LINK.sub(lambda m: f"<a href='{up}{m[2]}/index.html'>{m[1]}</a>", text)


# a Markdown link to a relative path (not a URL, not an anchor on the same page)
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)\s#]+)(#[^)\s]*)?\)")


def repo_links(text: str, page: Path, src: Path, cfg: Config) -> str:
    """`text` (the book's copy `page` of a page in src) with its links to repository files or
    folders the book does not hold as links to them on GitHub at the release (cfg.rev): the book
    has README, notebooks, docs and solutions, not apps/ or .ci/, and no page for a folder."""
    def fix(m: re.Match) -> str:
        if (page.parent / m[1]).is_file():
            return m[0]
        path = os.path.normpath(page.parent.relative_to(src) / m[1])
        if path.startswith("..") or not (ROOT / path).exists():
            return m[0]
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"]({cfg.url}/{kind}/{cfg.rev}/{path}{m[2] or ''})"
    return RELATIVE_LINK.sub(fix, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "book")
    args = ap.parse_args()
    src = ROOT / "build" / "book"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    # config, table of contents, pages, _static/*.css
    shutil.copytree(ROOT / "book", src, dirs_exist_ok=True)
    for page in PAGES:
        if (ROOT / page).is_dir():
            shutil.copytree(ROOT / page, src / page,
                            ignore=shutil.ignore_patterns("*.cfg", ".ipynb_checkpoints"))
        else:
            shutil.copy(ROOT / page, src / page)
    # the figure pack page
    subprocess.run([sys.executable, str(ROOT / ".ci" / "figures.py"), "--require-tags", "--out",
                    str(src / "docs" / "figures"), "--site-root", str(src)], check=True)
    # links to the static pages point at their copies beside the book; README's badges are links
    # (images from Colab's and Binder's sites would not load offline)
    # and links to files the book does not hold go to them on GitHub, at the release
    cfg = Config(ROOT)
    (src / "_config.yml").write_text(re.sub(r"(?m)^  branch: .*$", f"  branch: {cfg.rev}",
                                            (src / "_config.yml").read_text()))
    for page in [src / "README.md", *src.glob("*/*.md"), *src.glob("notebooks/*.ipynb")]:
        text = static_links(page.read_text(encoding="utf-8"), "" if page.parent == src else "../")
        if page.suffix == ".md":
            text = repo_links(BADGE_IMAGE.sub(r"[\1](\2)", text), page, src, cfg)
        page.write_text(text, encoding="utf-8")
    # the playground widgets as the static playground
    for nb in (src / "notebooks").glob("*.ipynb"):
        data = without_widgets(json.loads(nb.read_text(encoding="utf-8")), "../")
        nb.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    # MathJax lives beside the pages, not in _static (Jupyter Book would load every .js file there
    # on every page)
    mathjax = ROOT / "build" / "vendor" / "book-mathjax"
    if not npm_package(MATHJAX3, mathjax, MATHJAX3_KEEP):
        print("the book's maths will need a network (MathJax from a CDN)")
        (src / "_config.yml").write_text((src / "_config.yml").read_text()
                                         .replace("mathjax_path:", "#mathjax_path:"))
    start = time.perf_counter()
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(src), "--path-output",
                    str(args.out.parent / "book-build"), "--quiet"],
                   check=True)
    html = args.out.parent / "book-build" / "_build" / "html"
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(html, args.out)
    for page in ("playground", "characters"):  # the static pages
        shutil.copytree(ROOT / "web" / page, args.out / page)
    if mathjax.exists():
        shutil.copytree(mathjax, args.out / "mathjax")
    missing = [p for p in ("index.html", "notebooks/02_maml.html", "solutions/02_maml.html",
                           "docs/lecture_guide.html", "docs/figures/index.html", "playground.html",
                           "playground/index.html", "characters/index.html")
               if not (args.out / p).exists()]
    if missing:
        sys.exit(f"the book is missing pages: {missing}")
    print(f"book built in {time.perf_counter() - start:.0f} s: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
