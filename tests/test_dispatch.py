"""The dispatcher: which algorithm runs each named kernel path, under a CPU profile and under a
GPU profile (CLCONV_PROFILE / config.override(profile=...)), on this device. Each path is asserted
twice: clconv.explain names it, and a run records it (dispatch.recording) while its forward and
gradients match clconv.reference. Then the choice itself, on synthetic profiles (an AVX2 CPU,
devices with little local memory or small allocations), the table's order, forced algorithms
and their errors."""
from dataclasses import dataclass, replace

import numpy as np
import pytest

import clconv
import clconv.functional as F
from clconv import config, dispatch, tuning
from clconv.ops.conv_geometry import ConvProblem, conv_geometry
from helpers import check_grad, check_op, conv_weight, randn

PROFILES = ["cpu", "gpu"]


@dataclass(frozen=True)
class Path:
    """An op's call and, per family, the algorithm expected under the (CPU, GPU) profiles."""
    name: str
    op: str
    shapes: tuple                 # the array arguments' shapes (None: the argument is None)
    options: dict
    expected: dict                # family -> (cpu, gpu); None: not asserted under that profile
    extra: tuple = ()             # positional arguments after the arrays
    limited: dict = None          # family -> (cpu, gpu) where the device's loops stop early
    tuning: dict = None           # a table laid over the shipped one (config.override)

    def __str__(self):
        return self.name


