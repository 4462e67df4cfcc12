"""Every kernel under Oclgrind: out-of-bounds accesses, uninitialized values, data races, API misuse.

    .venv/bin/python tools/sanitize.py [-k SUBSTRING] [--jobs N]      (or `make sanitize`)

Oclgrind (Debian's `oclgrind` package) simulates an OpenCL device and checks every memory access of
every work-item. This script makes it the only OpenCL platform through pyopencl's ICD loader
(OCL_ICD_VENDORS names an .icd file holding the path of liboclgrind-rt-icd.so), selects it with
CLCONV_DEVICE, and turns on the checks of `oclgrind --data-races --uninitialized --check-api` with
their environment variables. Then it runs each case of CASES (tools/sanitize_cases.py) -- every
public op over a small grid of options, in float32 and float64 -- forward in check mode
(`clconv.checking()`: results are compared with clconv.reference) and backward (each gradient
against reference.<op>_backward), and fails when Oclgrind reports anything or a result is wrong.

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
printed under the case's name. Oclgrind simulates on one thread: `--jobs N` (default 2, 1 on
one core) shares the cases among N processes (each takes the next one unclaimed) and prints
each one's reports as it finishes. Add an op by adding lines to sanitize_cases.CASES (its
differentiable arguments come from the op table, clconv.optable).
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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sanitize_cases import Case

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
# vectors of AVX-512 (64 bytes: 16 floats, 8 doubles) and of AVX2 (32 bytes: 8 floats, 4
# doubles). The 32-byte pass runs float64 and float16 storage only: its float32 vectors have
# the 8 lanes that float64 has in the 64-byte pass (the same edges, in the same kernels).
PROFILES = {"gpu-profile": dict(profile="gpu"),
            "cpu-profile-64": dict(profile="cpu", vector_bytes=64),
            "cpu-profile-32": dict(profile="cpu", vector_bytes=32)}
# Under the GPU profile the local-memory kernels (conv_local, conv_weight_grad_local,
# gemm_local) block 16 x 16 results in 64 work-items, 8-deep slices: the same code and edges
# (partial blocks, slices, splits) at a quarter of the simulated work of the shipped 64 x 64
# blocks of 256 items, which Oclgrind runs item by item, idle ones included. The cases marked
# `shipped_blocks` keep the shipped blocking (256-item groups within Oclgrind's 256 limit and
# 32 KiB of local memory).
SMALL_BLOCKS = {"WG": [8, 8], "RM": 2, "RN": 2, "BK": 8}
GPU_SMALL_BLOCKS = {"conv_forward": {"local": SMALL_BLOCKS},
                    "conv_weight_grad": {"local": SMALL_BLOCKS},
                    "gemm": {"local": SMALL_BLOCKS}}
# The ops whose kernels have explicit vectors (the others run the 32-byte pass for nothing).
VECTOR_OPS = ("conv", "pool", "norm")


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
    from clconv import runtime

    device = clconv.get_device()
    if device.platform_name != "Oclgrind":
        sys.exit(f"sanitize: clconv chose {device!r}, not Oclgrind's simulator")
    runtime.set_allocator(device, KeptBuffers(device.context))
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


def importer_conv_problems(op: str, arguments: dict) -> list[str]:
    """The ONNX importer's convolution fusions (clconv.ops.conv.fused_conv): scaled_conv2d, of
    input * scale (the scale applied as conv_direct and conv_pointwise read), residual_conv2d,
    plus a residual (added as conv_direct, conv_pointwise and winograd_conv2d store); against
    the reference's convolution of the product, plus the residual (activation None)."""
    import clconv.reference as R
    from clconv.ops import conv
    from clconv.testing import mismatch

    named = ("input", "scale", "residual", "weight", "bias")
    options = {k: v for k, v in arguments.items() if k not in named}
    x, scale, residual = (arguments.get(k) for k in ("input", "scale", "residual"))
    y = conv.fused_conv(2, x, arguments["weight"], arguments.get("bias"), scale=scale,
                        residual=residual, **options)
    want = R.conv2d(x if scale is None else R.mul(x, scale), arguments["weight"],
                    arguments.get("bias"), **options)
    problem = mismatch(y.numpy(), want if residual is None else R.add(want, residual))
    return [f"{op}: {problem}"] if problem else []


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
    if test.op in ("scaled_conv2d", "residual_conv2d"):
        return importer_conv_problems(test.op, arguments)

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

    def leaf(value):  # (a list of leaves for a list argument: cat's tensors)
        if isinstance(value, list):
            return [leaf(v) for v in value]
        return clconv.tensor(value, requires_grad=True)

    leaves = {name: leaf(arguments[name]) for name in names if arguments.get(name) is not None}
    output = device_op(test.op)(**{**copies(arguments), **leaves})
    output = output[0] if isinstance(output, tuple) else output
    grad_output = np.asarray(rng.standard_normal(output.shape), dtype=dtype)
    output.backward(grad_output)
    reference_arguments = copies(arguments)
    reference_arguments.pop("return_indices", None)  # no bearing on the gradient
    expected = OPS[test.op].backward(grad_output, **reference_arguments)
    problems = []
    for name, want in zip(names, expected if isinstance(expected, tuple) else (expected,)):
        if name not in leaves:
            continue
        pairs = (zip(leaves[name], want) if isinstance(leaves[name], list)
                 else [(leaves[name], want)])
        for index, (tensor, expected_part) in enumerate(pairs):
            got = tensor.grad
            problem = "none computed" if got is None else mismatch(got.numpy(), expected_part)
            if problem:
                problems.append(f"gradient of {name} ({index}): {problem}")
    return problems


