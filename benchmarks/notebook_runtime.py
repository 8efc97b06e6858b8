#!/usr/bin/env python3
"""Run time and peak kernel memory of each notebook, executed top to bottom as a reader would.

Each notebook runs in a fresh kernel (nbclient, in the notebook's folder, with the Python that runs
this script); a last cell is appended that reads the kernel's own peak resident memory (VmHWM from
/proc/self/status, or ru_maxrss). Nothing is written back to the notebooks.

Goal: each notebook <= 700 MB peak (Binder guarantees 1 GB; --max-mb fails above that) and <= 90 s
on a 2-core CPU.

Usage:
    .venv/bin/python benchmarks/notebook_runtime.py [notebooks/NN_name.ipynb ...]
        [--max-mb 1024] [--goal-mb 700] [--goal-s 90] [--timeout 600] [--json out.json]
Without arguments it runs every notebooks/[0-9]*.ipynb (the lessons 01, 02, ...), in name order.
Exit status 1 if a notebook fails to execute or its kernel peaks at or above --max-mb.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient

POLL_SLICE_S = 1.0

MARK = "__NOTEBOOK_RUNTIME_PEAK__"
PEAK_CELL = f"""\
import json as _json, resource as _resource
_kb = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as _f:
        _kb = max(_kb, *(int(_l.split()[1]) for _l in _f if _l.startswith("VmHWM:")))
except OSError:
    pass
_children_kb = _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss
print("{MARK}" + _json.dumps({{"kernel_kb": _kb, "children_kb": _children_kb}}))
"""


class SlicedPollClient(NotebookClient):
    """NotebookClient whose kernel channels wait for a message in slices of POLL_SLICE_S seconds.

    With Colab's ipykernel 6.17 / ipywidgets 7.7.1 (the Colab emulation in .ci/services-check),
    about one run of notebook 02 in three had the execute_reply of its `widgets.interact` cell sit
    unread until the cell timeout ran out, and then finished normally: the asyncio zmq poll missed
    the socket's wake-up (zmq's notification fd is edge-triggered). Re-polling every second bounds
    such a miss to one second; the notebook and its outputs are unchanged.
    """

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = _sliced(channel.get_msg)
        return kc


def _sliced(get_msg):
    async def get_msg_sliced(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = (POLL_SLICE_S if deadline is None
                    else max(0.0, min(POLL_SLICE_S, deadline - time.monotonic())))
            try:
                return await get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_sliced


def measure(path: Path, timeout: int = 600, kernel_name: str = "python3",
            save: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel; return seconds, peak MB and the error, if any. save:
    also write the executed notebook there (without the appended memory cell)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = SlicedPollClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    # CellExecutionError, timeouts, dead kernels: report, don't crash the table
    except Exception as exc:
        error = (f"{type(exc).__name__}: "
                 f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
    seconds = time.perf_counter() - start
    peak = None
    for output in nb.cells[-1].get("outputs", []):
        text = output.get("text", "")
        if MARK in text:
            peak = json.loads(text.split(MARK, 1)[1].splitlines()[0])
    if save is not None:
        nb.cells.pop()
        nbformat.write(nb, save)
    return {
        "notebook": path.name,
        "seconds": round(seconds, 1),
        "peak_mb": round(peak["kernel_kb"] / 1024, 1) if peak else None,
        "children_peak_mb": round(peak["children_kb"] / 1024, 1) if peak else None,
        "error": error,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--max-mb", type=float, default=1024.0,
                    help="fail at or above this peak (default: 1 GB)")
    ap.add_argument("--goal-mb", type=float, default=700.0, help="flag notebooks above this peak")
    ap.add_argument("--goal-s", type=float, default=90.0, help="flag notebooks slower than this")
    ap.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    ap.add_argument("--kernel", default="python3")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--save-dir", type=Path,
                    help="also write each executed notebook into this folder")
    args = ap.parse_args(argv)

    paths = (args.notebooks
             or sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb")))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 2
    print(f"python: {sys.executable}", flush=True)
    results = []
    for path in paths:
        save = args.save_dir / path.name if args.save_dir else None
        r = measure(path, timeout=args.timeout, kernel_name=args.kernel, save=save)
        results.append(r)
        print(
            f"  {r['notebook']}: {r['seconds']} s, {r['peak_mb']} MB"
            + (f"  ERROR {r['error']}" if r["error"] else ""),
            flush=True,
        )

    width = max(len(r["notebook"]) for r in results)
    print(f"\n{'notebook':<{width}}  {'seconds':>7}  {'peak MB':>7}  verdict")
    failed = False
    for r in results:
        notes = []
        if r["error"]:
            notes.append(f"FAILED ({r['error']})")
        if r["peak_mb"] is None:
            notes.append("FAILED (no peak reading)")
        elif r["peak_mb"] >= args.max_mb:
            notes.append(f"FAILED (peak >= {args.max_mb:.0f} MB)")
        elif r["peak_mb"] > args.goal_mb:
            notes.append(f"above the {args.goal_mb:.0f} MB goal")
        if r["seconds"] > args.goal_s:
            notes.append(f"slower than the {args.goal_s:.0f} s goal")
        failed |= any(n.startswith("FAILED") for n in notes)
        peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        print(f"{r['notebook']:<{width}}  {r['seconds']:>7.1f}  {peak:>7}  "
              f"{'; '.join(notes) or 'ok'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
