"""The environment of a GPU check, as Markdown: versions, devices, and what fails to import.

    python benchmarks/gpu_env.py            # on a GPU machine: cupy is required
    python benchmarks/gpu_env.py --cpu      # a dry run on the CPU: cupy is optional

Step 0 of gpu_check.sh. Every module xpnn, its tests and its benchmarks import is tried; one
that is missing or fails is listed as such (the script does not stop there). The last line
is ``ENV: PASS`` or ``ENV: FAIL (...)``; the exit status is 0 only when every required module
imports and, on a GPU machine, CuPy sees a device and xpnn's cupy backend builds.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import platform
import shutil
import subprocess
import sys
from typing import Any

# (module, who needs it, required?) -- "gpu" means required except with --cpu
MODULES = [
    ("numpy", "xpnn", True),
    ("array_api_compat", "xpnn", True),
    ("tqdm", "xpnn (progress bar)", True),
    ("pytest", "tests", True),
    ("array_api_strict", "tests (the stand-in backends)", True),
    ("hypothesis", "tests (property tests)", True),
    ("matplotlib", "tests, examples (plots)", True),
    ("distributed", "tests (random search on Dask)", True),
    ("cupy", "the cupy backend", "gpu"),
    ("torch", "bench_gpu.py's torch columns, the torch test case", False),
    ("threadpoolctl", "benchmarks (BLAS threads)", False),
]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def probe(name: str) -> tuple[Any, str, str]:
    """(module or None, version, error)"""
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install raising anything
        return None, "", first_line(exc)
    return module, str(getattr(module, "__version__", "?")), ""


def cupy_lines(cupy: Any) -> tuple[list[str], str]:
    """Details of CuPy's CUDA, and an error when it has no usable device."""
    lines = []
    try:
        rt = cupy.cuda.runtime
        lines.append(f"- CUDA runtime {rt.runtimeGetVersion()}, driver {rt.driverGetVersion()}")
        for i in range(rt.getDeviceCount()):
            props = rt.getDeviceProperties(i)
            name = props["name"]
            name = name.decode() if isinstance(name, bytes) else name
            mem = props["totalGlobalMem"] / 2**30
            lines.append(
                f"- device {i}: {name}, {mem:.0f} GiB, compute capability "
                f"{props['major']}.{props['minor']}, {props['multiProcessorCount']} SMs"
            )
    except Exception as exc:
        return lines, f"CuPy cannot use CUDA ({first_line(exc)})"
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            cupy.show_config()
        shown = [line for line in buf.getvalue().splitlines() if line.strip()]
        keep = ("CuPy Version", "CUDA Root", "CUDA Build", "CUDA Driver", "CUDA Runtime")
        keep += ("cuBLAS", "cuRAND", "NVRTC", "CUB", "Device 0 Name", "Device 0 Compute")
        short = [line for line in shown if line.startswith(keep)]
        lines += ["", "`cupy.show_config()` (short):", "", "```text", *short, "```"]
    except Exception as exc:
        lines.append(f"- cupy.show_config() failed: {first_line(exc)}")
    return lines, ""


def torch_lines(torch: Any) -> list[str]:
    try:
        cuda = torch.cuda.is_available()
        line = f"- torch CUDA {torch.version.cuda}, available: {cuda}"
        if cuda:
            line += f", device 0: {torch.cuda.get_device_name(0)}"
        return [line]
    except Exception as exc:
        return [f"- torch CUDA query failed: {first_line(exc)}"]


def nvidia_smi() -> str:
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi: not found"
    query = "index,name,driver_version,memory.total,memory.used,utilization.gpu,temperature.gpu"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        text = (out.stdout or out.stderr).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        text = first_line(exc)
    return f"nvidia-smi ({query}): {text}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="a dry run: CuPy is not required")
    args = ap.parse_args(argv)

    print(f"- Python {platform.python_version()} ({sys.executable}), {platform.platform()}")
    rows, problems, details = [], [], []
    for name, needed_by, required in MODULES:
        required = (not args.cpu) if required == "gpu" else required
        module, version, error = probe(name)
        status = "ok" if module is not None else ("MISSING" if required else "missing")
        rows.append(f"| {name} | {version or '-'} | {needed_by} | {status} {error} |")
        if module is None and required:
            problems.append(f"{name} does not import")
        if name == "cupy" and module is not None:
            lines, error = cupy_lines(module)
            details += ["", "CuPy:", "", *lines]
            if error and not args.cpu:
                problems.append(error)
        if name == "torch" and module is not None:
            details += ["", "torch:", "", *torch_lines(module)]

    xpnn, version, error = probe("xpnn")
    rows.append(f"| xpnn | {version or '-'} | everything | {'ok' if xpnn else 'MISSING'} {error} |")
    if xpnn is None:
        problems.append(f"xpnn does not import ({error})")
    else:
        details += ["", "xpnn:", "", f"- imported from {xpnn.__file__}"]
        try:  # which branches the GPU stand-in takes (is_cpu False: the device branches)
            stand_in = xpnn.get_backend("array_api_strict", "device1")
            details.append(f"- GPU stand-in {stand_in!r}: is_cpu = {stand_in.is_cpu}")
        except Exception as exc:
            details.append(f"- GPU stand-in: {first_line(exc)}")
    if xpnn is not None and not args.cpu:
        try:
            backend = xpnn.get_backend("cupy")
            details += ["", f"- xpnn.get_backend('cupy'): {backend!r}"]
        except Exception as exc:
            problems.append(f"xpnn's cupy backend: {first_line(exc)}")

    print("- " + nvidia_smi())
    print()
    print("| module | version | needed by | status |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print("\n".join(details))
    print()
    if problems:
        print("ENV: FAIL (" + "; ".join(problems) + ")")
        return 1
    print("ENV: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