PATHS = [
    Path("depthwise", "conv2d", ((2, 4, 9, 20), (4, 1, 3, 3), None), dict(padding=1, groups=4),
         {"conv_forward": ("depthwise", "depthwise_local"),
          "conv_input_grad": ("transposed", "transposed"),
          "conv_weight_grad": ("depthwise", "general")}),
    Path("winograd", "conv2d", ((1, 16, 6, 20), (16, 16, 3, 3), None), dict(padding=1),
         {"conv_forward": ("winograd", "local"), "conv_weight_grad": ("rows", "local")}),
    Path("direct-3x3-few-channels", "conv2d", ((2, 5, 6, 20), (5, 5, 3, 3), None), dict(padding=1),
         {"conv_forward": ("direct", "general")}),
    # up to 4 input channels (a network's first layer): conv_rows reads the input in place
    Path("rows-first-layer", "conv2d", ((2, 3, 9, 40), (20, 3, 3, 3), (20,)),
         dict(stride=2, padding=1), {"conv_forward": ("rows", None)}),
    Path("direct-strided-phases", "conv2d", ((2, 5, 9, 11), (6, 5, 3, 3), None), dict(stride=2, padding=1),
         {"conv_forward": ("direct", "general"), "conv_input_grad": ("phases", "phases"),
          "conv_weight_grad": ("rows", "general")}),
    Path("pointwise", "conv2d", ((2, 8, 5, 7), (6, 8, 1, 1), None), {},
         {"conv_forward": ("direct", "general"), "conv_input_grad": ("transposed", "transposed"),
          "conv_weight_grad": ("pointwise", "general")}),
    # 1x1 on planes of 160+ positions with 8+ work-items per compute unit: conv_pointwise
    # (128 work-items: enough for devices of up to 16 compute units)
    Path("pointwise-spans", "conv2d", ((8, 16, 64, 64), (12, 16, 1, 1), (12,)), {},
         {"conv_forward": ("pointwise", "general")},
         limited={"conv_forward": ("direct", "general")}),
    Path("pointwise-1x1-planes", "conv2d", ((9, 37, 1, 1), (19, 37, 1, 1), (19,)), {},
         {"conv_forward": ("dot", "general")}),
    Path("flat-1x1-strided", "conv2d", ((2, 5, 9, 8), (4, 5, 1, 1), None), dict(stride=2),
         {"conv_forward": ("direct", "general"), "conv_input_grad": ("phases", "phases"),
          "conv_weight_grad": ("flat", "general")}),
    Path("gather-padding-past-reach", "conv2d", ((1, 2, 4, 5), (3, 2, 2, 2), None), dict(padding=2),
         {"conv_input_grad": ("general", "general")}),
    Path("conv3d", "conv3d", ((1, 2, 4, 5, 6), (3, 2, 3, 3, 3), None), dict(padding=1),
         {"conv_forward": ("direct", "general"), "conv_input_grad": ("transposed", "transposed"),
          "conv_weight_grad": ("rows", "general")}),
    # 16+ output channels per group on GPUs: conv_local's implicit GEMM in local memory, for the
    # forward and for the input gradient's stride-1 (transposed) and phase convolutions, and
    # the weight gradient's, split across work-groups (84 and more pairs: 2+ splits on any
    # device). The CPU profile's choices here differ between devices (winograd or direct).
    Path("conv-local", "conv2d", ((2, 20, 6, 7), (24, 20, 3, 3), (24,)), dict(padding=1),
         {"conv_forward": (None, "local"), "conv_input_grad": ("transposed", "transposed"),
          "conv_weight_grad": (None, "local")}),
    Path("conv-local-strided-groups", "conv2d", ((2, 36, 9, 11), (34, 18, 3, 3), None),
         dict(stride=2, padding=2, dilation=2, groups=2),
         {"conv_forward": (None, "local"), "conv_input_grad": ("phases", "phases"),
          "conv_weight_grad": (None, "local")}),
    Path("conv-local-3d", "conv3d", ((1, 16, 3, 4, 5), (17, 16, 2, 3, 3), (17,)), dict(padding=1),
         {"conv_forward": (None, "local"), "conv_input_grad": ("transposed", "transposed"),
          "conv_weight_grad": (None, "local")}),
    # Winograd for GPUs where the table's order names it first (no default order does: not
    # measured on a GPU): its transforms and 16 batched products (gemm_local on GPUs), an odd
    # output size (the last tiles half outside); the input gradient's transposed convolution
    # (3x3, stride 1) takes it too; with fewer than its 64 channels, conv_local.
    Path("winograd-local", "conv2d", ((2, 64, 5, 9), (64, 64, 3, 3), (64,)), dict(padding=1),
         {"conv_forward": ("winograd_local", "winograd_local"),
          "conv_input_grad": ("transposed", "transposed")},
         tuning={"conv_forward": {"order": ["winograd_local", "local", "general"]}}),
    Path("winograd-local-few-channels", "conv2d", ((2, 16, 7, 9), (20, 16, 3, 3), (20,)),
         dict(padding=1), {"conv_forward": ("local", "local")},
         tuning={"conv_forward": {"order": ["winograd_local", "local", "general"]}}),
    # strided 3D input gradients phase by phase too (8 phases at stride 2, one without taps in
    # a dimension where the kernel has fewer taps than the stride)
    Path("conv3d-strided-phases", "conv3d", ((1, 2, 5, 6, 7), (3, 2, 3, 1, 3), None),
         dict(stride=(2, 2, 3), padding=(1, 0, 1)), {"conv_input_grad": ("phases", "phases")}),
    Path("max-pool-2x2", "max_pool2d", ((2, 3, 6, 40),), {}, {
        "max_pool_forward": ("k2s2", "general"), "max_pool_backward": ("k2s2", "general")},
         (2,)),
    Path("max-pool-any", "max_pool2d", ((2, 3, 7, 9),), dict(stride=2, padding=1, dilation=2), {
        "max_pool_forward": ("general", "general"), "max_pool_backward": ("general", "general")},
         (3,)),
    Path("max-pool-rows", "max_pool2d", ((2, 3, 9, 40),), dict(stride=2, padding=1), {
        "max_pool_forward": ("rows", "general"), "max_pool_backward": ("general", "general")},
         (3,)),
    Path("avg-pool-3x3", "avg_pool2d", ((2, 3, 5, 20),), dict(stride=1, padding=1), {
        "avg_pool_forward": ("k3s1p1", "general"), "avg_pool_backward": ("k3s1p1", "general")},
         (3,)),
    Path("avg-pool-any", "avg_pool2d", ((2, 3, 6, 8),), {}, {
        "avg_pool_forward": ("general", "general"), "avg_pool_backward": ("general", "general")},
         (2,)),
    Path("norm-rows", "batch_norm", ((4, 3, 6, 6), None, None, (3,), (3,)), dict(training=True),
         {"norm_forward": ("rows", "chunked"), "norm_backward": ("rows", "general")}),
    Path("norm-long-rows", "layer_norm", ((2, 300_000), (300_000,), (300_000,)), {},
         {"norm_forward": ("chunked", "chunked"), "norm_backward": ("rows", "general")},
         ((300_000,),), limited={"norm_backward": ("general", "general")}),
    Path("gemm", "linear", ((5, 33), (10, 33), (10,)), {}, {"gemm": ("dot", "tiled")}),
    Path("gemm-tiled", "matmul", ((5, 33), (33, 10)), {}, {"gemm": ("tiled", "tiled")}),
    # 16+ rows and columns on GPUs: blocks in local memory (forward and both gradients, whose
    # operands are contiguous along k, m or n)
    Path("gemm-local", "linear", ((40, 70), (50, 70), (50,)), {}, {"gemm": ("dot", "local")}),
    Path("gemm-local-batched", "matmul", ((3, 20, 37), (37, 18)), {},
         {"gemm": ("tiled", "local")}),
]


