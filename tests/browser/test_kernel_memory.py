"""A Binder-like session in a real browser: the whole course, one notebook after another, stays under 2 GB.

mybinder.org caps a session at about 2 GB, and the six notebooks' kernels peak at about 2.7 GB together, so a
session dies part-way if every kernel stays alive (JupyterLab's default when a tab closes). binder/overrides.json
makes JupyterLab shut a notebook's kernel down when its tab closes; .ci/setup installs it into .venv as postBuild
does on Binder. This test opens each notebook in JupyterLab (headless Debian Chromium), runs it, closes its tab,
and samples the memory of every running kernel throughout: at most one kernel may be alive after each close, and
the kernels' total memory must stay under 2 GB. It prints the peak. Screenshots of failures go to artifacts/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, free_port, lab_command, open_and_run_all, server

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
ARTIFACTS = ROOT / "artifacts"
LIMIT_MB = 2048
OVERRIDES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: `apt-get install -y chromium`", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
psutil = pytest.importorskip("psutil", reason="psutil is not installed")


def kernels_mb(server_pid: int) -> tuple[int, float]:
    """(number of live kernel processes under the server, their total resident memory in MB)."""
    count, total = 0, 0
    for p in psutil.Process(server_pid).children(recursive=True):
        try:  # a kernel shutting down can vanish or linger as a zombie between the listing and these calls
            if "ipykernel" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                total += p.memory_info().rss
                count += 1
        except psutil.Error:
            pass
    return count, total / 2**20


def test_the_whole_course_stays_under_two_gigabytes(tmp_path):
    assert OVERRIDES.exists() and json.loads(OVERRIDES.read_text())[
        "@jupyterlab/notebook-extension:tracker"]["kernelShutdown"] is True, "run .ci/setup: it installs overrides.json"
    work = tmp_path / "work"
    shutil.copytree(ROOT / "notebooks", work, ignore=shutil.ignore_patterns("*.cfg"))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    base = f"http://127.0.0.1:{port}"
    samples: list[tuple[int, float]] = []
    alive_after_close: list[tuple[str, int]] = []
    stop = threading.Event()
    ARTIFACTS.mkdir(exist_ok=True)
    ready = f"{base}/api/status?token={token}"
    with server(lab_command(port, token, work), ready, tmp_path / "lab.log", env=env) as lab:

        def sample() -> None:
            while not stop.is_set():
                samples.append(kernels_mb(lab.pid))
                stop.wait(0.5)

        threading.Thread(target=sample, daemon=True).start()
        try:
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                for nb in NOTEBOOKS:
                    try:
                        open_and_run_all(page, f"{base}/lab/tree/{nb.name}?reset&token={token}", sync_api.TimeoutError)
                    except sync_api.TimeoutError:
                        page.screenshot(path=str(ARTIFACTS / f"kernel_memory_{nb.stem}.png"), full_page=True)
                        raise
                    # File > Close Tab: with kernelShutdown, the kernel goes with the tab
                    page.locator(".lm-MenuBar-item", has_text="File").first.click()
                    page.locator(".lm-Menu-item[data-command='application:close']").click()
                    try:
                        page.locator(".jp-Dialog .jp-mod-accept").first.click(timeout=3000)  # "shut down the kernel?"
                    except sync_api.TimeoutError:
                        pass
                    deadline = time.monotonic() + 30
                    while kernels_mb(lab.pid)[0] > 0 and time.monotonic() < deadline:
                        time.sleep(0.5)
                    alive_after_close.append((nb.name, kernels_mb(lab.pid)[0]))
                browser.close()
        finally:
            stop.set()
    peak_n, peak_mb = max(samples, key=lambda s: s[1]) if samples else (0, 0.0)
    print(f"\npeak memory of the running kernels over the whole course: {peak_mb:.0f} MB ({peak_n} kernel(s) alive); "
          f"kernels alive after each tab closed: {alive_after_close}")
    assert all(n == 0 for _, n in alive_after_close), f"kernels outlived their tabs: {alive_after_close}"
    assert peak_mb < LIMIT_MB, f"the kernels held {peak_mb:.0f} MB at once"
