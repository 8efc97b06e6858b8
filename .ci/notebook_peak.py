"""pytest plugin: per notebook (nbval), wall time and the kernel's peak resident memory (VmHWM).

    NOTEBOOK_PEAK_JSON=out.json [NOTEBOOK_PEAK_MAX_MB=1024] \
        pytest --nbval -p notebook_peak notebooks/

writes [{"notebook", "seconds", "peak_mb"}] to out.json, prints the table, and with
NOTEBOOK_PEAK_MAX_MB fails the run if a kernel peaked at or above it (Binder guarantees 1 GB), or if
a notebook has no reading. Used by `make test` (.ci/test) and the Binder emulation
(.ci/services-check), so each checks memory in the run that executes the course.
"""
import json
import os
import time
from pathlib import Path

import pytest

_stats = {}


def _children_hwm_kb():
    me, peak = str(os.getpid()), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
            peak = max(peak, int(fields["VmHWM"].split()[0]))
    return peak


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    yield
    s = _stats.setdefault(Path(str(item.fspath)).name, {"seconds": 0.0, "peak_kb": 0})
    s["seconds"] += time.perf_counter() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # Before the teardown that, after a notebook's last cell, shuts its kernel down.
    s = _stats.setdefault(Path(str(item.fspath)).name, {"seconds": 0.0, "peak_kb": 0})
    s["peak_kb"] = max(s["peak_kb"], _children_hwm_kb())
    yield


def pytest_sessionfinish(session):
    rows = [{"notebook": k, "seconds": round(v["seconds"], 1),
             "peak_mb": round(v["peak_kb"] / 1024, 1)}
            for k, v in sorted(_stats.items())]
    Path(os.environ["NOTEBOOK_PEAK_JSON"]).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\n{'notebook':<44} {'seconds':>7} {'peak MB':>8}")
    for r in rows:
        print(f"{r['notebook']:<44} {r['seconds']:>7.1f} {r['peak_mb']:>8.0f}")
    limit = float(os.environ.get("NOTEBOOK_PEAK_MAX_MB", "inf"))
    over = [r for r in rows if not 0 < r["peak_mb"] < limit]
    if over:
        print(f"kernel peak memory at or above {limit:.0f} MB, or not measured: {over}")
        session.exitstatus = 1
