"""Every kernel under Oclgrind: out-of-bounds accesses, uninitialized values, data races, API misuse.

    .venv/bin/python tools/sanitize.py [-k SUBSTRING]      (or `make sanitize`)

Oclgrind (Debian's `oclgrind` package) simulates an OpenCL device and checks every memory access of
every work-item. This script makes it the only OpenCL platform through pyopencl's ICD loader
(OCL_ICD_VENDORS names an .icd file holding the path of liboclgrind-rt-icd.so), selects it with
CLCONV_DEVICE, and turns on the checks of `oclgrind --data-races --uninitialized --check-api` with
their environment variables. Then it runs each case of CASES -- every public op over a small grid
of options, in float32 and float64 -- forward in check mode (`clconv.checking()`: results are
compared with clconv.reference) and backward (each gradient against reference.<op>_backward), and
fails when Oclgrind reports anything or a result is wrong.

How the run is arranged so that Oclgrind sees real errors:
- Tensors get exact-size buffers that are never released (see KeptBuffers).
- Outputs are not NaN-filled (CLCONV_POISON is off): filling marks the memory written, which would
  hide a kernel reading output it has not written yet. A fresh Oclgrind buffer holds zeros, so an
  element a kernel never writes is still caught by the reference comparison wherever it is nonzero.
- Kernels are built with -cl-opt-disable: Oclgrind 21.10's uninitialized-value checker stops with
  "Unsupported instruction: freeze" on optimized code.
- Each case runs with clconv's GPU work-group shapes (global sizes rounded up to whole work-groups,
  so edge tiles have idle work-items past the end) and with its CPU ones.
- Before the cases, deliberately bad launches must be reported, or the checks are not active.

Oclgrind writes its reports to stderr (file descriptor 2), which is captured around each case and
printed under the case's name. Add an op by adding lines to CASES (its differentiable arguments
come from the op table, clconv.optable): rand()/labels() arguments become random arrays.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# clconv (and so pyopencl) is imported inside the functions below, after oclgrind_environment()
# has set the variables that the ICD loader and Oclgrind read when they start.

OCLGRIND_SETTINGS = {
    "OCLGRIND_CHECK_API": "1",        # --check-api
    "OCLGRIND_DATA_RACES": "1",       # --data-races
    "OCLGRIND_UNINITIALIZED": "1",    # --uninitialized
    "OCLGRIND_BUILD_OPTIONS": "-cl-opt-disable",
    "OCLGRIND_MAX_ERRORS": "1000000",  # not the default 1000: later cases must report too
    # A GPU's limits: 32 KiB of local memory, work-groups of at most 256 (launches must fit).
    "OCLGRIND_LOCAL_MEM_SIZE": "32768",
    "OCLGRIND_MAX_WGSIZE": "256",
    # Oclgrind compiles every program anyway; pyopencl's binary cache would only add its
    # has-a-source-cache probe (an NVIDIA-only device query, reported by --check-api).
    "PYOPENCL_NO_CACHE": "1",
    "CLCONV_DEVICE": "oclgrind",
}

# pyopencl asks each device for NVIDIA's compute capability (CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV,
# 0x4000) when it creates kernel objects. Oclgrind does not know the query and --check-api says so;
# the report is pyopencl's, not a kernel's, and it is the only one allowed.
PYOPENCL_NV_PROBE = ("Oclgrind - OpenCL runtime error detected\n"
                     "\tFunction: clGetDeviceInfo\n"
                     "\tError:    CL_INVALID_VALUE\n"
                     "\tFor argument 'param_name'")

# Each case runs with a GPU profile (the GPU algorithms, work-groups of 64 and more, so edge
# tiles have idle work-items past the tensor) and with CPU ones (the CPU kernels), with the
# vectors of AVX-512 (64 bytes: 16 floats, 8 doubles) and of AVX2 (32 bytes).
PROFILES = {"gpu-profile": dict(profile="gpu"),
            "cpu-profile-64": dict(profile="cpu", vector_bytes=64),
            "cpu-profile-32": dict(profile="cpu", vector_bytes=32)}
# The ops whose kernels have explicit vectors (the others run the 32-byte pass for nothing).
VECTOR_OPS = ("conv", "pool", "norm")


# --- the cases ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RandomArray:
    """An argument that is a random array: normal values, uniform in [0.5, 2) where `positive`
    (variances), or int64 class indices below `classes` (targets)."""
    shape: tuple
    positive: bool = False
    classes: int = 0

    def make(self, rng, dtype) -> np.ndarray:
        if self.classes:
            return rng.integers(0, self.classes, self.shape, dtype=np.int64)
        if self.positive:
            return rng.uniform(0.5, 2.0, self.shape).astype(dtype)
        return rng.standard_normal(self.shape).astype(dtype)

    def __str__(self):
        return "x".join(map(str, self.shape))


def rand(*shape, positive=False) -> RandomArray:
    return RandomArray(shape, positive=positive)


def labels(*shape, classes) -> RandomArray:
    return RandomArray(shape, classes=classes)


HALF = np.dtype(np.float16)


@dataclass(frozen=True)
class Case:
    """One call of clconv.functional.<op> with keyword arguments; forward, then backward. In
    each dtype the device computes in, or in float16 storage only (`half`); `forced`: the
    algorithms it forces (config.override), on every profile."""
    op: str
    arguments: dict
    backward: bool = True
    half: bool = False
    forced: dict = field(default_factory=dict)

    def runs_in(self, dtype) -> bool:
        return (dtype == HALF) == self.half

    def __str__(self):
        forced = f" [{', '.join(f'{k}={v}' for k, v in self.forced.items())}]" if self.forced else ""
        return f"{self.op}({', '.join(f'{k}={v}' for k, v in self.arguments.items())}){forced}"


def case(op, *, backward=True, half=False, forced=None, **arguments) -> Case:
    return Case(op, arguments, backward, half, forced or {})


# conv_general.cl tiles TILE_K = 1, 4 or 8 output channels (by channels per group) by TILE_P = 8 output
# positions, so channel counts like 10, 3 and 12 and position counts that are not multiples of 8
# leave partial tiles; linear's gemm.cl tiles 4 rows by 8 features. Norm rows shorter and longer
# than the 64 work-items reducing them; element counts that are not multiples of the work-group.
CASES = [
    case("conv1d", input=rand(2, 3, 13), weight=rand(10, 3, 3), bias=rand(10), stride=2, padding=1),
    case("conv1d", input=rand(2, 4, 9), weight=rand(6, 2, 4), padding="same", dilation=2,
         groups=2),
    case("conv1d", input=rand(3, 7), weight=rand(5, 3, 1), bias=rand(5)),  # unbatched
    case("conv2d", input=rand(2, 4, 7, 9), weight=rand(12, 4, 3, 3), bias=rand(12),
         stride=(2, 1), padding=(1, 2)),
    case("conv2d", input=rand(1, 4, 9, 8), weight=rand(6, 2, 3, 2), stride=2, padding=1,
         dilation=(2, 3), groups=2),
    case("conv2d", input=rand(2, 5, 6, 7), weight=rand(5, 1, 3, 3), bias=rand(5),
         padding="same", groups=5),  # depthwise: one output channel per group (TILE_K 1)
    case("conv2d", input=rand(1, 3, 5, 6), weight=rand(6, 1, 2, 2), padding="same",
         groups=3),  # depth multiplier 2: an even kernel pads one more after
    case("conv2d", input=rand(2, 3, 4, 5), weight=rand(9, 3, 1, 1), bias=rand(9),
         padding="valid"),
    case("conv2d", input=rand(3, 6, 6), weight=rand(4, 3, 3, 3), padding=1),  # unbatched
    # Edges of the CPU direct path: in-place input with a stepped-back last tile, a row's last
    # vector stepping back, depthwise, 1x1 panels with stride and padding.
    case("conv2d", input=rand(2, 3, 8, 16), weight=rand(5, 3, 3, 3)),
    case("conv2d", input=rand(2, 4, 5, 40), weight=rand(6, 4, 3, 3), stride=(1, 2), padding=1),
    case("conv2d", input=rand(2, 3, 4, 20), weight=rand(3, 1, 3, 3), padding=1, groups=3),
    case("conv2d", input=rand(2, 16, 9, 7), weight=rand(20, 16, 1, 1), stride=2, padding=1),
    case("conv3d", input=rand(1, 2, 4, 5, 6), weight=rand(9, 2, 2, 3, 3), bias=rand(9),
         stride=(1, 2, 2), padding=(1, 1, 0), dilation=(1, 1, 2)),
    case("conv3d", input=rand(2, 4, 3, 4, 5), weight=rand(4, 2, 3, 3, 3), padding="same",
         groups=2),
    # Strided gradients (conv_grad.py): phase planes of x for the weight gradient, the input
    # gradient phase by phase (phases without taps, shifted phases, unequal phase lengths).
    case("conv2d", input=rand(2, 4, 9, 11), weight=rand(6, 2, 3, 3), stride=2, padding=1,
         groups=2),
    case("conv2d", input=rand(1, 3, 7, 8), weight=rand(4, 3, 1, 1), stride=3, padding=1),
    case("conv2d", input=rand(1, 3, 10, 9), weight=rand(4, 3, 3, 2), stride=(3, 2),
         padding=(2, 0), dilation=(1, 2)),
    case("conv1d", input=rand(2, 3, 16), weight=rand(4, 3, 4), stride=2, padding=3),
    case("conv2d", input=rand(1, 2, 4, 5), weight=rand(3, 2, 2, 2), padding=2),  # gather kernel

    case("max_pool1d", input=rand(2, 3, 10), kernel_size=3, stride=2, padding=1, ceil_mode=True,
         return_indices=True),
    case("max_pool1d", input=rand(3, 11), kernel_size=2),  # unbatched, stride = kernel
    # The vector paths (max_pool2d_k2s2, avg_pool2d_k3s1p1) need rows of 16 or more.
    case("max_pool2d", input=rand(1, 2, 5, 19), kernel_size=2, ceil_mode=True, return_indices=True),
    case("avg_pool2d", input=rand(1, 2, 5, 19), kernel_size=3, stride=1, padding=1,
         count_include_pad=False),
    case("avg_pool2d", input=rand(1, 1, 2, 35), kernel_size=3, stride=1, padding=1,
         divisor_override=4),
    case("avg_pool2d", input=rand(2, 1, 1, 16), kernel_size=3, stride=1, padding=1),
    case("max_pool2d", input=rand(1, 2, 5, 35), kernel_size=2),  # rows, columns no window covers
    case("max_pool2d", input=rand(2, 3, 7, 6), kernel_size=(3, 2), stride=(2, 1),
         padding=(1, 0), dilation=(2, 1), ceil_mode=True, return_indices=True),
    case("max_pool2d", input=rand(1, 2, 5, 5), kernel_size=2, ceil_mode=True),
    case("max_pool3d", input=rand(1, 2, 5, 4, 5), kernel_size=2, stride=2, padding=1,
         ceil_mode=True, return_indices=True),
    case("max_pool3d", input=rand(1, 2, 6, 5, 7), kernel_size=(2, 3, 2), stride=(1, 2, 3),
         dilation=(2, 1, 1)),
    case("avg_pool1d", input=rand(2, 3, 10), kernel_size=4, stride=3, padding=2, ceil_mode=True,
         count_include_pad=False),
    case("avg_pool2d", input=rand(2, 3, 7, 6), kernel_size=3, stride=2, padding=1, ceil_mode=True),
    case("avg_pool2d", input=rand(1, 2, 5, 7), kernel_size=(2, 3), padding=(1, 1),
         count_include_pad=False, divisor_override=5),
    case("avg_pool3d", input=rand(1, 2, 5, 4, 6), kernel_size=3, stride=2, padding=1,
         ceil_mode=True, count_include_pad=False),
    case("avg_pool3d", input=rand(1, 2, 4, 4, 5), kernel_size=2, divisor_override=3),
    case("adaptive_avg_pool1d", input=rand(2, 3, 10), output_size=4),
    case("adaptive_avg_pool2d", input=rand(2, 3, 7, 5), output_size=(3, None)),
    case("adaptive_avg_pool2d", input=rand(2, 3, 4), output_size=(5, 6)),  # unbatched, upsampling
    case("adaptive_avg_pool3d", input=rand(1, 2, 5, 4, 7), output_size=(2, 3, 2)),

    case("batch_norm", input=rand(3, 5, 4, 3), running_mean=rand(5),
         running_var=rand(5, positive=True), weight=rand(5), bias=rand(5), training=True,
         momentum=0.2),
    case("batch_norm", input=rand(4, 3, 5, 6), running_mean=None, running_var=None,
         training=True),  # rows of 120 > 64 work-items
    case("batch_norm", input=rand(6, 5), running_mean=rand(5), running_var=rand(5, positive=True),
         training=True),
    case("batch_norm", input=rand(2, 4, 3, 5), running_mean=rand(4),
         running_var=rand(4, positive=True), weight=rand(4), training=False),
    case("layer_norm", input=rand(3, 2, 4, 5), normalized_shape=(4, 5), weight=rand(4, 5),
         bias=rand(4, 5)),
    case("layer_norm", input=rand(2, 70), normalized_shape=70),
    case("instance_norm", input=rand(2, 3, 4, 5), running_mean=rand(3),
         running_var=rand(3, positive=True), weight=rand(3), bias=rand(3), momentum=0.3),
    case("instance_norm", input=rand(2, 3, 9, 9)),
    case("instance_norm", input=rand(2, 3, 4), running_mean=rand(3),
         running_var=rand(3, positive=True), use_input_stats=False),
    case("group_norm", input=rand(2, 6, 5, 3), num_groups=2, weight=rand(6), bias=rand(6)),
    case("group_norm", input=rand(3, 4, 7), num_groups=1),
    # Runs long enough for the backward's 32- and 16-element steps, with tails; parameter
    # gradients from per-block sums (CPU) and column sums over 16 columns and a remainder.
    case("batch_norm", input=rand(2, 3, 37), running_mean=None, running_var=None, weight=rand(3),
         bias=rand(3), training=True),
    case("layer_norm", input=rand(3, 37), normalized_shape=37, weight=rand(37), bias=rand(37)),
    case("group_norm", input=rand(2, 4, 19), num_groups=2, weight=rand(4)),
    case("batch_norm", input=rand(2, 17, 3), running_mean=None, running_var=None,
         weight=rand(17), bias=rand(17), training=True),

    # depthwise_conv2d: lanes moved in at both edges (padding 1 to 3), lane by lane (4), a
    # channel multiplier, an even kernel with 'same' padding; its epilogue.
    case("conv2d", input=rand(2, 3, 5, 19), weight=rand(3, 1, 3, 3), bias=rand(3), padding=1,
         groups=3),
    case("conv2d", input=rand(1, 2, 4, 21), weight=rand(4, 1, 7, 5), padding=(3, 2), groups=2),
    case("conv2d", input=rand(1, 2, 3, 18), weight=rand(2, 1, 3, 3), padding=4, groups=2),
    case("conv2d", input=rand(1, 2, 4, 17), weight=rand(2, 1, 4, 4), padding="same", groups=2),
    # Output rows of 16+ from input rows of 14: not depthwise_conv2d (its edge loads would
    # read 16 elements of a 14-element row).
    case("conv2d", input=rand(1, 2, 3, 14), weight=rand(2, 1, 3, 3), padding=3, groups=2),
    case("fused_conv2d", input=rand(1, 2, 3, 16), weight=rand(2, 1, 3, 3), padding=1, groups=2,
         activation="leaky_relu", negative_slope=0.3),
    # winograd_conv2d (cpu-launch; 16+ channels): a partial block of output channels, a row of
    # tiles in one vector and in two, odd sizes, padding 0 and 1; its epilogue.
    case("conv2d", input=rand(1, 16, 3, 17), weight=rand(17, 16, 3, 3), bias=rand(17),
         padding=1),
    case("fused_conv2d", input=rand(1, 16, 3, 35), weight=rand(16, 16, 3, 3), padding=0,
         activation="relu"),
    # Activations in the convolution's epilogue (clconv.fused), both kernels' store paths.
    case("fused_conv2d", input=rand(2, 3, 5, 19), weight=rand(5, 3, 3, 3), bias=rand(5),
         padding=1, activation="relu"),
    case("fused_conv1d", input=rand(2, 4, 21), weight=rand(6, 2, 3), stride=2, groups=2,
         activation="leaky_relu", negative_slope=0.1),
    case("fused_conv3d", input=rand(1, 2, 3, 4, 5), weight=rand(3, 2, 2, 2, 2), bias=rand(3),
         activation=None),
    # float16 storage: the conversions in and out (vector steps and tails), in-place updates
    # of float16 running statistics.
    case("conv2d", input=rand(2, 3, 5, 20), weight=rand(4, 3, 3, 3), bias=rand(4), padding=1,
         half=True),
    case("batch_norm", input=rand(3, 4, 5, 7), running_mean=rand(4),
         running_var=rand(4, positive=True), weight=rand(4), bias=rand(4), training=True,
         half=True),
    case("max_pool2d", input=rand(1, 2, 6, 35), kernel_size=2, return_indices=True, half=True),

    case("relu", input=rand(3, 50)),
    case("relu", input=rand(2, 3, 5), inplace=True, backward=False),
    case("leaky_relu", input=rand(70), negative_slope=0.2),
    case("leaky_relu", input=rand(4, 5), negative_slope=0.1, inplace=True, backward=False),
    case("add", input=rand(3, 4, 5), other=rand(3, 4, 5)),
    case("add", input=rand(2, 3, 4, 5), other=rand(3, 1, 5)),
    case("add", input=rand(4, 1), other=rand(1, 6)),
    case("add", input=rand(1), other=rand(2, 3)),
    case("linear", input=rand(5, 7), weight=rand(10, 7), bias=rand(10)),
    case("linear", input=rand(2, 3, 9), weight=rand(3, 9)),
    case("linear", input=rand(7), weight=rand(17, 7), bias=rand(17)),

    case("cross_entropy", input=rand(6, 5), target=labels(6, classes=5)),
    case("cross_entropy", input=rand(70, 3), target=labels(70, classes=3),
         weight=rand(3, positive=True), ignore_index=1, reduction="sum"),
    case("cross_entropy", input=rand(5, 9), target=labels(5, classes=9), reduction="none"),
    case("mse_loss", input=rand(3, 4, 5), target=rand(3, 4, 5)),
    case("mse_loss", input=rand(70), target=rand(70), reduction="sum"),
    case("mse_loss", input=rand(2, 7), target=rand(2, 7), reduction="none"),
    # Optimizer updates (clconv.optim), against reference.sgd_step / adam_step.
    case("SGD", backward=False, param=rand(37), grad=rand(37), lr=0.1, momentum=0.9,
         nesterov=True, weight_decay=0.01),
    case("SGD", backward=False, param=rand(3, 5), grad=rand(3, 5), lr=0.1),
    case("Adam", backward=False, param=rand(5, 7), grad=rand(5, 7), lr=0.01, weight_decay=0.1),
    # Weight gradients on CPUs (conv_grad.py): depthwise work-items padding their own planes
    # (vector row copies with a stepped-back last vector, phases, two blocks of 7x7 taps, 3D),
    # and the flat path over padded volumes (depth phases, groups, dilation).
    case("conv2d", input=rand(2, 3, 5, 19), weight=rand(6, 1, 3, 3), padding=1, groups=3),
    case("conv2d", input=rand(1, 2, 9, 8), weight=rand(2, 1, 3, 3), stride=2, padding=2,
         dilation=2, groups=2),
    case("conv2d", input=rand(1, 2, 8, 9), weight=rand(2, 1, 7, 7), padding=3, groups=2),
    case("conv3d", input=rand(1, 2, 3, 4, 5), weight=rand(4, 1, 2, 3, 3), padding=(1, 0, 1),
         groups=2),
    case("conv3d", input=rand(2, 4, 3, 5, 6), weight=rand(6, 2, 3, 2, 3), stride=(2, 1, 2),
         padding=(1, 1, 0), dilation=(1, 2, 1), groups=2),
    # Weight gradients (float32): 1x1 in place (conv_backward_weight_pointwise: a masked last
    # vector, partial channel tiles, groups) and rows of taps (conv_backward_weight_rows:
    # blocks of a 7-wide row, the last repeating a tap; partial tiles; strides).
    case("conv2d", input=rand(2, 7, 5, 7), weight=rand(11, 7, 1, 1)),
    case("conv2d", input=rand(1, 6, 4, 8), weight=rand(9, 2, 1, 1), groups=3),
    case("conv2d", input=rand(1, 4, 4, 5), weight=rand(94, 2, 1, 1), groups=2),  # bands
    case("conv2d", input=rand(1, 3, 6, 9), weight=rand(5, 3, 3, 7), padding=(1, 3)),
    case("conv2d", input=rand(2, 5, 7, 8), weight=rand(7, 5, 3, 3), stride=2, padding=1,
         dilation=(1, 2)),
    # The CPU weight gradients with their reduction in runs (parts of a plane, partial tiles
    # summed in order): rows of taps, and the flat kernel (a 1-wide kernel, strided).
    case("conv2d", input=rand(2, 3, 6, 9), weight=rand(4, 3, 3, 3), padding=1,
         forced={"tuning": {"conv_weight_grad": {"rows": {"run_bytes": 64, "min_run": 16}}}}),
    case("conv2d", input=rand(2, 3, 8, 7), weight=rand(5, 3, 3, 1), stride=2,
         forced={"tuning": {"conv_weight_grad": {"flat": {"run_bytes": 64, "min_run": 16}}}}),
    # The GPU weight gradient split into runs of 7 (sample, position) pairs (its last run
    # shorter), the partial tiles summed by sum_slices; partial channel tiles, a stride.
    case("conv2d", input=rand(3, 5, 6, 7), weight=rand(10, 5, 3, 3), stride=(2, 1), padding=1,
         forced={"conv_weight_grad": "general",
                 "tuning": {"conv_weight_grad": {"general": {"chunk": 7}}}}),
]


# --- Oclgrind -------------------------------------------------------------------------------

def oclgrind_icd_library() -> Path:
    """liboclgrind-rt-icd.so: Debian's place, or lib/ next to the oclgrind executable's bin/."""
    candidates = [Path("/usr/lib/oclgrind/liboclgrind-rt-icd.so")]
    executable = shutil.which("oclgrind")
    if executable:
        prefix = Path(executable).resolve().parent.parent
        candidates += [prefix / "lib" / "oclgrind" / "liboclgrind-rt-icd.so",
                       prefix / "lib" / "liboclgrind-rt-icd.so"]
    for path in candidates:
        if path.is_file():
            return path
    sys.exit("sanitize: Oclgrind's ICD library was not found (looked at "
             f"{', '.join(map(str, candidates))}); `apt-get install oclgrind` provides it")


def oclgrind_environment(scratch: Path) -> None:
    """Make Oclgrind the only OpenCL platform, with its checks on; before pyopencl starts."""
    icd = scratch / "oclgrind.icd"
    icd.write_text(f"{oclgrind_icd_library()}\n")
    os.environ["OCL_ICD_VENDORS"] = str(icd)
    os.environ.update(OCLGRIND_SETTINGS)
    for variable in ("PYOPENCL_CTX", "CLCONV_POISON", "CLCONV_CHECK"):
        os.environ.pop(variable, None)


@contextmanager
def stderr_captured():
    """Route file descriptor 2, where Oclgrind writes, to a file; yields a reader of what came."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:

        def written() -> str:
            sys.stderr.flush()
            log.seek(0)
            return log.read().decode(errors="replace")

        os.dup2(log.fileno(), 2)
        try:
            yield written
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def reports(stderr_text: str) -> list[str]:
    """The messages on stderr: each starts at an unindented line, its details are indented
    (Oclgrind's data-race reports have blank lines inside). pyopencl's probe is left out."""
    messages: list[list[str]] = []
    for line in stderr_text.splitlines():
        if line.strip() and (not messages or not line[0].isspace()):
            messages.append([])
        if line.strip():
            messages[-1].append(line.rstrip())
    return [text for text in map("\n".join, messages) if text != PYOPENCL_NV_PROBE]


