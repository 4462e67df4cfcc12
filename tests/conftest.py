"""One fixture gives the device; every test runs on every usable device.

Inputs are fresh random numbers for each run (seeded from CLCONV_TEST_SEED, or a random seed that
the header prints so a failure can be replayed), and every tensor an op allocates is NaN-filled
first (config.override(poison=True)), so an element a kernel does not write fails the comparison.
"""
import zlib

import numpy as np
import pytest

import clconv
from clconv import config

SEED = config.current().test_seed
if SEED is None:
    SEED = int(np.random.SeedSequence().entropy % 2**32)


def pytest_report_header(config):
    names = ", ".join(repr(d.name) for d in clconv.devices())
    return [f"clconv devices: {names}", f"CLCONV_TEST_SEED={SEED}"]


def _tested_devices() -> list:
    """The device CLCONV_DEVICE (or PYOPENCL_CTX) names, else every usable device."""
    settings = config.current()
    return [clconv.get_device()] if settings.device or settings.pyopencl_ctx else clconv.devices()


@pytest.fixture(scope="session", params=_tested_devices(), ids=lambda d: d.name.split()[0])
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _poisoned_outputs_on(device):
    clconv.set_device(device)
    with config.override(poison=True):
        yield


@pytest.fixture
def rng(request):
    """A generator seeded by the run's seed and the test's id: fresh per run, replayable."""
    return np.random.default_rng([SEED, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture(params=[pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")])
def dtype(request, device):
    """Each floating-point dtype the ops compute in; float64 is skipped where the device has no
    cl_khr_fp64 (float16, a storage type, has its own tests in test_half.py)."""
    if np.dtype(request.param) not in device.dtypes():
        pytest.skip(f"{device.name} has no cl_khr_fp64")
    return request.param
