"""The repository address and pinned revision live in pyproject.toml only.

Every notebook's Colab install line, every repository link in the notebooks and README's badge block
must match it (fix: `python .ci/set_repo.py`). Binder's pins must match requirements.txt.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("set_repo", ROOT / ".ci" / "set_repo.py")
set_repo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(set_repo)

CFG = set_repo.Config(ROOT)
NOTEBOOKS = CFG.notebooks()
FIX = "run `python .ci/set_repo.py`"


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_pyproject_names_a_github_repository_and_a_version_tag():
    assert CFG.url == f"https://github.com/{CFG.slug}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+\S*", CFG.rev)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_colab_install_line_matches_pyproject(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    lines = set_repo.install_lines(nb)
    assert len(lines) == 1, (f"{path.name}: expected exactly one maml_lite %pip install line, "
                             f"found {lines}")
    cell_index, line = lines[0]
    assert cell_index == 0, f"{path.name}: the maml_lite install must be in the first code cell"
    assert line.strip() == f'%pip install -q "{CFG.pip_spec}"', (
        f"{path.name}: {line.strip()!r}; {FIX}")
    # Colab keeps its own torch: nothing names torch on the install line (maml_lite asks
    # for torch>=2.0).
    assert "torch" not in line
    setup = _source(next(c for c in nb["cells"] if c["cell_type"] == "code"))
    assert 'if "google.colab" in sys.modules:' in setup, (
        f"{path.name}: the install must sit in the Colab branch")
    branch = setup.split('if "google.colab" in sys.modules:', 1)[1]
    assert "%pip install" in branch and line in branch


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_title_cell_has_its_colab_and_binder_badges(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    title = _source(next(c for c in nb["cells"] if c["cell_type"] == "markdown"))
    badges = set_repo.notebook_badges(CFG, path.relative_to(ROOT).as_posix())
    assert badges in title.splitlines(), f"{path.name}: title cell lacks its badge line; {FIX}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_title_cell_badges_render_as_images(path):
    """Rendered as Markdown (CommonMark, as JupyterLab, Colab and GitHub do), the badges are linked
    images, not text.

    A line that starts with `<!--` opens a raw HTML block, so badges on such a line showed as
    raw Markdown."""
    from markdown_it import MarkdownIt

    nb = json.loads(path.read_text(encoding="utf-8"))
    html = MarkdownIt("commonmark").render(_source(next(c for c in nb["cells"]
                                                        if c["cell_type"] == "markdown")))
    rel = path.relative_to(ROOT).as_posix()
    for badge, url in ((set_repo.COLAB_BADGE, CFG.colab_url(rel)),
                       (set_repo.BINDER_BADGE, CFG.binder_url(rel))):
        assert re.search(rf'<a href="{re.escape(url)}"><img src="{re.escape(badge)}"',
                         html.replace("&amp;", "&")), (
            f"{path.name}: the title cell does not render its {badge.split('/')[2]} badge as a "
            f"linked image; {FIX}")
    assert "[![" not in html, f"{path.name}: badge Markdown shows as text; {FIX}"


def test_stamping_moves_old_badge_lines_to_the_rendering_form():
    old = f"{set_repo.START}[![Open In Colab](x)](y) [![Binder](z)](w){set_repo.END}"
    placeholder = set_repo.NB_MARK
    new = set_repo.notebook_badges(CFG, "notebooks/01_fine_tuning.ipynb")
    for line in (old, placeholder, new):
        assert set_repo.NB_BADGES.fullmatch(line), line
    assert not new.startswith("<"), "a badge line must not start with an HTML comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_links_match_pyproject(path):
    text = path.read_text(encoding="utf-8")
    assert set_repo.stale_links(text, CFG) == [], (f"{path.name}: links to another "
                                                   f"address/revision; {FIX}")
    assert set_repo.stamp_text(text, CFG) == text, f"{path.name}: {FIX}"


def test_readme_badges_match_pyproject():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("no README.md yet")
    text = readme.read_text(encoding="utf-8")
    assert set_repo.START in text and set_repo.END in text, (
        f"README.md needs the badge markers; {FIX}")
    assert set_repo.badge_block(CFG) in text, f"README.md badge block is out of date; {FIX}"
    assert set_repo.stale_links(text, CFG) == [], ("README.md links to another address/revision; "
                                                   f"{FIX}")


def test_set_repo_check_finds_nothing_to_stamp(capsys):
    assert set_repo.run(CFG, check=True) == 0, capsys.readouterr()


def test_binder_links_open_a_notebook_that_exists():
    for nb in NOTEBOOKS:
        url = CFG.binder_url(nb.relative_to(ROOT).as_posix())
        assert (ROOT / url.split("urlpath=lab/tree/", 1)[1]).is_file()


def _pins(path):
    """{name: version} of a requirements file; for a package pinned per platform, the Linux
    pin (binder's)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        line, _, marker = line.partition(";")
        if line and not line.startswith("-") and ("linux" in marker or "!=" not in marker):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_binder_requirements_are_cpu_torch_and_the_same_pins():
    binder = ROOT / "binder" / "requirements.txt"
    text = binder.read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    ours, base = _pins(binder), _pins(ROOT / "requirements.txt")
    assert ours.get("torch") == base["torch"].split("+")[0] + "+cpu"
    for name, version in ours.items():
        if name != "torch":
            assert base.get(name) == version, (
                f"binder/requirements.txt: {name}=={version}, requirements.txt: {base.get(name)}"
            )
    for needed in ("numpy", "matplotlib", "ipywidgets", "anywidget", "tqdm"):
        assert needed in ours, f"binder/requirements.txt lacks {needed}"
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps" in post and "-e ." in post


@pytest.mark.slow
def test_the_readme_example_runs():
    """The package section's example is code a reader will paste: it must run as printed."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    torch.set_num_threads(1)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
