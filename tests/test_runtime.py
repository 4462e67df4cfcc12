"""Device choice, tensors, the kernel cache and check mode."""
import re
import warnings
from pathlib import Path

import numpy as np
import pyopencl as cl
import pyopencl.array as cla
import pytest

import clconv
import clconv.functional as F
from clconv import check_mode, config, reference, runtime

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_device_state(monkeypatch):
    """Let a test re-run device selection without disturbing the session's devices."""
    monkeypatch.setattr(runtime.device, "_usable", {})
    monkeypatch.setattr(runtime.device, "_broken", {})
    monkeypatch.setattr(runtime.device, "_current", None)
    with config.override(device=None, pyopencl_ctx=None):
        yield


def test_devices_lists_usable_devices(device):
    found = clconv.devices()
    assert device in found
    assert all(isinstance(d, clconv.Device) for d in found)


def test_set_device_by_index_and_name(device):
    assert clconv.set_device(clconv.devices().index(device)) is device
    assert clconv.set_device(device.name[:6]) is device
    assert clconv.get_device() is device
    with pytest.raises(ValueError, match="index 99 out of range"):
        clconv.set_device(99)


@pytest.mark.parametrize("setting,value", [
    ("device", "cpu"), ("device", "pthread"), ("pyopencl_ctx", "portable:0")])
def test_environment_chooses_the_device(device, fresh_device_state, setting, value):
    # (CLCONV_DEVICE and PYOPENCL_CTX are read into these settings at import.)
    if device.base_profile.vendor_key != "pocl":
        pytest.skip("the specs name PoCL's CPU device")
    with config.override(**{setting: value}):
        assert runtime.get_device().name == device.name


def test_device_by_platform_and_device_index(device, fresh_device_state):
    platforms = cl.get_platforms()
    p_index = next(i for i, p in enumerate(platforms) if p.name.strip() == device.platform_name)
    d_index = [d.name.strip() for d in platforms[p_index].get_devices()].index(device.name)
    with config.override(device=f"{p_index}:{d_index}"):
        assert runtime.get_device().name == device.name
    with config.override(pyopencl_ctx=str(p_index)):
        assert runtime.get_device().platform_name == device.platform_name


def test_environment_variables_are_read_into_the_settings():
    settings = config.from_environment({"CLCONV_DEVICE": "gpu", "CLCONV_PROFILE": "GPU",
                                        "CLCONV_WINOGRAD": "0", "CLCONV_WORKSPACE_MB": "1.5",
                                        "CLCONV_ALGORITHMS": "conv_forward=general"})
    assert (settings.device, settings.profile, settings.winograd) == ("gpu", "gpu", False)
    assert settings.workspace_mb == 1.5 and settings.algorithm("conv_forward") == "general"
    with pytest.raises(ValueError, match="profile must be 'cpu' or 'gpu'"):
        config.from_environment({"CLCONV_PROFILE": "tpu"})
    with pytest.raises(ValueError, match="CLCONV_ALGORITHMS: expected family=algorithm"):
        config.from_environment({"CLCONV_ALGORITHMS": "general"})


def test_environment_naming_no_device_raises(fresh_device_state):
    with config.override(device="no-such-device"):
        with pytest.raises(RuntimeError, match="CLCONV_DEVICE='no-such-device' matches no usable"):
            runtime.get_device()


def test_a_device_whose_test_build_fails_is_skipped_with_a_warning(device, fresh_device_state,
                                                                     monkeypatch):
    def broken_probe(cl_device):
        raise cl.RuntimeError("clBuildProgram failed: unknown target CPU 'generic'")

    monkeypatch.setattr(runtime.device, "_probe", broken_probe)
    with warnings.catch_warnings(record=True) as caught:  # (one warning per device)
        warnings.simplefilter("always")
        assert runtime.devices() == []
    pattern = rf"skipping OpenCL device '{re.escape(device.name[:10])}.*test build failed"
    assert any(re.search(pattern, str(w.message)) for w in caught), [str(w.message) for w in caught]
    with pytest.raises(RuntimeError, match="no usable OpenCL device.*unknown target CPU"):
        runtime.get_device()


