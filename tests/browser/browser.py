"""What the browser tests (and benchmarks) share: Debian's Chromium, a local server started and
stopped, a folder as a static site, JupyterLab's Run All."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# True once every code cell shows an execution count ([n]), or an error output appeared.
ALL_CELLS_RAN_JS = ("(() => { const p = [...document.querySelectorAll("
                    "'.jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)')]"
                    ".map(e => e.textContent.trim()); "
                    "return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)) || "
                    "document.querySelector(\"[data-mime-type='application/vnd.jupyter.stderr']\") "
                    "!== null; })()")


def require_browser(*modules: str):
    """Skip the calling test module unless Debian's Chromium, playwright and `modules` (e.g.
    "voila") are installed; returns playwright.sync_api."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: `apt-get install -y chromium` to run the browser test",
                    allow_module_level=True)
    api = pytest.importorskip("playwright.sync_api",
                              reason="playwright is not installed: `pip install playwright`")
    for name in modules:
        pytest.importorskip(name, reason=f"{name} is not installed: `pip install {name}`")
    return api


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the output
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """`folder` served by Python's http.server on a free local port, as any static host would serve
    it, while the with-block runs: yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


def page_size(folder: Path) -> str:
    """A static page's files, raw and gzipped KB (for the benchmarks' printouts)."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
    parts = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f}" for p in files)
    return f"page: {raw / 1024:.0f} KB raw, {packed / 1024:.0f} KB gzipped ({parts} KB)"


def median_p90(values: list[float], unit: float = 1.0) -> str:
    """Median and 90th percentile of `values` / unit (for the benchmarks' printouts)."""
    values = sorted(v / unit for v in values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"median {statistics.median(values):6.1f}  p90 {p90:6.1f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_command(port: int, token: str, root: Path) -> list[str]:
    """JupyterLab on 127.0.0.1:port serving root, with a token; --allow-root when run as root."""
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.open_browser=False",
           f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"]
    return cmd + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])


@contextmanager
def server(cmd: list[str], ready_url: str, log_path: Path, env: dict | None = None,
           cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """Start `cmd`, wait (90 s at most) until `ready_url` answers, yield the process, and stop
    it afterwards."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers, if only with an error status
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(cmd[:4])} did not start; "
                                f"log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def open_and_run_all(page, url: str, timeout_errors) -> None:
    """Open a notebook in JupyterLab, take the default kernel, run all cells, and wait until the
    kernel is idle."""
    page.goto(url)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90000)
    try:  # JupyterLab may ask which kernel to start: take the default (the notebook's own, python3)
        page.locator(".jp-Dialog .jp-mod-accept").first.click(timeout=10000)
    except timeout_errors:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    page.wait_for_function(ALL_CELLS_RAN_JS, timeout=240000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60000)


def offline_page(context, base: str, viewport: dict | None = None):
    """A page whose requests that leave `base` are refused, as with no network: (page, outside,
    errors), the lists filling with the refused URLs and the page's uncaught errors."""
    page = context.new_page(**({"viewport": viewport} if viewport else {}))
    outside, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith(base):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    return page, outside, errors