def _arguments(path: Path, rng):
    arrays = []
    for i, shape in enumerate(path.shapes):
        if shape is None:
            arrays.append(None)
        elif path.op.startswith("conv") and i == 1:
            arrays.append(conv_weight(rng, shape, np.float32))
        else:
            arrays.append(randn(rng, shape, np.float32))
    if path.op == "layer_norm":  # (input, normalized_shape, weight, bias)
        return [arrays[0], *path.extra, *arrays[1:]]
    return arrays + list(path.extra)


def _expected(path: Path, profile: str, device) -> dict:
    """The path's algorithms under `profile`; where the device stops long loops (Mesa's
    llvmpipe), the ones a work-item per row cannot run are passed over."""
    expected = dict(path.expected, **(path.limited or {}) if device.profile.loop_limit else {})
    return {family: choices[PROFILES.index(profile)] for family, choices in expected.items()
            if choices[PROFILES.index(profile)] is not None}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", PATHS, ids=str)
def test_explain_names_the_path(device, rng, path, profile):
    with config.override(profile=profile, tuning=path.tuning):
        explanation = clconv.explain(getattr(F, path.op), *_arguments(path, rng), **path.options)
        for family, algorithm in _expected(path, profile, device).items():
            assert explanation[family].algorithm == algorithm, str(explanation)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", PATHS, ids=str)
def test_the_named_path_runs_and_matches_the_reference(device, rng, path, profile):
    args = _arguments(path, rng)
    with config.override(profile=profile, tuning=path.tuning), dispatch.recording() as made:
        check_op(path.op, *args, case=path.name, **path.options)
        check_grad(rng, path.op, *args, case=path.name, **path.options)
    ran = {}
    for choice in made:
        ran.setdefault(choice.family, set()).add(choice.algorithm)
    for family, algorithm in _expected(path, profile, device).items():
        assert algorithm in ran.get(family, set()), f"{family}: ran {ran.get(family)}"


# conv_local's interior path (blocks whose rows are all output channels: unchecked weight
# loads, 4-wide where the reduction is a multiple of 4) beside its edge path (the last block
# of channels, the last partial slice), at the shipped blocking (64 rows) and at small blocks
# (16 rows: several interior blocks), with padding (the gather's per-tap mask at the border).
@pytest.mark.parametrize("blocks,widest", [
    (None, 4), ({"WG": [8, 8], "RM": 2, "RN": 2, "BK": 8}, 2), ({"vector": 1}, 1)],
    ids=["shipped-blocks", "small-blocks", "scalar-loads"])  # (4 and 2 weights per item; the
                                                            # table's widest vector 1)
