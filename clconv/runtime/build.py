"""Building kernels: `kernels/<family>.cl` with its headers inlined, compiled with its `-D`
defines for a device (memoized per device, and on disk through pyopencl's binary cache)."""
from __future__ import annotations

import re
import time
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pyopencl as cl

from ..profile import Profile
from .device import Device, debug, on_clear_caches


class KernelBuildError(RuntimeError):
    """A kernel family failed to compile; the message has the device, options and compiler log."""


class KernelBuildWarning(UserWarning):
    """A kernel family compiled with warnings; the message has the compiler's log."""


def kernels_dir() -> Path:
    """Where the `.cl` sources are: inside the installed wheel, or `kernels/` of a checkout."""
    try:
        path = Path(str(resources.files("clconv.kernels")))
        if (path / "common.h").is_file():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "kernels"


def build_options(defines: dict) -> str:
    """`-DNAME=value` for each define, sorted, so the same defines give the same cache key."""
    return " ".join(f"-D{name}={value}" for name, value in sorted(defines.items()))


def dtype_defines(dtype: np.dtype) -> dict:
    """The element-type defines of a kernel computing in `dtype` (float32 or float64)."""
    if np.dtype(dtype) == np.float16:  # a storage type: ops convert (clconv/ops/storage.py)
        raise TypeError("float16 tensors reached a float32 kernel unconverted; call the op "
                        "through clconv.functional")
    if np.dtype(dtype) == np.float64:
        return {"REAL": "double", "REAL_IS_DOUBLE": 1}
    return {"REAL": "float", "REAL_IS_DOUBLE": 0}


def vector_defines(device: Device, dtype: np.dtype, lanes: int | None = None) -> dict:
    """The element type and VW, the lanes of the CPU kernels' explicit vectors: as many as fit
    one of the device's vector registers (clconv.profile), unless `lanes` says otherwise."""
    lanes = lanes or device.profile.vector_lanes(np.dtype(dtype).itemsize)
    return {**dtype_defines(dtype), "VW": lanes}


_sources: dict[str, str] = {}
_headers: dict[str, set] = {}
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[^\n]*$', re.MULTILINE)


def kernel_source(family: str) -> str:
    """kernels/<family>.cl with its headers inlined (each once, where first included): the
    program's text is then all a driver sees, so a driver that caches by source text sees a
    header edit, and no include path (which a space in the install directory would break) is
    needed."""
    source = _sources.get(family)
    if source is None:
        directory = kernels_dir()
        included: set[str] = set()

        def inline(match: re.Match) -> str:
            name = match.group(1)
            if name in included:
                return f"// ({name}: inlined above)"
            included.add(name)
            text = (directory / name).read_text()
            return f"// --- {name} ---\n{_INCLUDE.sub(inline, text)}\n// --- end of {name} ---"

        source = _sources[family] = _INCLUDE.sub(inline, (directory / f"{family}.cl").read_text())
        _headers[family] = included
    return source


def language_options(profile: Profile) -> str:
    """-cl-std=CL1.2 where the device compiles OpenCL C 1.2 or newer: the kernels are written
    to it, and a device that defaults to 2.0 or 3.0 then holds them to it."""
    return "-cl-std=CL1.2" if profile.opencl_c_version >= (1, 2) else ""


def get_kernel(device: Device, family: str, name: str, **defines) -> cl.Kernel:
    """Kernel `name` of `kernels/<family>.cl` built for `device` with `defines` (memoized).

    A family that includes vector.h gets VW, its vectors' lanes, from the device's profile
    unless the defines give it: every kernel of the program is compiled, and none may use
    vectors wider than the device's registers."""
    if "VW" not in defines:
        kernel_source(family)
        if "vector.h" in _headers.get(family, ()):
            itemsize = 8 if defines.get("REAL") == "double" else 4
            defines["VW"] = device.profile.vector_lanes(itemsize)
    options = build_options(defines)
    key = (family, name, options)
    kernel = device._kernels.get(key)
    if kernel is not None:
        return kernel
    with device.lock:
        kernel = device._kernels.get(key)
        if kernel is None:
            program = _build(device, family, options)
            for each in program.all_kernels():
                device._kernels[(family, each.function_name, options)] = each
            kernel = device._kernels.get(key)
            if kernel is None:
                raise KernelBuildError(f"kernels/{family}.cl has no kernel named {name!r}")
    return kernel


_build_hooks: list = []


def on_build(hook) -> None:
    """Register `hook(device, family, options)`, called after each program build (the offline
    GPU compile check collects the GPU paths' build options with it)."""
    _build_hooks.append(hook)


def _build(device: Device, family: str, options: str) -> cl.Program:
    full_options = f"{options} {language_options(device.base_profile)}".strip()
    start = time.perf_counter()
    program = cl.Program(device.context, kernel_source(family))
    try:
        # pyopencl would print the compiler's log as a warning of its own; it is read below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cl.CompilerWarning)
            program.build(options=full_options)
    except cl.Error as err:
        raise KernelBuildError(
            f"kernels/{family}.cl failed to build on {device.name!r} ({device.platform_name}) "
            f"with options {full_options!r}:\n{err}") from None
    seconds = time.perf_counter() - start
    device.builds += 1
    device.build_log.append((family, options, seconds))
    build_log = _build_log(program, device)
    debug("built %s.cl [%s] on %s in %.1f ms%s", family, full_options, device.name, 1e3 * seconds,
          f"\n{build_log}" if build_log else "")
    if re.search(r"\bwarning\b", build_log, re.IGNORECASE):
        warnings.warn(KernelBuildWarning(
            f"kernels/{family}.cl built with warnings on {device.name!r} with options "
            f"{full_options!r}:\n{build_log}"), stacklevel=4)
    for hook in _build_hooks:
        hook(device, family, options)
    return program


def _build_log(program: cl.Program, device: Device) -> str:
    try:
        text = program.get_build_info(device.cl_device, cl.program_build_info.LOG) or ""
    except cl.Error:
        return ""
    return text.strip()


def _forget_sources() -> None:
    _sources.clear()
    _headers.clear()


on_clear_caches(_forget_sources)
