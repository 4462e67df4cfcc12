"""ONNX's own backend test suite (onnx.backend.test.BackendTest) against clconv.onnx.Backend, with
ONNX's default tolerances, for every op clconv implements (README.md lists them).

Each of these ops' node tests runs; the ones clconv cannot pass are excluded below by reason and
reported as skipped ("matched exclude pattern"), as are all the tests of ops clconv does not
implement ("no matched include pattern") - none is dropped silently.
"""
import pytest

pytest.importorskip("onnx", reason="onnx not installed (pip install '.[test]')")
import onnx.backend.test  # noqa: E402

import clconv.onnx  # noqa: E402

# ONNX's node-test names of the ops clconv implements (clconv.onnx.SUPPORTED).
INCLUDED = [
    "abs", "add", "averagepool", "batchnorm", "cast", "ceil", "clip", "concat", "constant",
    "constantofshape", "conv", "convtranspose", "div", "dropout", "elu", "equal", "erf", "exp", "expand",
    "flatten", "floor", "gather", "gelu", "gemm", "globalaveragepool", "globalmaxpool",
    "hardsigmoid", "hardswish", "identity", "instancenorm", "layer_normalization", "leakyrelu",
    "log", "logsoftmax", "lrn", "matmul", "max", "maxpool", "min", "mul", "pad", "range", "reduce_mean",
    "reduce_sum", "relu", "reshape", "resize", "shape", "sigmoid", "size", "slice", "softmax", "split",
    "sqrt", "squeeze", "sub", "tanh", "transpose", "unsqueeze", "where",
]

# Tests of those ops that clconv does not pass, by reason.
EXCLUDED = {
    # clconv computes in float32 (float64 where the device has it) and stores float16;
    # integer, boolean, string and 8-/4-bit float tensors exist only as host shape arithmetic.
    "dtypes": r"(u?int(2|4|8|16|32|64)|INT(2|4)|UINT(2|4)|FLOAT8|FLOAT4|BFLOAT16|bfloat16|"
              r"float16|FLOAT16|e8m0|string|DOUBLE|_bool)",
    # A function body's expansion into ops clconv lacks (ReduceMax, Exp, ...); the op itself runs.
    "expanded": r"_expanded",
    # Models of opsets before 11 (the PyTorch-converted and operator tests).
    "old opsets": r"(test_(log_)?softmax_(lastdim|functional_dim3|dim3)|test_expand_shape_model)",
    # Sequences and optional values.
    "sequences": r"(_sequence|_opt)",
    # Extra outputs: MaxPool's indices, LayerNormalization's statistics.
    "extra outputs": r"(maxpool_with_argmax|layer_normalization_)",
    # BatchNormalization's training_mode attribute (clconv follows model.train()).
    "training_mode": r"batchnorm_.*training_mode",
    # PyTorch's average pooling: no dilations; padding that is not counted (count_include_pad
    # 0) symmetric and at most half the kernel.
    "pooling": r"averagepool_(2d|3d)_(dilations|pads_cpu|same_lower|same_upper|3d_dilations)",
    # Shape arithmetic on device tensors (Gather, Range, Equal, Where: host only).
    "host only": r"(gather|range|equal|where)_",
    # Resize's modes other than PyTorch's (cubic, round_prefer_floor and the other nearest
    # modes, half_pixel_symmetric, tf_crop_and_resize, antialias, keep_aspect_ratio_policy).
    "resize": r"resize_(?!(downsample_scales_linear|upsample_scales_linear|"
              r"upsample_scales_linear_align_corners)_cpu)",
    # Slices with steps other than 1 on device tensors.
    "slice steps": r"slice_neg_steps",
}

backend_test = onnx.backend.test.BackendTest(clconv.onnx.Backend, __name__)
backend_test.include(r"^test_(%s)(_.*)?_cpu$" % "|".join(INCLUDED))
for pattern in EXCLUDED.values():
    backend_test.exclude(pattern)

# BackendTest makes unittest classes; they run here as plain tests, so that the suite's
# fixtures (every device, NaN-poisoned outputs) apply to them too. Excluded and not included
# tests raise unittest.SkipTest, which pytest reports as skipped with ONNX's reason.
CASES = [(cls, name) for cls in backend_test.test_cases.values()
         for name in sorted(vars(cls)) if name.startswith("test_")]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case[1])
def test_onnx_backend(device, case):
    cls, name = case
    if not device.has_fp64 and ("float64" in name or "double" in name.lower()):
        pytest.skip(f"{device.name} has no cl_khr_fp64")
    getattr(cls(name), name)()
