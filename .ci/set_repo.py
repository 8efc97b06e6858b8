#!/usr/bin/env python3
"""Stamp the repository address and pinned revision from pyproject.toml into notebooks and README.

One place: `[project.urls] Repository` (a https://github.com/OWNER/REPO address) and the pinned
revision, the git tag "v" + `[project] version`. This script rewrites, from those two facts:

* every notebook's Colab install line
  (`%pip install -q "maml_lite @ git+https://github.com/O/R@REV"`), its title cell's Colab + Binder
  badges (a `<!-- badges -->` placeholder, or the line stamped earlier; the badges first, then the
  marker, so Markdown shows them as images) and any other Colab / Binder / GitHub link to this
  repository in its markdown;
* README.md's badge block between `<!-- badges:start -->` and `<!-- badges:end -->`.

Only those source lines change (the raw JSON text is edited in place, so outputs, metadata and
formatting stay byte-identical); notebooks are never re-executed: the Colab branch does not run
outside Colab, so committed outputs stay valid.

Usage:
    python .ci/set_repo.py            # stamp in place
    python .ci/set_repo.py --check    # exit 1 and list what is out of date (changes nothing)
    python .ci/set_repo.py --badges   # print the README badge block
    python .ci/set_repo.py notebooks/01_fine_tuning.ipynb   # only the files named
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- badges:start -->", "<!-- badges:end -->"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"

# Links to *some* GitHub repository and revision, whatever the address currently stamped is.
_SEG = r"[A-Za-z0-9_.-]+"
_REV = r"[A-Za-z0-9_.\-/]+?"
PATTERNS = {
    # "maml_lite @ git+https://github.com/O/R@REV" (optionally O/R.git)
    "pip": re.compile(r"(maml_lite @ git\+https://github\.com/)"
                      rf"({_SEG}/{_SEG}?)(?:\.git)?@([A-Za-z0-9_.\-/]+)"),
    "colab": re.compile(rf"(https://colab\.research\.google\.com/github/)({_SEG}/{_SEG})"
                        rf"/blob/({_REV})/notebooks/"),
    "binder": re.compile(rf"(https://mybinder\.org/v2/gh/)({_SEG}/{_SEG})/({_REV})"
                         rf"(?=[?)\s\"\\]|$)"),
    "github": re.compile(rf"(https://github\.com/)({_SEG}/{_SEG})/(?:blob|tree)/({_REV})/"),
}


class Config:
    def __init__(self, root: Path = ROOT):
        data = tomllib.loads((root / "pyproject.toml").read_text())
        project = data["project"]
        url = project.get("urls", {}).get("Repository")
        if not url:
            raise SystemExit("pyproject.toml: [project.urls] Repository is missing")
        m = re.fullmatch(rf"https://github\.com/({_SEG})/({_SEG}?)(?:\.git)?/?", url)
        if not m:
            raise SystemExit("pyproject.toml: Repository must be https://github.com/OWNER/REPO, "
                             f"got {url!r}")
        self.root = root
        self.url = url.rstrip("/").removesuffix(".git")
        self.slug = f"{m.group(1)}/{m.group(2)}"
        self.version = project["version"]
        self.rev = f"v{self.version}"

    @property
    def pip_spec(self) -> str:
        return f"maml_lite @ git+https://github.com/{self.slug}@{self.rev}"

    def colab_url(self, nb_path: str) -> str:
        return f"https://colab.research.google.com/github/{self.slug}/blob/{self.rev}/{nb_path}"

    def binder_url(self, nb_path: str | None = None) -> str:
        url = f"https://mybinder.org/v2/gh/{self.slug}/{self.rev}"
        return url + (f"?urlpath=lab/tree/{nb_path}" if nb_path else "")

    def notebooks(self) -> list[Path]:
        return sorted((self.root / "notebooks").glob("[0-9]*.ipynb"))


def stamp_text(text: str, cfg: Config) -> str:
    """Rewrite every repository link in `text` (raw notebook JSON or markdown) to cfg's
    address/revision."""
    text = PATTERNS["pip"].sub(lambda m: f"{m.group(1)}{cfg.slug}@{cfg.rev}", text)
    text = PATTERNS["colab"].sub(lambda m: f"{m.group(1)}{cfg.slug}/blob/{cfg.rev}/notebooks/",
                                 text)
    text = PATTERNS["binder"].sub(lambda m: f"{m.group(1)}{cfg.slug}/{cfg.rev}", text)
    text = PATTERNS["github"].sub(
        lambda m: m.group(0) if m.group(2) != cfg.slug
        else m.string[m.start() : m.start(3)] + cfg.rev + "/",
        text,
    )
    return text


def stale_links(text: str, cfg: Config) -> list[str]:
    """Links in `text` that point at another address or revision than cfg's."""
    bad = []
    for kind, pat in PATTERNS.items():
        for m in pat.finditer(text):
            if kind == "github" and m.group(2) != cfg.slug:
                continue  # links to other GitHub projects (papers' code, ...) are fine
            if (m.group(2), m.group(3)) != (cfg.slug, cfg.rev):
                bad.append(m.group(0))
    return bad