@pytest.mark.parametrize("channels,aligned", [(20, True), (17, False)], ids=["vectors", "scalars"])
def test_conv_local_interior_and_edge_blocks(device, rng, blocks, widest, channels, aligned):
    vector = widest if aligned else 1  # (a reduction of 20 x 9 taps, or 17 x 9)
    x = randn(rng, (2, channels, 5, 6), np.float32)
    w, b = conv_weight(rng, (70, channels, 3, 3), np.float32), randn(rng, (70,), np.float32)
    tuning = {"conv_forward": {"local": blocks}} if blocks else None
    with config.override(profile="gpu", tuning=tuning), dispatch.recording() as made:
        check_op("conv2d", x, w, b, padding=1, case="conv_local interior")
        check_grad(rng, "conv2d", x, w, b, padding=1, case="conv_local interior")
    forward = [c for c in made if c.family == "conv_forward" and c.problem.geo.out_channels == 70]
    assert forward and all(c.algorithm == "local" for c in forward), forward
    assert {c.params["VEC_A"] for c in forward} == {vector}
    rows = forward[0].params["WG_M"] * forward[0].params["RM"]
    assert 70 // rows >= 1 and 70 % rows, "an interior block and an edge block of channels"


def test_every_algorithm_has_a_named_path():
    named = {(family, choice) for path in PATHS for family, choices in path.expected.items()
             for choice in choices if choice is not None}
    every = {(family, name) for family in dispatch.families()
             for name in dispatch.algorithms(family)}
    # conv_forward's general kernel on CPUs and norm_backward's general one are also taken
    # below, from profiles and tables made for them.
    assert every - named == set(), every - named


# --- the choice itself, on synthetic profiles -----------------------------------------------

class _Stub:
    """A device for choose(): a profile and a name (no OpenCL behind it)."""

    def __init__(self, profile):
        self.profile = profile
        self.name = profile.name


def _problem(x_shape, w_shape, stride=1, padding=0, groups=1, dtype=np.float32):
    nd = len(x_shape) - 2
    geo = conv_geometry("conv2d", nd, x_shape, w_shape, stride, padding, 1, groups)
    return ConvProblem(geo, np.dtype(dtype))


def test_an_avx2_profile_gets_avx2_blocking(device):
    avx2 = replace(device.base_profile, kind="cpu", isa="avx2", target="haswell",
                   vector_bytes=32, vector_registers=16, vendor_key="pocl",
                   local_memory_bytes=2 << 20, loop_limit=None)
    stub = _Stub(avx2)
    choice = dispatch.choose("conv_forward", stub, _problem((2, 5, 9, 20), (6, 5, 3, 3), stride=2))
    assert choice.algorithm == "direct" and choice.params["VW"] == 8
    assert choice.params["BLOCK_K"] * choice.params["BLOCK_V"] <= 16  # within 16 registers
    choice = dispatch.choose("conv_forward", stub,
                             _problem((2, 3, 40, 40), (32, 3, 3, 3), stride=2, padding=1))
    assert choice.algorithm == "rows" and choice.params == {"VW": 8, "ROWS_K": 8}
    assert dispatch.choose("conv_forward", stub, _problem(
        (1, 16, 6, 20), (16, 16, 3, 3), padding=1)).params["VW"] == 8
    assert "isa:avx2" in avx2.tuning_keys()