def summarized(messages: list[str]) -> list[str]:
    """Each distinct message once (work-item and addresses aside), with how often it came."""
    counts: Counter = Counter()
    first: dict[str, str] = {}
    for message in messages:
        key = re.sub(r"0x[0-9a-f]+|[Ee]ntity: .*", "", message)
        counts[key] += 1
        first.setdefault(key, message)
    return [first[key] + (f"\n({counts[key] - 1} more like it)" if counts[key] > 1 else "")
            for key in first]


# --- running --------------------------------------------------------------------------------

class KeptBuffers:
    """An allocator of exact-size buffers that stay allocated for the whole run.

    Exact size, because a pooled buffer is larger than its tensor and a read just past the end
    would land in the slack unreported. Never released, because Oclgrind 21.10's uninitialized-
    value checker keeps a released buffer's record when a larger buffer reuses its address: the
    new buffer's tail then reads as never written, however often a kernel writes it.
    """

    def __init__(self, context):
        self.context = context
        self.buffers = []

    def __call__(self, nbytes: int):
        import pyopencl as cl

        buffer = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, nbytes)
        self.buffers.append(buffer)
        return buffer


def oclgrind_device():
    """clconv's device, which must be Oclgrind's, with kept exact-size buffers, no NaN filling."""
    import clconv
    import clconv.tensors

    device = clconv.get_device()
    if device.platform_name != "Oclgrind":
        sys.exit(f"sanitize: clconv chose {device!r}, not Oclgrind's simulator")
    device.allocator = KeptBuffers(device.context)
    return device


