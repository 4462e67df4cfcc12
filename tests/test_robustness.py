"""Long runs, threads, zero-size batches, debug logging, and the argument fuzzer (in a child
process, so that a crash or a hang fails a test instead of killing the run)."""
import logging
import os
import re
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import clconv
import clconv.functional as F
import clconv.nn as nn
import clconv.optim as optim
import clconv.ops.launch_sizes
from clconv import config, runtime
from clconv.testing import assert_close
from helpers import check_grad, check_op, randn

TESTS = Path(__file__).resolve().parent


def test_argument_fuzzing_in_a_child_process():
    # The child runs from tests/, so it imports the same clconv as this process.
    env = dict(os.environ, PYTHONHASHSEED="0")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "fuzz_ops.py"], cwd=TESTS, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"fuzzer failed or crashed (exit {result.returncode}):\n" \
                                   f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("op,args", [
    ("conv2d", lambda r: (randn(r, (0, 3, 5, 5), np.float32), randn(r, (4, 3, 3, 3), np.float32))),
    ("max_pool2d", lambda r: (randn(r, (0, 3, 4, 4), np.float32), 2)),
    ("avg_pool1d", lambda r: (randn(r, (0, 2, 6), np.float32), 3)),
    ("adaptive_avg_pool2d", lambda r: (randn(r, (0, 3, 4, 4), np.float32), 2)),
    ("batch_norm", lambda r: (randn(r, (0, 3, 4), np.float32), None, None, None, None, True)),
    ("layer_norm", lambda r: (randn(r, (0, 5), np.float32), 5)),
    ("group_norm", lambda r: (randn(r, (0, 4, 3), np.float32), 2)),
    ("linear", lambda r: (randn(r, (0, 5), np.float32), randn(r, (3, 5), np.float32))),
    ("relu", lambda r: (randn(r, (0, 5), np.float32),)),
])
def test_zero_size_batches_give_empty_results(device, rng, op, args):
    out = check_op(op, *args(rng))
    assert out.shape[0] == 0


@pytest.mark.heavy
def test_soak_memory_flat_no_rebuilds_and_bit_identical(device):
    """1,000 training steps hold the memory pool flat, build nothing after the first step, and two
    runs from the same seed end bit-identical (no order-dependent atomics anywhere)."""
    steps = config.current().test_soak_steps

    def run(seed):
        nn.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(seed)
        images = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
        labels = rng.integers(0, 3, 8)
        pool = device.allocator
        for step in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            opt.step()
            if step == 0:
                builds = device.builds
            if step == 10:
                held = (pool.managed_bytes, pool.active_bytes)
        device.synchronize()
        assert device.builds == builds, "programs were built after the first step"
        assert (pool.managed_bytes, pool.active_bytes) == held, "device memory grew"
        return loss.item(), model.state_dict()

    loss_a, state_a = run(7)
    loss_b, state_b = run(7)
    assert loss_a == loss_b
    for name in state_a:
        np.testing.assert_array_equal(state_a[name], state_b[name], err_msg=name)


def test_two_threads_on_one_device_get_correct_results(device):
    errors = []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(30):
                x = randn(rng, (2, 3, 9, 9), np.float32)
                w = randn(rng, (4, 3, 3, 3), np.float32)
                y = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
                want = clconv.reference.max_pool2d(clconv.reference.relu(
                    clconv.reference.conv2d(x, w, padding=1)), 2)
                assert_close(y.numpy(), want, what=f"thread {seed}")
        except Exception as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors


def test_debug_logging_reports_builds_choices_and_launches(device, rng, caplog):
    with caplog.at_level(logging.DEBUG, logger="clconv"), config.override(debug=True):
        runtime.get_kernel(device, "pool", "max_pool_forward", EXTRA_DEFINE_FOR_A_FRESH_BUILD=1,
                           **runtime.dtype_defines(np.float32))
        F.relu(randn(rng, (5,), np.float32))
    text = caplog.text
    assert "built pool.cl [-DEXTRA_DEFINE_FOR_A_FRESH_BUILD=1" in text
    relu = runtime.get_kernel(device, "elementwise", "relu_forward",
                              **runtime.dtype_defines(np.float32))
    local = clconv.ops.launch_sizes.items(device)
    while local > runtime.kernel_limits(device, relu).work_group_size:  # (fitted as launch does)
        local //= 2
    assert f"launched relu_forward global=({local},) local=({local},)" in text
    with caplog.at_level(logging.DEBUG, logger="clconv"), config.override(debug=True):
        F.conv2d(randn(rng, (1, 2, 5, 5), np.float32), randn(rng, (3, 2, 3, 3), np.float32))
    assert re.search(r"conv_forward: \w+", caplog.text)


def test_out_of_device_memory_is_a_memory_error(device, monkeypatch):
    # 4 KiB past what earlier tests still hold (cached constants of models awaiting the
    # garbage collector, say) when the test starts.
    import gc
    gc.collect()
    pool = device.allocator
    held = getattr(pool, "active_bytes", 0)
    monkeypatch.setattr(device, "global_mem_bytes", held + 4096)
    keep = clconv.empty((512,))  # 2 KiB more in use
    with pytest.raises(MemoryError, match=r"out of device memory: shape \(1024,\) needs 4,096 bytes"):
        clconv.empty((1024,))
    del keep