def test_small_local_memory_or_allocations_rule_out_algorithms(device):
    cpu = replace(device.base_profile, kind="cpu", vector_bytes=64, vector_registers=32,
                  local_memory_bytes=2 << 20, max_alloc_bytes=1 << 30, loop_limit=None)
    problem = _problem((1, 512, 8, 40), (512, 512, 3, 3), padding=1)
    assert dispatch.choose("conv_forward", _Stub(cpu), problem).algorithm == "winograd"
    small = replace(cpu, local_memory_bytes=32 * 1024)
    choice = dispatch.choose("conv_forward", _Stub(small), problem)
    assert choice.algorithm == "direct"
    assert "bytes of local memory" in dict(choice.passed_over)["winograd"]
    tiny = replace(small, max_alloc_bytes=4096)
    choice = dispatch.choose("conv_forward", _Stub(tiny), problem)
    assert choice.algorithm == "general"
    assert "largest allocation" in dict(choice.passed_over)["direct"]


def test_the_tables_order_decides(device):
    problem = _problem((2, 5, 9, 20), (6, 5, 3, 3))
    with config.override(profile="cpu", tuning={"conv_forward": {"order": ["general"]},
                                                "norm_backward": {"order": ["general"]}}):
        assert dispatch.choose("conv_forward", device, problem).algorithm == "general"
        explanation = clconv.explain(F.batch_norm, np.ones((2, 3, 4), np.float32), None, None,
                                     training=True)
        assert explanation["norm_backward"].algorithm == "general"


def test_a_forced_algorithm_must_apply(device, rng):
    x, w = randn(rng, (1, 3, 5, 20), np.float32), conv_weight(rng, (4, 3, 5, 5), np.float32)
    with config.override(conv_forward="winograd"):
        with pytest.raises(ValueError, match=r"conv_forward: the forced algorithm 'winograd' "
                                             r"cannot run this problem: kernel \(5, 5\) is not 3x3"):
            F.conv2d(x, w)
    with pytest.raises(ValueError, match="conv_forward: no algorithm 'fastest'; it has depthwise"):
        with config.override(conv_forward="fastest"):
            pass
    with pytest.raises(TypeError, match="unknown setting or op family 'conv_fwd'"):
        with config.override(conv_fwd="direct"):
            pass


def test_settings_nest_and_restore(device):
    before = config.current()
    with config.override(profile="gpu", conv_forward="general"):
        with config.override(conv_forward=None, winograd=False):
            inner = config.current()
            assert inner.profile == "gpu" and inner.algorithm("conv_forward") is None
            assert not inner.winograd
        assert config.current().algorithm("conv_forward") == "general"
        assert device.profile.kind == "gpu" and device.is_gpu
    assert config.current() == before
    assert device.profile.kind == (before.profile or device.base_profile.kind)


def test_tuning_levels_are_laid_over_each_other(device):
    profile = device.base_profile
    entry = tuning.entry(profile)
    assert set(dispatch.families()) <= set(entry)
    with config.override(tuning={"gemm": {"tiled": {"TILE_M": 2}}}):
        changed = tuning.entry(profile)
        assert changed["gemm"]["tiled"]["TILE_M"] == 2
        assert changed["gemm"]["tiled"]["TILE_N"] == entry["gemm"]["tiled"]["TILE_N"]
    assert tuning.merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}) == \
        {"a": {"b": 1, "c": 3}, "d": 4}


def test_a_device_whose_loops_stop_early_passes_over_long_loops(device):
    cpu = replace(device.base_profile, kind="cpu", vector_bytes=64, vector_registers=32,
                  local_memory_bytes=2 << 20, max_alloc_bytes=1 << 30, loop_limit=None)
    problem = _problem((8, 512, 8, 40), (512, 512, 3, 3), padding=1)
    assert dispatch.choose("conv_forward", _Stub(cpu), problem).algorithm == "winograd"
    limited = replace(cpu, loop_limit=65535)  # Mesa's llvmpipe
    choice = dispatch.choose("conv_forward", _Stub(limited), problem)
    assert choice.algorithm == "general"
    assert "past the 65,535 iterations" in dict(choice.passed_over)["winograd"]
    # (llvmpipe counts the register tile's loops inside each channel-tap as well)
    assert "inner iterations each" in dict(choice.passed_over)["direct"]
    small = _problem((8, 64, 8, 40), (64, 64, 3, 3), padding=1)
    assert dispatch.choose("conv_forward", _Stub(limited), small).algorithm != "general"