def record_launches() -> set[str]:
    """The names of the kernels launched from now on (clconv launches only in runtime.launch,
    which tells its launch hooks)."""
    from clconv import runtime

    launched: set[str] = set()
    runtime.on_launch(lambda device, kernel, *rest: launched.add(kernel.function_name))
    return launched


def all_kernels() -> dict[str, str]:
    """Every kernel in the .cl sources clconv uses: name -> file."""
    from clconv.runtime import kernels_dir

    found = {}
    for source in sorted(kernels_dir().glob("*.cl")):
        for name in re.findall(r"__kernel\b[^;{]*?\bvoid\s+(\w+)\s*\(", source.read_text()):
            found[name] = source.name
    return found


def detection_works(device) -> bool:
    """Oclgrind must report an out-of-bounds read and a use of never-written memory."""
    from clconv import empty, runtime, tensor

    with stderr_captured() as read:
        x, y, never_written = tensor(np.ones(4, np.float32)), empty(5), empty(4)
        relu = runtime.get_kernel(device, "elementwise", "relu_forward",
                                  **runtime.dtype_defines(x.dtype))
        runtime.launch(device, relu, (5,), (1,), x.array.data, y.array.data, np.int32(5))
        runtime.launch(device, relu, (4,), (1,), never_written.array.data, x.array.data,
                       np.int32(4))
        device.synchronize()
        found = "\n".join(reports(read()))
    missing = [what for what in ("Invalid read", "Uninitialized value") if what not in found]
    if missing:
        print(f"sanitize: Oclgrind did not report {' or '.join(missing)} for deliberately bad "
              f"launches, so its checks are not active. It wrote:\n{found}")
    return not missing


