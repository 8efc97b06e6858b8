"""The install files fit the machine: on Linux PyTorch's CPU build from its CPU index, elsewhere the
standard wheel.

A plain `torch==X` from PyPI on Linux is the CUDA build plus about 17 nvidia-* packages (several GB)
that a CPU laptop never uses; macOS and Windows wheels are CPU-only (or Apple's MPS) anyway.
requirements.txt (`make lab`, `make test`) and binder/requirements.txt (Binder) both name the CPU
index; maml_lite's own requirement (pyproject.toml) stays a loose range, so Colab and Binder keep
the torch they have. What pip resolved for a Linux and a macOS user, and the commands, are in the
notes of issue 23.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
PLATFORMS = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}


def requirements(path: Path) -> tuple[list[str], list[Requirement]]:
    """(option lines, requirements) of a requirements file, comments dropped."""
    options, reqs = [], []
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        (options if line.startswith("-") else reqs).append(line if line.startswith("-")
                                                           else Requirement(line))
    return options, reqs


def torch_for(reqs: list[Requirement], platform: str) -> list[Requirement]:
    """The torch requirements pip applies on `platform` (sys.platform's value),
    markers evaluated."""
    env = {**default_environment(), "sys_platform": platform,
           "platform_system": PLATFORMS[platform]}
    return [r for r in reqs if r.name == "torch" and (r.marker is None or r.marker.evaluate(env))]


@pytest.fixture(scope="module")
def root_requirements():
    return requirements(ROOT / "requirements.txt")


def test_requirements_name_pytorchs_cpu_index(root_requirements):
    options, _ = root_requirements
    assert CPU_INDEX in options, ("requirements.txt must name PyTorch's CPU index (Linux gets the "
                                  "CPU-only torch)")


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_exactly_one_torch_pin_applies_on_each_platform(root_requirements, platform):
    _, reqs = root_requirements
    pins = torch_for(reqs, platform)
    assert len(pins) == 1, (f"{platform}: {len(pins)} torch requirements apply "
                            f"({[str(p) for p in pins]}); need one")
    (spec,) = pins[0].specifier
    assert spec.operator == "==", f"torch is pinned in requirements.txt, got {pins[0]}"
    version = Version(spec.version)
    if platform == "linux":
        assert version.local == "cpu", f"Linux must get the CPU build (torch==X+cpu), got {pins[0]}"
    else:
        assert version.local is None, (f"{platform} has no +cpu wheel on PyPI; pin plain torch==X, "
                                       f"got {pins[0]}")


def test_every_platform_gets_the_same_torch_release(root_requirements):
    _, reqs = root_requirements
    releases = {Version(next(iter(torch_for(reqs, p)[0].specifier)).version).public
                for p in PLATFORMS}
    assert len(releases) == 1, f"torch releases differ by platform: {releases}"


def test_binder_pins_the_same_cpu_torch(root_requirements):
    options, reqs = requirements(ROOT / "binder" / "requirements.txt")
    assert CPU_INDEX in options
    (binder_torch,) = [r for r in reqs if r.name == "torch"]
    assert str(binder_torch.specifier) == str(torch_for(root_requirements[1], "linux")[0].specifier)


def test_everything_else_is_pinned_once(root_requirements):
    _, reqs = root_requirements
    others = [r for r in reqs if r.name != "torch"]
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "=="
               for r in others), others
    names = [r.name.lower() for r in others]
    assert len(names) == len(set(names)), "a package is pinned twice"


def test_the_package_itself_keeps_a_loose_torch_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (torch_req,) = [Requirement(d) for d in project["dependencies"]
                    if Requirement(d).name == "torch"]
    assert all(s.operator in (">=", ">", "<", "<=", "!=") for s in torch_req.specifier), (
        f"pyproject.toml pins torch ({torch_req}): Colab and Binder must keep the torch they have")
    assert "+cpu" not in str(torch_req)


def test_the_installed_torch_satisfies_requirements(root_requirements):
    """This machine's torch (here: the local CPU wheel pip's configuration serves) is the one the
    file asks for."""
    _, reqs = root_requirements
    (pin,) = torch_for(reqs, sys.platform if sys.platform in PLATFORMS else "linux")
    installed = importlib.metadata.version("torch")
    assert pin.specifier.contains(installed, prereleases=True), (
        f"installed torch {installed}, requirements {pin}")
    cuda = [d.metadata["Name"] for d in importlib.metadata.distributions()
            if re.match(r"nvidia-|triton$", d.metadata["Name"] or "", re.I)]
    assert not cuda, f"CUDA packages installed beside a CPU torch: {cuda}"


def test_setup_does_not_stall_where_the_cpu_index_is_unreachable():
    setup = (ROOT / ".ci" / "setup").read_text()
    assert "download.pytorch.org" in setup and "--retries 0" in setup


def test_make_lab_opens_working_copies_and_leaves_the_tracked_notebooks_alone(tmp_path):
    """`make lab` (.ci/lab) on a copy of the repository, with the install and JupyterLab
    stubbed out."""
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "lab", repo / ".ci" / "lab")
    # the install is tested by using it
    (repo / ".ci" / "setup").write_text("#!/usr/bin/env bash\n")
    shutil.copytree(ROOT / "notebooks", repo / "notebooks")
    # as in a clone: .venv/ is ignored, my-notebooks/ is not
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    jupyter = repo / ".venv" / "bin" / "jupyter"
    jupyter.parent.mkdir(parents=True)
    jupyter.write_text('#!/usr/bin/env bash\necho "jupyter $*" > "$(dirname '
                       '"$0")/../../jupyter-args"\n')
    jupyter.chmod(0o755)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "a clone"], check=True)

    first = subprocess.run(["bash", ".ci/lab"], cwd=repo, capture_output=True, text=True,
                           check=True).stdout
    notebooks = sorted(p.name for p in (repo / "notebooks").glob("[0-9]*.ipynb"))
    assert sorted(p.name for p in (repo / "my-notebooks").glob("*.ipynb")) == notebooks
    assert "my-notebooks/" in first and f"{len(notebooks)} copied" in first, first
    assert "my-notebooks/01_fine_tuning.ipynb" in (repo / "jupyter-args").read_text()

    mine = repo / "my-notebooks" / notebooks[0]
    mine.write_text(mine.read_text() + " ")  # a student's edit
    second = subprocess.run(["bash", ".ci/lab"], cwd=repo, capture_output=True, text=True,
                            check=True).stdout
    assert mine.read_text().endswith(" ") and "0 copied" in second, (
        "make lab overwrote a working copy")
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=all"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    # nothing tracked changed or added
    assert [s for s in status if not s.endswith("jupyter-args")] == [], status