# Past llvmpipe's limit on all of a work-item's loop iterations, the CPU kernels' register-tile
# loops (which it leaves rolled) made conv_direct, the weight gradients' tiles and gemm_dot
# return garbage under the CPU profile; the dispatcher now counts them. On other devices these
# are ordinary CPU-kernel checks at sizes the other tests do not reach.
LONG_LOOPS = [("conv2d", ((1, 512, 8, 16), (16, 512, 3, 3)), dict(padding=1)),
              ("conv2d", ((2, 4, 32, 64), (12, 4, 1, 1)), {}),
              ("conv2d", ((1, 4, 64, 64), (12, 4, 3, 3)), dict(padding=1)),
              ("conv2d", ((4, 8192, 1, 1), (8, 8192, 1, 1)), {}),
              ("linear", ((4, 8192), (16, 8192)), {})]


@pytest.mark.parametrize("op,shapes,options", LONG_LOOPS, ids=str)
def test_long_loops_under_the_cpu_profile_match_the_reference(device, rng, op, shapes, options):
    args = [conv_weight(rng, s, np.float32) if op == "conv2d" and i else
            randn(rng, s, np.float32) for i, s in enumerate(shapes)]
    with config.override(profile="cpu"):
        check_op(op, *args, case="long loops", **options)
        check_grad(rng, op, *args, case="long loops", **options)


# ResNet-18's convolutions at 224 x 224: (in, out, kernel, stride, padding, input size).
RESNET18 = [(3, 64, 7, 2, 3, 224), (64, 64, 3, 1, 1, 56), (64, 128, 3, 2, 1, 56),
            (128, 128, 3, 1, 1, 28), (64, 128, 1, 2, 0, 56), (128, 256, 3, 2, 1, 28),
            (256, 256, 3, 1, 1, 14), (128, 256, 1, 2, 0, 28), (256, 512, 3, 2, 1, 14),
            (512, 512, 3, 1, 1, 7), (256, 512, 1, 2, 0, 14)]


