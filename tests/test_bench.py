"""The benchmark suite in quick mode: every case runs and its results match the reference
(speed is measured by `python -m clconv bench`, never asserted in tests)."""
import subprocess
import sys

import pytest


@pytest.mark.heavy
def test_quick_benchmark_suite_checks_results(tmp_path):
    done = subprocess.run([sys.executable, "-m", "clconv", "bench", "--quick", "--peers", "numpy,torch,reference",
                           "--plot", str(tmp_path / "bench.png")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = [line for line in done.stdout.splitlines() if line and not line.startswith("#")][1:]
    assert len(rows) == 34 and all(line.endswith("ok") for line in rows), done.stdout
    assert (tmp_path / "bench.png").stat().st_size > 0


def test_tuner_writes_a_table_the_dispatcher_reads(tmp_path):
    import json
    import os

    out = tmp_path / "tuning.json"
    done = subprocess.run([sys.executable, "-m", "clconv", "tune", "--quick", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "WRONG" not in done.stdout, done.stdout
    (kind, vendors), = json.loads(out.read_text()).items()
    (vendor, devices), = vendors.items()
    (device_key, entry), = devices.items()
    assert " | driver " in device_key and "measured by python -m clconv tune" in entry["about"]
    tuned = {(family, algorithm) for family, algorithms in entry.items() if family != "about"
             for algorithm in algorithms}
    assert tuned, done.stdout
    # The dispatcher reads the written table: its entries are what the device now uses, and a
    # convolution under it still matches the reference.
    check = ("import json, numpy as np, clconv, clconv.functional as F, clconv.reference as R\n"
             "from clconv.testing import assert_close\n"
             f"entry = json.load(open({str(out)!r}))[{kind!r}][{vendor!r}][{device_key!r}]\n"
             "used = clconv.tuning.entry(clconv.get_device().profile)\n"
             "within = lambda a, b: all(within(v, b[k]) if isinstance(v, dict) else b[k] == v\n"
             "                          for k, v in a.items())\n"
             "assert within({k: v for k, v in entry.items() if k != 'about'}, used)\n"
             "x = np.random.default_rng(0).standard_normal((2, 8, 9, 10)).astype(np.float32)\n"
             "w = np.random.default_rng(1).standard_normal((12, 8, 3, 3)).astype(np.float32) / 9\n"
             "assert_close(F.conv2d(x, w, padding=1).numpy(), R.conv2d(x, w, padding=1))\n")
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, CLCONV_TUNING=str(out)))
    assert done.returncode == 0, done.stderr[-3000:]


def test_every_timed_run_runs_the_work(monkeypatch):
    """samples() times run() + sync() each time, with or without a device clock (a harness that
    timed only sync() would report every peer as instantaneous)."""
    from clconv import timing
    calls = []
    wall, device = timing.samples(lambda: calls.append("run"), lambda: calls.append("sync"), 5,
                                  warmup=2, warmup_seconds=0.0)
    assert calls.count("run") == 7 and calls.count("sync") == 7
    assert len(wall) == 5 and device is None
    calls.clear()
    timing.samples(lambda: calls.append("run"), lambda: None, 3, warmup=1, warmup_seconds=0.0,
                   device_time=lambda run: run() or 1.0)
    assert calls.count("run") == 4
    slow = timing.median_ms(lambda: __import__("time").sleep(0.01), lambda: None, 3, warmup=1,
                            warmup_seconds=0.0)
    assert slow >= 9.0, f"a 10 ms run measured as {slow:.2f} ms"


def test_models_bench_rounds_take_medians_and_paired_ratios():
    # bench --models --rounds: figures are medians over the rounds, ratios the medians of each
    # round's own ratio (a slow phase of the host hits both runtimes of a round), a runtime's
    # failed round is left out.
    from clconv.bench.onnx_bench import summarize
    rounds = [{"clconv": {"ms": 10.0, "first_ms": 400.0}, "onnxruntime": {"ms": 5.0}},
              {"clconv": {"ms": 30.0, "first_ms": 500.0}, "onnxruntime": {"ms": 20.0}},
              {"clconv": {"ms": 12.0, "first_ms": 450.0}, "onnxruntime": None},
              {"clconv": {"ms": 14.0, "first_ms": 420.0}, "onnxruntime": {"ms": 10.0}}]
    summary = summarize(rounds, ["clconv", "onnxruntime", "openvino"])
    assert summary["clconv"] == {"ms": 13.0, "first_ms": 400.0}
    assert summary["onnxruntime"] == {"ms": 10.0}
    assert summary["ratios"] == {"onnxruntime": 1.5}  # of 2.0, 1.5, 1.4
    assert summary["openvino"] is None
    assert summary["rounds"][2] == {"clconv": 12.0, "onnxruntime": None}


def test_the_gpu_suite_and_its_script_are_runnable():
    """benchmarks/gpu_run.sh runs `bench --gpu` on a lent GPU machine: its cases (the issue's
    convolutions B-E, a ResNet-18 training step at batch 32) must resolve in the workers, and
    the script must parse (it cannot run without an NVIDIA GPU)."""
    from pathlib import Path

    from clconv.bench.cases import by_name, cases
    chosen = cases(False, gpu=True)
    names = {c.name for c in chosen}
    assert {"conv2d-B", "conv2d-C", "conv2d-D", "conv2d-E", "train-resnet-b32"} <= names
    assert all(by_name(False)[c.name] == c for c in chosen)
    assert next(c for c in chosen if c.op == "train").params["batch"] == 32
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_run.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