def install_lines(nb: dict) -> list[tuple[int, str]]:
    """(code-cell index, line) of every `%pip install` line that installs maml_lite."""
    found = []
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code_cells):
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for line in src.splitlines():
            if "pip install" in line and "maml_lite" in line:
                found.append((i, line))
    return found


def notebook_title(path: Path) -> str:
    """The notebook's `# Title` (first markdown heading), else its file name."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip().replace("|", "\\|")
            break
    return path.stem


def badge_block(cfg: Config) -> str:
    """README's block: Binder for the collection (opens the first notebook), Colab + Binder
    per notebook."""
    paths = cfg.notebooks()
    nbs = [p.relative_to(cfg.root).as_posix() for p in paths]
    lines = [START,
             "<!-- generated by .ci/set_repo.py from pyproject.toml: edit there, then rerun it -->"]
    lines.append(f"[![Binder]({BINDER_BADGE})]({cfg.binder_url(nbs[0] if nbs else None)})")
    if nbs:
        lines += ["", "| Notebook | Colab | Binder |", "| --- | --- | --- |"]
        for path, nb in zip(paths, nbs, strict=True):
            lines.append(
                f"| [{notebook_title(path)}]({nb}) "
                f"| [![Open In Colab]({COLAB_BADGE})]({cfg.colab_url(nb)}) "
                f"| [![Binder]({BINDER_BADGE})]({cfg.binder_url(nb)}) |"
            )
    lines.append(END)
    return "\n".join(lines)


NB_MARK = "<!-- badges -->"
# A title cell's badge line as stamped now (the badges, then the marker), a bare placeholder, or the
# line stamped by earlier versions (markers around the badges: a line that starts with `<!--` is an
# HTML block in Markdown, so the badges showed as raw text). All within one line of the raw notebook
# JSON (no quote, newline or backslash).
NB_BADGES = re.compile(r"(?:\[!\[Open In Colab\][^\"\n\\]*?)?<!-- badges -->"
                       r"|<!-- badges:start -->[^\"\n\\]*?<!-- badges:end -->")


def notebook_badges(cfg: Config, nb_path: str) -> str:
    """One line for the notebook's title cell (replaces a `<!-- badges -->` placeholder).

    It starts with the badges, so Markdown renders them as images (a line that starts with an HTML
    comment would be a raw HTML block); the marker after them, an inline comment no renderer shows,
    lets this script find the line again.
    """
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({cfg.colab_url(nb_path)}) "
        f"[![Binder]({BINDER_BADGE})]({cfg.binder_url(nb_path)}) {NB_MARK}"
    )


def stamp_readme(text: str, cfg: Config) -> str | None:
    """README text with a fresh badge block, or None when it has no markers."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        return None
    return text[:i] + badge_block(cfg) + text[j + len(END) :]


def run(cfg: Config, check: bool, only: list[Path] | None = None) -> int:
    """Stamp (or, with check, only report) every notebook and README, or just the files
    in `only`."""
    problems, changed = [], []
    only = None if only is None else {p.resolve() for p in only}
    for path in cfg.notebooks():
        if only is not None and path.resolve() not in only:
            continue
        rel = path.relative_to(cfg.root)
        raw = path.read_text(encoding="utf-8")
        new = stamp_text(raw, cfg)
        badges = NB_BADGES.findall(new)
        if len(badges) != 1:
            problems.append(f"{rel}: expected one `<!-- badges -->` placeholder in the title cell, "
                            f"found {len(badges)}")
        else:
            new = NB_BADGES.sub(notebook_badges(cfg, rel.as_posix()), new)
        nb = json.loads(new)
        lines = install_lines(nb)
        if len(lines) != 1 or lines[0][0] != 0:
            problems.append(f"{rel}: expected one maml_lite %pip install line, in the first code "
                            f"cell; found {lines}")
        elif f'"{cfg.pip_spec}"' not in lines[0][1]:
            problems.append(f"{rel}: install line not in the expected form: {lines[0][1].strip()}")
        if new != raw:
            changed.append(str(rel))
            if not check:
                path.write_text(new, encoding="utf-8")
    readme = cfg.root / "README.md"
    if readme.exists() and (only is None or readme.resolve() in only):
        text = readme.read_text(encoding="utf-8")
        new = stamp_readme(text, cfg)
        if new is None:
            problems.append(f"README.md: no {START} ... {END} markers")
        else:
            new = stamp_text(new, cfg)  # links outside the block too
            if new != text:
                changed.append("README.md")
                if not check:
                    readme.write_text(new, encoding="utf-8")
    verb = "out of date" if check else "stamped"
    for c in changed:
        print(f"{verb}: {c}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    if check and changed:
        print(f"run `python .ci/set_repo.py` to stamp {cfg.url} @ {cfg.rev}", file=sys.stderr)
    return 1 if problems or (check and changed) else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if anything is out of date")
    ap.add_argument("--badges", action="store_true", help="print the README badge block and exit")
    ap.add_argument("files", nargs="*", type=Path,
                    help="only these notebooks / README.md (default: all)")
    args = ap.parse_args(argv)
    cfg = Config()
    if args.badges:
        print(badge_block(cfg))
        return 0
    return run(cfg, args.check, args.files or None)


if __name__ == "__main__":
    sys.exit(main())
