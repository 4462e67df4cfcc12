"""Optimizers with PyTorch's constructors and update rules; each update is a device kernel.

float16 parameters are updated through a float32 master copy kept in the optimizer's state
(and refreshed if the parameter changes elsewhere), then rounded back: updates smaller than a
float16 step accumulate instead of vanishing. The state (momentum, moments) is float32 too."""
from __future__ import annotations

import numpy as np

from . import runtime
from .ops import launch_sizes
from .ops.arguments import i32, scalar
from .ops.storage import HALF, cast, convert_into
from .tensors import Tensor, zeros


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.params: list[Tensor] = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Tensor) or not p.requires_grad or p.grad_fn is not None:
                raise TypeError(f"{type(self).__name__}: parameters must be leaf Tensors that "
                                f"require grad, got {p!r}")
        self.defaults = defaults
        self.state: dict[int, dict] = {id(p): {} for p in self.params}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                runtime.fill(p.grad.array, 0)

    def _launch(self, p: Tensor, name: str, *args) -> None:
        kernel = runtime.get_kernel(p.device, "optim", name, **runtime.dtype_defines(p.dtype))
        runtime.launch(p.device, kernel, (p.size,), (launch_sizes.items(p.device),), *args,
                       np.int32(p.size))
        p._version += 1  # graphs that saved the old value must not run backward any more

    def step(self) -> None:
        for p in self.params:
            if p.grad is not None and p.size:
                if p.dtype == HALF:
                    self._update_through_master(p, self.state[id(p)])
                else:
                    self._update(p, self.state[id(p)])

    def _update_through_master(self, p: Tensor, state: dict) -> None:
        """Update float16 `p` through its float32 master copy (see the module's docstring)."""
        master = state.get("master")
        if master is None or state["master_version"] != p._version:
            master = state["master"] = cast(p.detach(), np.float32)
        master.grad = cast(p.grad.detach(), np.float32)
        self._update(master, state.setdefault("of_master", {}))  # (momentum, moments)
        master.grad = None
        convert_into(master, p)
        p._version += 1
        state["master_version"] = p._version

    def _update(self, p: Tensor, state: dict) -> None:
        raise NotImplementedError


def _non_negative(owner: str, **values) -> None:
    for name, value in values.items():
        if not np.isscalar(value) or value < 0:
            raise ValueError(f"{owner}: {name} must be a non-negative number, got {value!r}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and weight decay."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        _non_negative("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, state):
        d = self.defaults
        first = "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = zeros(p.shape, p.dtype, p.device) if d["momentum"] else None
        buffer = state["momentum_buffer"]
        self._launch(p, "sgd_step", p.array.data, p.grad.array.data,
                     (buffer.array.data if buffer is not None else p.device.placeholder),
                     *(scalar(p.dtype, d[k]) for k in ("lr", "momentum", "dampening", "weight_decay")),
                     *i32(d["nesterov"], first))


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and optional L2 weight decay."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        _non_negative("Adam", lr=lr, eps=eps, weight_decay=weight_decay)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _update(self, p, state):
        d = self.defaults
        if not state:
            state.update(step=0, exp_avg=zeros(p.shape, p.dtype, p.device),
                         exp_avg_sq=zeros(p.shape, p.dtype, p.device))
        state["step"] += 1
        beta1, beta2 = d["betas"]
        self._launch(p, "adam_step", p.array.data, p.grad.array.data,
                     state["exp_avg"].array.data, state["exp_avg_sq"].array.data,
                     *(scalar(p.dtype, v) for v in (d["lr"], beta1, beta2, d["eps"],
                                                    d["weight_decay"],
                                                    1 - beta1 ** state["step"],
                                                    1 - beta2 ** state["step"])))