def copies(arguments: dict) -> dict:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in arguments.items()}


def optimizer_problems(test: Case, arguments: dict, dtype) -> list[str]:
    """Two steps of clconv.optim.<op> against reference.<op>_step."""
    import clconv
    import clconv.optim
    import clconv.reference as R
    from clconv.testing import mismatch

    options = {k: v for k, v in arguments.items() if k not in ("param", "grad")}
    param = clconv.tensor(arguments["param"], requires_grad=True)
    optimizer = getattr(clconv.optim, test.op)([param], **options)
    expected, state = arguments["param"], (None,) if test.op == "SGD" else \
        (np.zeros_like(arguments["param"]),) * 2
    for step in (1, 2):
        param.grad = clconv.tensor(arguments["grad"])
        optimizer.step()
        if test.op == "SGD":
            expected, *state = R.sgd_step(expected, arguments["grad"], *state, **options)
        else:
            expected, *state = R.adam_step(expected, arguments["grad"], *state, step, **options)
    problem = mismatch(param.numpy(), expected)
    return [f"parameters after two steps: {problem}"] if problem else []


def device_op(name: str):
    """The op table's function for <name>: clconv.functional.<name>, or clconv.fused.<rest> for
    fused_<rest>."""
    from clconv.optable import OPS

    return OPS[name].function