def test_tensor_round_trip_and_properties(device, rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    t = clconv.tensor(x)
    assert (t.shape, t.dtype, t.device, t.ndim, t.numel()) == ((2, 3, 4), np.float32, device, 3, 24)
    np.testing.assert_array_equal(t.numpy(), x)
    np.testing.assert_array_equal(np.asarray(t), x)
    assert t.reshape(6, -1).shape == (6, 4) and t.flatten(1).shape == (2, 12)
    with pytest.raises(ValueError, match=r"reshape: cannot view shape \(2, 3, 4\) as \(5, -1\)"):
        t.reshape(5, -1)
    assert "float32" in repr(t)


def test_lists_and_views_become_contiguous_tensors(device):
    assert clconv.tensor([[1, 2], [3, 4]]).dtype == np.float32
    view = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    np.testing.assert_array_equal(F.relu(view).numpy(), view)


def test_pyopencl_arrays_go_in_and_come_out_without_copy(device, rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    array = cla.to_device(device.queue, x)
    t = clconv.tensor(array)
    assert t.array is array
    y = F.relu(array)
    assert isinstance(y.array, cla.Array)
    np.testing.assert_array_equal(y.array.get(), np.maximum(x, 0))


def test_zeros_full_empty(device):
    np.testing.assert_array_equal(clconv.zeros((2, 3)).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(clconv.full(4, 2.5).numpy(), np.full(4, 2.5))
    assert clconv.empty((0, 3)).numpy().shape == (0, 3)
    # float16 (a storage type: filled by bit pattern, no cl_khr_fp16 needed), a 0-d one too
    np.testing.assert_array_equal(clconv.full((), -1.5, np.float16).numpy(), np.float16(-1.5))
    np.testing.assert_array_equal(clconv.zeros(17, np.float16).numpy(), np.zeros(17, np.float16))


def test_other_dtypes_are_type_errors(device):
    for dtype in (np.int32, np.complex64):
        with pytest.raises(TypeError, match=f"dtype {np.dtype(dtype)} is not supported"):
            clconv.tensor(np.ones(3, dtype))


def test_programs_are_built_once_per_device_and_options(device, rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    F.conv2d(x, w)
    builds = device.builds
    for shape in [(2, 2, 7, 9), (1, 2, 11, 3)]:  # new shapes reuse the same program
        F.conv2d(rng.standard_normal(shape).astype(np.float32), w, padding=1)
    assert device.builds == builds


def test_build_failure_names_device_options_and_log(device, tmp_path, monkeypatch):
    (tmp_path / "broken.cl").write_text("__kernel void k(__global float *x) { x[0] = undefined_name; }")
    monkeypatch.setattr(runtime.build, "kernels_dir", lambda: tmp_path)
    with pytest.raises(clconv.KernelBuildError) as caught:
        runtime.get_kernel(device, "broken", "k", TILE=4)
    message = str(caught.value)
    assert "kernels/broken.cl" in message and device.name in message
    assert "-DTILE=4" in message and "undefined_name" in message


def _wrong_relu(input, inplace=False):
    return F.leaky_relu(input, 0.5)


def test_check_mode_raises_on_a_wrong_result(device, rng):
    bad = check_mode.checked(_wrong_relu, reference.relu)
    x = rng.standard_normal(50).astype(np.float32) - 3  # negatives, where the two differ
    bad(x)  # check mode off: no comparison
    with clconv.checking():
        with pytest.raises(clconv.CheckError, match=rf"_wrong_relu on '{re.escape(device.name)}': output 0: \d+ of 50 elements differ.*worst at index"):
            bad(x)


def test_check_mode_from_the_settings(device, rng):
    bad = check_mode.checked(_wrong_relu, reference.relu)
    with config.override(check=True):  # CLCONV_CHECK=1
        with pytest.raises(clconv.CheckError):
            bad(-np.ones(4, np.float32))
        with clconv.checking(False):
            bad(-np.ones(4, np.float32))


def test_check_mode_passes_correct_ops_and_checks_running_statistics(device, rng):
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    rm, rv = clconv.tensor(np.zeros(3, np.float32)), clconv.tensor(np.ones(3, np.float32))
    with clconv.checking():
        y = F.batch_norm(x, rm, rv, training=True)
        F.conv2d(y, rng.standard_normal((5, 3, 3, 3)).astype(np.float32), padding=1)
        F.max_pool2d(y, 2, return_indices=True)


@pytest.mark.skipif(not config.current().test_expect_installed,
                    reason="only meaningful under `make test`, which installs the package")
def test_installed_package_finds_its_kernels():
    # `make test` installs clconv (not editable) and runs pytest outside the package directory:
    # the kernels must come from the installed wheel.
    package = Path(clconv.__file__).resolve().parent
    assert package != REPO / "clconv" and "site-packages" in package.parts
    assert runtime.kernels_dir().resolve() == package / "kernels"
    assert (runtime.kernels_dir() / "conv_general.cl").is_file()


@pytest.mark.parametrize("command,expected", [
    (["devices"], "usable"), (["check"], "all ops match the reference"),
    (["forward", "--batch", "4"], "matches clconv.reference")])
def test_command_line(device, tmp_path, command, expected):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "clconv", *command], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert expected in done.stdout