@pytest.mark.parametrize("x_shape,w_shape,options", [
    ((5, 3, 9, 10), (4, 3, 3, 3), dict(padding=1)),
    ((4, 6, 11, 9), (8, 6, 3, 3), dict(stride=2, padding=1)),
    ((3, 8, 7, 7), (8, 8, 1, 1), dict()),
    ((3, 4, 4, 5, 6), (4, 4, 3, 3, 3), dict(padding=1)),  # 3D: padded volumes
    ((3, 4, 7, 9), (8, 1, 3, 3), dict(padding=1, groups=4)),  # depthwise: channel by channel
], ids=str)
def test_convolutions_split_their_work_past_the_workspace_limit(device, rng, x_shape, w_shape, options):
    # With a limit far below one sample's scratch copies, convolution forward and both
    # gradients run sample by sample (or channel by channel), and still match the reference.
    with config.override(workspace_mb=0.0001):
        _convolution_and_gradients(rng, x_shape, w_shape, options)


def _convolution_and_gradients(rng, x_shape, w_shape, options):
    op = f"conv{len(x_shape) - 2}d"
    x = randn(rng, x_shape, np.float32)
    w = (randn(rng, w_shape, np.float32) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
    check_op(op, x, w, None, **options)
    check_grad(rng, op, x, w, None, options.get("stride", 1), options.get("padding", 0), 1,
               options.get("groups", 1), case=str(x_shape))


# --- launch limits --------------------------------------------------------------------------

def test_launches_that_cannot_fit_raise_naming_the_kernel_shape_and_limits(device):
    from clconv.ops import launch_sizes
    kernel, group = runtime.fixed_group_kernel(device, "reduce", "row_sum",
                                               launch_sizes.group_size(device),
                                               **runtime.dtype_defines(np.float32))
    buffers = (device.placeholder, device.placeholder, *map(np.int32, (1, 1, 1, 1)))
    smaller = max(1, group // 2)
    with pytest.raises(clconv.LaunchError,
                       match=rf"row_sum: cannot launch global size \({group},\) in work-groups of "
                             rf"\({smaller},\) .*requires work-groups of \({group},\).*kernel "
                             r"limits: \d+ work-items per group"):
        runtime.launch(device, kernel, (group,), (smaller,), *buffers)
    with pytest.raises(clconv.LaunchError, match="passes the kernels' 32-bit work-item index"):
        runtime.launch(device, kernel, (2**31,), (group,), *buffers)
    winograd = runtime.get_kernel(device, "conv_winograd", "winograd_conv2d",
                                  **runtime.vector_defines(device, np.float32))
    too_much = runtime.local_memory(device.base_profile.local_memory_bytes + 1)
    args = [device.placeholder] * 3 + [np.int32(0), np.int32(0), np.float32(0),
                                       device.placeholder, device.placeholder,  # y, residual
                                       too_much, runtime.local_memory(4)]
    with pytest.raises(clconv.LaunchError, match=r"winograd_conv2d: .*it needs \d+ bytes of "
                                                 r"local memory"):
        runtime.launch(device, winograd, (1,), (1,), *args, *map(np.int32, [1] * 11))


def test_a_kernel_whose_limit_is_below_the_wanted_group_size_is_rebuilt_smaller(device, monkeypatch):
    real = runtime.kernel_limits

    def at_most_8(dev, kernel):  # as Rusticl's llvmpipe lowers some kernels' limit to 32
        limits = real(dev, kernel)
        return replace(limits, work_group_size=min(8, limits.work_group_size))

    monkeypatch.setattr(runtime.enqueue, "kernel_limits", at_most_8)
    monkeypatch.setattr(device, "_group_sizes", {})
    defines = runtime.dtype_defines(np.float64 if device.has_fp64 else np.float32)
    kernel, group = runtime.fixed_group_kernel(device, "reduce", "row_sum", 64, **defines)
    # The kernel built with GROUP_SIZE=8 (clconv's program cache; the driver's own record of a
    # program's options is empty where pyopencl loaded it from its binary cache, as Rusticl's).
    assert group == 8
    assert kernel is runtime.get_kernel(device, "reduce", "row_sum", GROUP_SIZE=8, **defines)


def test_small_work_group_limits(device, tmp_path):
    # PoCL with at most 16 work-items per group (POCL_MAX_WORK_GROUP_SIZE): under both profiles
    # every named kernel path still runs and matches the reference (launch shapes shrink,
    # reductions are built for 16).
    if device.base_profile.vendor_key != "pocl":
        pytest.skip("POCL_MAX_WORK_GROUP_SIZE is PoCL's")
    env = dict(os.environ, POCL_MAX_WORK_GROUP_SIZE="16")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_dispatch.py", "-k", "runs_and_matches"], cwd=TESTS, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