def forward_problems(test: Case, arguments: dict, dtype, rng) -> list[str]:
    """The op in check mode, which compares outputs and updated arguments with the reference."""
    import clconv

    if test.op in ("SGD", "Adam"):
        return optimizer_problems(test, arguments, dtype)

    with clconv.checking():
        result = device_op(test.op)(**arguments)
    first = result[0] if isinstance(result, tuple) else result
    return [] if first.dtype == dtype else [f"output dtype {first.dtype}, expected {dtype}"]


def backward_problems(test: Case, arguments: dict, dtype, rng) -> list[str]:
    """Backpropagate a random gradient; compare each .grad with reference.<op>_backward."""
    import clconv
    from clconv.optable import OPS
    from clconv.testing import mismatch

    names = OPS[test.op].differentiable
    leaves = {name: clconv.tensor(arguments[name], requires_grad=True)
              for name in names if arguments.get(name) is not None}
    output = device_op(test.op)(**{**copies(arguments), **leaves})
    output = output[0] if isinstance(output, tuple) else output
    grad_output = np.asarray(rng.standard_normal(output.shape), dtype=dtype)
    output.backward(grad_output)
    reference_arguments = copies(arguments)
    reference_arguments.pop("return_indices", None)  # no bearing on the gradient
    expected = OPS[test.op].backward(grad_output, **reference_arguments)
    problems = []
    for name, want in zip(names, expected if isinstance(expected, tuple) else (expected,)):
        if name in leaves:
            got = leaves[name].grad
            problem = "none computed" if got is None else mismatch(got.numpy(), want)
            if problem:
                problems.append(f"gradient of {name}: {problem}")
    return problems


