"""Weights packed for a kernel (conv_direct's blocks, Winograd's transform) are made once per
weight version and kept with the tensor (clconv.ops.prepared): frozen inference packs on the
first call only, an in-place change packs again, and training (autograd recording a weight that
requires grad) keeps nothing."""
import numpy as np
import pytest

import clconv
import clconv.functional as F
from clconv import config, reference as R, runtime
from clconv.testing import assert_close
from helpers import conv_weight, randn

PACKING = {"conv_pack_weights", "winograd_weights"}
# A 3x3 convolution Winograd takes on CPUs, and a 5x5 one conv_direct takes.
CASES = [((1, 16, 6, 20), (16, 16, 3, 3)), ((2, 4, 7, 21), (6, 4, 5, 5))]


_launched: list = []  # kernel names, while _packs listens (a recording leaves packing out)
_listening = []
runtime.on_launch(lambda device, kernel, *rest: _listening and _launched.append(
    kernel.function_name))


def _packs(device, run):
    _launched.clear()
    _listening.append(True)
    try:
        result = run()
    finally:
        _listening.clear()
    return result, set(_launched) & PACKING


@pytest.mark.parametrize("x_shape,w_shape", CASES, ids=str)
def test_frozen_weights_are_packed_once_per_version(device, rng, x_shape, w_shape):
    x, w = randn(rng, x_shape, np.float32), conv_weight(rng, w_shape, np.float32)
    wt = clconv.tensor(w)
    with config.override(profile="cpu"):
        y, packed = _packs(device, lambda: F.conv2d(x, wt, padding=1))
        assert packed, "a CPU algorithm that packs its weights ran"
        assert_close(y.numpy(), R.conv2d(x, w, padding=1))
        held = dict(wt.derived)
        y, packed = _packs(device, lambda: F.conv2d(x, wt, padding=1))
        assert not packed, f"packed again: {packed}"
        assert wt.derived == held
        assert_close(y.numpy(), R.conv2d(x, w, padding=1))
        F.relu(wt, inplace=True)  # an in-place change: a new version
        y, packed = _packs(device, lambda: F.conv2d(x, wt, padding=1))
        assert packed
        assert_close(y.numpy(), R.conv2d(x, np.maximum(w, 0), padding=1))


def test_training_keeps_no_packed_weights(device, rng):
    x_shape, w_shape = CASES[1]
    x, w = randn(rng, x_shape, np.float32), conv_weight(rng, w_shape, np.float32)
    wt = clconv.tensor(w, requires_grad=True)
    with config.override(profile="cpu"):
        for _ in range(2):
            _, packed = _packs(device, lambda: F.conv2d(x, wt, padding=1))
            assert packed
        assert wt.derived is None
        with clconv.no_grad():  # evaluation: kept
            F.conv2d(x, wt, padding=1)
            _, packed = _packs(device, lambda: F.conv2d(x, wt, padding=1))
        assert not packed and wt.derived