@pytest.mark.parametrize("units", [16, 132])
def test_gpu_weight_gradients_fill_every_compute_unit(device, units):
    """On a GPU of `units` compute units (132: an H100), every ResNet-18 weight gradient at
    batch 8 runs conv_weight_grad_local in at least 4 work-groups per compute unit."""
    gpu = replace(device.base_profile, kind="gpu", compute_units=units, loop_limit=None,
                  max_work_group_size=1024, max_work_item_sizes=(1024, 1024, 64),
                  local_memory_bytes=48 * 1024)
    stub = _Stub(gpu)
    stub.global_mem_bytes, stub.max_alloc_bytes = 80 << 30, 20 << 30
    for c_in, c_out, k, stride, padding, size in RESNET18:
        problem = _problem((8, c_in, size, size), (c_out, c_in, k, k), stride, padding)
        choice = dispatch.choose("conv_weight_grad", stub, problem)
        assert choice.algorithm == "local", str(choice)
        p = choice.params
        blocks = -(-c_out // (p["WG_M"] * p["RM"])) * -(-c_in * k * k // (p["WG_N"] * p["RN"]))
        assert blocks * p["splits"] >= 4 * units, (c_in, c_out, k, stride, str(choice))


def test_every_shipped_table_entry_names_known_parameters(device):
    """Each entry of clconv/tuning.json says where it came from ('about') and lays over only
    families, algorithms and parameters the defaults have (a misspelt key would change
    nothing, silently): the CPU entries and the GPU default and vendor entries alike."""
    table = tuning.table()

    def unknown(entry, known, where):
        for key, value in entry.items():
            if key.startswith("about"):
                continue
            if key not in known:
                yield f"{where}.{key}"
            elif isinstance(value, dict) and isinstance(known[key], dict):
                yield from unknown(value, known[key], f"{where}.{key}")

    for kind in ("cpu", "gpu"):
        known = tuning.derived(replace(device.base_profile, kind=kind))
        entries = [(f"{kind}/default", table[kind]["default"])] if "default" in table[kind] else []
        entries += [(f"{kind}/{vendor}/{key}", entry) for vendor, levels in table[kind].items()
                    if vendor != "default" for key, entry in levels.items()]
        assert entries
        for where, entry in entries:
            assert "about" in entry, where
            assert list(unknown(entry, known, where)) == []
    assert {"nvidia", "amd", "intel"} <= set(table["gpu"])


def test_gpu_launches_use_groups_of_64_items_or_more(device, rng):
    """Under the GPU profile every launch of a small network's training step (convolutions
    plain, strided, depthwise and 3D, batch norm, pooling, linear, the loss, the optimizer) and
    of the other reductions runs in work-groups of 64 items or more (two warps, an AMD
    wavefront), unless the whole launch, or the kernel's limit on this device, is smaller."""
    from math import prod
    from clconv import nn, optim
    x = randn(rng, (8, 3, 16, 16), np.float32)
    labels = rng.integers(0, 10, 8)
    with config.override(profile="gpu"), clconv.runtime.record_launches(device) as made:
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(128, 10))
        opt = optim.Adam(model.parameters(), lr=0.01)
        F.cross_entropy(model(clconv.tensor(x)), labels).backward()
        opt.step()
        v = clconv.tensor(randn(rng, (2, 4, 3, 6, 7), np.float32), requires_grad=True)
        w = clconv.tensor(conv_weight(rng, (5, 4, 3, 3, 3), np.float32), requires_grad=True)
        t = clconv.tensor(randn(rng, (6, 40, 30), np.float32), requires_grad=True)
        (F.sum(F.conv3d(v, w, stride=2, padding=1))
         + F.mse_loss(F.layer_norm(t, (30,)), clconv.tensor(np.zeros((6, 40, 30), np.float32)))
         + F.sum(F.softmax(t, 1))
         + F.sum(F.matmul(t, clconv.tensor(randn(rng, (30, 7), np.float32))))).backward()
    # (or the kernel's own limit, where the device allows fewer: 32 on llvmpipe)
    small = sorted({(k.function_name, tuple(local)) for k, size, local, _ in made.launches
                    if prod(local) < min(64, clconv.runtime.kernel_limits(device, k).work_group_size)
                    and prod(size) > prod(local)})
    assert small == [], small


@pytest.mark.parametrize("profile,kernel", [("cpu", "phase_scatter"),
                                            ("gpu", "phase_scatter_columns")])
def test_phase_scatter_by_rows_on_cpus_by_columns_on_gpus(device, rng, profile, kernel):
    """The strided input gradient's phases land in dx through phase_scatter (a row per
    work-item: CPUs vectorize the row) or phase_scatter_columns (a column per work-item:
    neighbouring GPU work-items on neighbouring elements); a 3D stride with a phase of no
    taps (zeros written) and unequal phase lengths."""
    x = randn(rng, (2, 3, 5, 6, 7), np.float32)
    w = conv_weight(rng, (4, 3, 3, 1, 3), np.float32)
    options = dict(stride=(2, 2, 3), padding=(1, 0, 1))
    with config.override(profile=profile, conv_input_grad="phases"), \
            clconv.runtime.record_launches(device) as made:
        check_grad(rng, "conv3d", x, w, case=f"phase scatter ({profile})", **options)
    names = {k.function_name for k, *_ in made.launches}
    assert kernel in names and ({"phase_scatter", "phase_scatter_columns"} - {kernel}).isdisjoint(
        names), names