def settings(profile: dict, test: Case) -> dict:
    """config.override's settings for `test` under `profile`: the case's forced algorithms and
    tuning, laid over the GPU profile's small blocks unless it keeps the shipped ones."""
    from clconv import tuning

    out = {**profile, **test.forced}
    if profile.get("profile") == "gpu" and not test.shipped_blocks:
        out["tuning"] = tuning.merge(GPU_SMALL_BLOCKS, dict(test.forced.get("tuning", {})))
    return out


def run_case(device, test: Case, dtype, rng) -> list[str]:
    """Problems with one case: Oclgrind's reports, wrong results, errors raised."""
    def draw(value):
        if isinstance(value, list):
            return [draw(v) for v in value]
        return value.make(rng, dtype) if hasattr(value, "make") else value

    arguments = {name: draw(value) for name, value in test.arguments.items()}
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


def summary_status(k: str, count: int, failed: int, launched: set, start: float,
                   how: str = "") -> int:
    """Print the run's last line; 1 where no case matched, a case failed, or (the whole run)
    some kernel was never launched."""
    if not count:
        print(f"sanitize: no case matches -k {k!r}")
        return 1
    not_run = [f"{file}:{name}" for name, file in all_kernels().items() if name not in launched]
    print(f"sanitize: {count - failed} of {count} cases clean under Oclgrind in "
          f"{time.perf_counter() - start:.0f} s{how}; kernels never launched: "
          f"{', '.join(not_run) or 'none'}")
    if not_run and not k:  # (a -k selection launches only some)
        print("sanitize: FAIL: every kernel must be launched by some case")
        return 1
    return 1 if failed else 0


def claimed(marker: Path) -> bool:
    """Whether this process claims the case whose marker file this is (the first to create it)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def run_shards(options) -> int:
    """`--jobs N`: N child processes (Oclgrind runs a process's kernels on one thread) share the
    cases, each taking the next one no other has claimed (the heavy GPU-profile cases first, so
    the processes end close together), their reports printed as each finishes, their launched
    kernels merged for the check that every kernel ran."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory(prefix="clconv-sanitize-jobs-") as scratch:
        children = []
        for shard in range(options.jobs):
            summary = Path(scratch) / f"{shard}.json"
            children.append((summary, subprocess.Popen(
                [sys.executable, __file__, "-k", options.k, "--jobs", "1",
                 "--claims", str(Path(scratch) / "claims"), "--summary", str(summary)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        count = failed = 0
        launched: set[str] = set()
        start, broken = time.perf_counter(), False
        for summary, child in children:
            output, _ = child.communicate()
            print(output, end="", flush=True)
            if not summary.exists():
                broken = True  # (the child said why)
                continue
            done = json.loads(summary.read_text())
            count, failed = count + done["count"], failed + done["failed"]
            launched.update(done["launched"])
            broken |= child.returncode != 0 and not done["failed"]
    return summary_status(options.k, count, failed, launched, start,
                          f" ({options.jobs} processes)") or int(broken)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", metavar="SUBSTRING",
                        help="run only the cases whose name contains SUBSTRING")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes sharing the cases (default: 2, or 1 on one core)")
    # a directory where the processes of --jobs claim cases, a file each, whoever is free first
    parser.add_argument("--claims", help=argparse.SUPPRESS)
    parser.add_argument("--summary", help=argparse.SUPPRESS)  # JSON of a shard's counts
    options = parser.parse_args()
    if options.jobs > 1:
        return run_shards(options)
    if options.claims:
        Path(options.claims).mkdir(exist_ok=True)

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
        from sanitize_cases import CASES, HALF

        launched = record_launches()
        failed, count, start, dealt = 0, 0, time.perf_counter(), -1
        for launch, profile in PROFILES.items():
            for dtype in device.dtypes() + (HALF,):
                for test in CASES:
                    name = f"{test} {dtype} {launch}"
                    if options.k not in name or not test.runs_in(dtype):
                        continue
                    if profile.get("vector_bytes") == 32 and (dtype == np.float32 or not (
                            test.half or any(op in test.op for op in VECTOR_OPS))):
                        continue
                    if test.cpu_only and profile.get("profile") == "gpu":
                        continue
                    dealt += 1
                    if options.claims and not claimed(Path(options.claims) / str(dealt)):
                        continue  # (another process runs it)
                    count += 1
                    began = time.perf_counter()
                    rng = np.random.default_rng(zlib.crc32(name.encode()))
                    with config.override(**settings(profile, test), poison=False):
                        problems = run_case(device, test, dtype, rng)
                    print(f"{'FAIL' if problems else 'ok  '} {time.perf_counter() - began:5.2f}s "
                          f"{name}")
                    for problem in problems:
                        print("    " + problem.replace("\n", "\n    "))
                    failed += bool(problems)
        if options.summary:  # a shard: its parent sums up
            import json
            Path(options.summary).write_text(json.dumps(
                {"count": count, "failed": failed, "launched": sorted(launched)}))
            return 1 if failed else 0
        return summary_status(options.k, count, failed, launched, start)


if __name__ == "__main__":
    sys.exit(main())
