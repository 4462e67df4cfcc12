"""The benchmark suite in quick mode: every case runs and its results match the reference
(speed is measured by `python -m clconv bench`, never asserted in tests)."""
import subprocess
import sys
from pathlib import Path


def test_quick_benchmark_suite_checks_results(tmp_path):
    done = subprocess.run([sys.executable, "-m", "clconv", "bench", "--quick", "--peers", "numpy,torch,reference",
                           "--plot", str(tmp_path / "bench.png")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = [line for line in done.stdout.splitlines() if line and not line.startswith("#")][1:]
    assert len(rows) == 34 and all(line.endswith("ok") for line in rows), done.stdout
    assert (tmp_path / "bench.png").stat().st_size > 0
