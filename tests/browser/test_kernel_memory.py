"""A Binder-like session in a real browser: closing a notebook's tab shuts its kernel down, so the
course runs in one kernel at a time.

mybinder.org caps a session at about 2 GB, and the course's kernels together hold more than that, so
a session would die part-way if every kernel stayed alive (JupyterLab's default when a tab closes).
binder/overrides.json makes JupyterLab shut a notebook's kernel down when its tab closes; .ci/setup
installs it into .venv as postBuild does on Binder. This test opens notebooks one after another in
JupyterLab (headless Debian Chromium), runs each, closes its tab and counts the server's kernels:
none may outlive its tab. Each notebook's own kernel peak is measured where the course runs anyway
(nbval's run with .ci/notebook_peak.py in `make test`, and the Binder emulation, each under 1 GB),
so with one kernel at a time the course stays under Binder's 2 GB; the notebooks here are small ones
made for the test, so the course is not executed a further time.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    lab_command,
    open_and_run_all,
    require_browser,
    server,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
OVERRIDES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"

sync_api = require_browser("psutil")
import psutil  # noqa: E402 (require_browser skips the module without it)


def kernels_mb(server_pid: int) -> tuple[int, float]:
    """(number of live kernel processes under the server, their total resident memory in MB)."""
    count, total = 0, 0
    for p in psutil.Process(server_pid).children(recursive=True):
        # a kernel shutting down can vanish or linger as a zombie between the listing and
        # these calls
        try:
            if "ipykernel" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                total += p.memory_info().rss
                count += 1
        except psutil.Error:
            pass
    return count, total / 2**20


def small_notebook(path: Path, size: int) -> None:
    """A notebook that loads the package and evaluates a checkpoint: a kernel of the course's kind,
    in seconds."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import maml_lite as ml\nmodel, method = ml.load_pretrained('maml')\n"
        f"print(ml.evaluate(model, 5, [0, 1], n_tasks={size}, method=method))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def test_closing_a_tab_shuts_its_kernel_down(tmp_path):
    assert OVERRIDES.exists() and json.loads(OVERRIDES.read_text())[
        "@jupyterlab/notebook-extension:tracker"]["kernelShutdown"] is True, (
        "run .ci/setup: it installs overrides.json")
    work = tmp_path / "work"
    work.mkdir()
    names = [f"course_{i}.ipynb" for i in range(3)]
    for i, name in enumerate(names):
        small_notebook(work / name, 50 * (i + 1))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    base = f"http://127.0.0.1:{port}"
    alive_while_open, alive_after_close = [], []
    ARTIFACTS.mkdir(exist_ok=True)
    with server(lab_command(port, token, work), f"{base}/api/status?token={token}",
                tmp_path / "lab.log", env=env) as lab:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                        headless=True)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            for name in names:
                try:
                    open_and_run_all(page, f"{base}/lab/tree/{name}?reset&token={token}",
                                     sync_api.TimeoutError)
                except sync_api.TimeoutError:
                    page.screenshot(path=str(ARTIFACTS / f"kernel_shutdown_{name}.png"),
                                    full_page=True)
                    raise
                alive_while_open.append(kernels_mb(lab.pid)[0])
                page.locator(".lm-MenuBar-item", has_text="File").first.click()  # File > Close Tab
                page.locator(".lm-Menu-item[data-command='application:close']").click()
                try:
                    # "shut down the kernel?"
                    page.locator(".jp-Dialog .jp-mod-accept").first.click(timeout=3000)
                except sync_api.TimeoutError:
                    pass
                deadline = time.monotonic() + 30
                while kernels_mb(lab.pid)[0] > 0 and time.monotonic() < deadline:
                    time.sleep(0.5)
                alive_after_close.append(kernels_mb(lab.pid)[0])
            browser.close()
    print(f"\nkernels alive while each notebook was open: {alive_while_open}; after its tab "
          f"closed: {alive_after_close}")
    assert alive_while_open == [1, 1, 1], alive_while_open  # the test really ran a kernel each time
    assert alive_after_close == [0, 0, 0], f"kernels outlived their tabs: {alive_after_close}"