def run_case(device, test: Case, dtype, rng) -> list[str]:
    """Problems with one case: Oclgrind's reports, wrong results, errors raised."""
    arguments = {name: value.make(rng, dtype) if isinstance(value, RandomArray) else value
                 for name, value in test.arguments.items()}
    passes = (forward_problems, backward_problems) if test.backward else (forward_problems,)
    problems = []
    with stderr_captured() as read:
        for check in passes:
            direction = check.__name__.split("_")[0]
            try:
                problems += [f"{direction}: {p}" for p in check(test, copies(arguments), dtype, rng)]
            except Exception as error:  # a mismatch (CheckError) or a failure: report, go on
                where = traceback.extract_tb(error.__traceback__)[-1]
                problems.append(f"{direction}: {type(error).__name__}: {error} (raised at "
                                f"{Path(where.filename).name}:{where.lineno} in {where.name})")
        device.synchronize()
        problems = summarized(reports(read())) + problems
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", metavar="SUBSTRING",
                        help="run only the cases whose name contains SUBSTRING")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clconv-sanitize-") as scratch:
        oclgrind_environment(Path(scratch))
        with stderr_captured() as read:
            device = oclgrind_device()
            startup = reports(read())
        from clconv.runtime import kernels_dir

        print(f"sanitize: {device.name} ({device.platform_name}) with data-race, uninitialized-"
              f"value and API checks; kernels from {kernels_dir()}")
        if startup:
            print("sanitize: Oclgrind reported while clconv chose the device:\n" + "\n".join(startup))
            return 1
        if not detection_works(device):
            return 1

        from clconv import config

        launched = record_launches()
        failed, count, start = 0, 0, time.perf_counter()
        for launch, profile in PROFILES.items():
            for dtype in device.dtypes() + (HALF,):
                for test in CASES:
                    name = f"{test} {dtype} {launch}"
                    if options.k not in name or not test.runs_in(dtype):
                        continue
                    if profile.get("vector_bytes") == 32 and not (
                            test.half or any(op in test.op for op in VECTOR_OPS)):
                        continue
                    count += 1
                    began = time.perf_counter()
                    rng = np.random.default_rng(zlib.crc32(name.encode()))
                    with config.override(**profile, poison=False, **test.forced):
                        problems = run_case(device, test, dtype, rng)
                    print(f"{'FAIL' if problems else 'ok  '} {time.perf_counter() - began:5.2f}s "
                          f"{name}")
                    for problem in problems:
                        print("    " + problem.replace("\n", "\n    "))
                    failed += bool(problems)
        if not count:
            print(f"sanitize: no case matches -k {options.k!r}")
            return 1
        not_run = [f"{file}:{name}" for name, file in all_kernels().items() if name not in launched]
        print(f"sanitize: {count - failed} of {count} cases clean under Oclgrind in "
              f"{time.perf_counter() - start:.0f} s; kernels never launched: "
              f"{', '.join(not_run) or 'none'}")
        if not_run and not options.k:  # (a -k selection launches only some)
            print("sanitize: FAIL: every kernel must be launched by some case")
            return 1
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
