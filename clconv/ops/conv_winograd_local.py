"""conv_forward's winograd_local algorithm (kernels/conv_winograd_local.cl), GPUs: Winograd
F(2x2, 3x3) for 3x3 stride-1 convolutions as three transforms around 16 batched products
through gemm_local (or whichever gemm algorithm the dispatcher picks for them): U = G g G^T
once per weight version, V = B^T d B of every 2x2 output tile's 4x4 input block into a
workspace, M[xi] = U[xi] V[xi] for the 16 tile positions xi, and y = A^T M A with the bias and
activation. 16 multiplies per tile and channel pair where conv_local does 36; the transforms
move V and M (16 values per tile and channel) through global memory.

It measured faster than conv_local on the two devices that run the GPU code paths here, PoCL
under the GPU profile (0.52-0.82 of conv_local's time on ResNet's 3x3 layers at batch 8) and
Rusticl's llvmpipe (0.64-0.88), both CPUs (benchmarks/RESULTS.md); no GPU has measured it, so
no default order names it: `python -m clconv tune` on a GPU times the orders with and without it
first and writes the faster to the table. (Its float32 rounding differs from the direct
products': on a ResNet training step at 16x16 one batch-norm output within 3e-6 of zero changed
sign against the float64 reference, and the ReLU after it passed a different gradient.)
"""
from __future__ import annotations

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason
from ..tensors import empty
from .arguments import buffer, i32
from .conv_geometry import ConvProblem
from .conv_winograd import f23_reason
from .linear import GemmProblem
from .prepared import prepared


def _tiles(problem: ConvProblem) -> tuple[int, int, int]:
    """(tile rows, tiles per row, tiles in the batch) of 2x2 outputs."""
    _, out_h, out_w = problem.geo.out_size
    rows, columns = -(-out_h // 2), -(-out_w // 2)
    return rows, columns, problem.geo.batch * rows * columns


def _workspace(context: Context, problem: ConvProblem) -> int:
    """V (16 x C x T) and M (16 x K x T); the transformed weights (16 x K x C) are kept with
    the weight tensor (prepared)."""
    geo, (_, _, tiles) = problem.geo, _tiles(problem)
    return 16 * (geo.in_channels + geo.out_channels) * tiles * problem.dtype.itemsize


def _applies(context: Context, problem: ConvProblem) -> str | None:
    needed, limit = _workspace(context, problem), runtime.workspace_limit(context.device)
    return f23_reason(problem.geo) or first_reason(
        (needed <= limit, f"its transformed tiles need {needed:,} bytes of workspace, more "
                          f"than the limit ({limit:,})"))


def _prefers(context: Context, problem: ConvProblem) -> str | None:
    least, geo = int(context.params["min_channels"]), problem.geo
    return None if min(geo.in_channels, geo.out_channels) >= least else \
        f"fewer than {least} channels: the transforms would outweigh the multiplies saved"


def _params(context: Context, problem: ConvProblem) -> dict:
    return {"tiles": _tiles(problem)[2], "items": int(context.params["items"])}


def _run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device, dtype = problem.geo, context.device, problem.dtype
    channels, kernels = geo.in_channels, geo.out_channels
    rows, columns, tiles = _tiles(problem)
    items = int(context.params["items"])
    defines = runtime.dtype_defines(dtype)

    def kernel(name, **more):
        return runtime.get_kernel(device, "conv_winograd_local", name, **defines, **more)

    u = prepared(w, ("winograd_local_weights", str(dtype)), 16 * kernels * channels *
                 dtype.itemsize,
                 lambda out: runtime.launch(device, kernel("winograd_local_weights"),
                                            (channels, kernels), (items, 1), w.array.data, out,
                                            *i32(kernels, channels)))
    v = empty((16 * channels * tiles,), dtype, device)
    _, height, width = geo.in_size
    runtime.launch(device, kernel("winograd_local_input"), (tiles, channels), (items, 1),
                   x.array.data, v.array.data,
                   *i32(channels, height, width, *geo.padding[1:], rows, columns, tiles))
    m = empty((16 * kernels * tiles,), dtype, device)
    dispatch.run("gemm", device, GemmProblem(kernels, tiles, channels, dtype, 16),
                 u, (channels, 1), v, (tiles, 1), None, m,
                 (kernels * channels, channels * tiles))
    _, out_h, out_w = geo.out_size
    runtime.launch(device, kernel("winograd_local_output", **epilogue.defines()),
                   (tiles, kernels), (items, 1), m.array.data, buffer(b, device),
                   *i32(b is not None), *epilogue.args(dtype), y.array.data,
                   *i32(kernels, out_h, out_w, rows, columns, tiles))


dispatch.register(Algorithm(
    "conv_forward", "winograd_local", _run, applies=_applies, prefers=_prefers,
    params=_params, workspace=_workspace,
    about="Winograd F(2x2, 3x3) for GPUs: transforms into workspaces around 16 batched "
          "products through gemm (gemm_local on GPUs)"))
