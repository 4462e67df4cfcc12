"""Module: parameters, buffers, submodules, train/eval, state dicts; and Sequential."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import random
from ..tensors import Tensor, tensor

_init_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator that initializes layer parameters and the key stream of dropout's
    masks (reproducible networks and training)."""
    global _init_rng
    _init_rng = np.random.default_rng(seed)
    random.manual_seed(seed)


def init_rng() -> np.random.Generator:
    return _init_rng


class Module:
    """Base class of layers and networks, with PyTorch's bookkeeping.

    Tensors assigned as attributes with requires_grad=True are parameters; those registered with
    `register_buffer` (running statistics) are buffers; Modules are submodules.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, Tensor) and value.requires_grad:
            self._parameters[name] = value
        elif isinstance(value, Tensor) and name in getattr(self, "_buffer_names", ()):
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: Tensor | None) -> None:
        object.__setattr__(self, "_buffer_names", getattr(self, "_buffer_names", ()) + (name,))
        setattr(self, name, value)

    def parameter(self, values: np.ndarray) -> Tensor:
        """A trainable tensor from host values (float32)."""
        return tensor(values.astype(np.float32), requires_grad=True)

    # --- running -------------------------------------------------------------------------------
    def forward(self, *args):
        raise NotImplementedError

    def __call__(self, *args):
        return self.forward(*args)

    def train(self, mode: bool = True) -> "Module":
        object.__setattr__(self, "training", mode)
        for child in self._modules.values():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def to(self, dtype) -> "Module":
        """Convert every parameter and buffer to `dtype` in place (float16 storage, float32,
        float64); parameters stay trainable leaves, their gradients dropped."""
        for _, module in self.named_modules():
            for name, p in list(module._parameters.items()):
                setattr(module, name, p.detach().to(dtype).requires_grad_())
            for name, b in list(module._buffers.items()):
                if b is not None:
                    setattr(module, name, b.detach().to(dtype))
        return self

    def half(self) -> "Module":
        return self.to(np.float16)

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    # --- parameters and state ------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self):
        for prefix, module in self.named_modules():
            for name, p in module._parameters.items():
                yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        for prefix, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{prefix}.{name}" if prefix else name), b

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters and buffers as NumPy arrays, by dotted name."""
        state = OrderedDict((name, p.numpy()) for name, p in self.named_parameters())
        state.update((name, b.numpy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state, strict: bool = True) -> None:
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, values in state.items():
            if name not in own:
                continue
            target = own[name]
            values = np.asarray(values)
            if values.shape != target.shape:
                raise ValueError(f"load_state_dict: {name} has shape {values.shape}, the module "
                                 f"expects {target.shape}")
            target.array.set(np.ascontiguousarray(values, dtype=target.dtype))
            target._version += 1

    def save(self, path) -> None:
        """Write the state dict to an .npz file."""
        np.savez(path, **self.state_dict())

    def load(self, path) -> None:
        with np.load(path) as data:
            self.load_state_dict({k: data[k] for k in data.files})

    # --- the NumPy twin (see Sequential.reference_forward) ---------------------------------------
    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no reference forward")

    def reference_backward(self, grad: np.ndarray, x: np.ndarray):
        """(gradient of the input, {parameter name: gradient}) via clconv.reference."""
        raise NotImplementedError(f"{type(self).__name__} has no reference backward")

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): {child!r}".replace("\n", "\n  ") for name, child in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order."""

    def __init__(self, *modules: Module):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: entry {index} is {type(module).__name__}, not a Module")
            setattr(self, str(index), module)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        # A convolution followed by an activation clconv.fused has (ReLU, LeakyReLU, ReLU6,
        # Sigmoid, SiLU, Hardswish, Hardsigmoid) runs as one kernel: the same result without a
        # second pass over the convolution's output.
        modules = list(self)
        at = 0
        while at < len(modules):
            module, after = modules[at], modules[at + 1] if at + 1 < len(modules) else None
            activation = getattr(after, "fused_activation", None)
            if activation and hasattr(module, "forward_activated"):
                x = module.forward_activated(x, activation, getattr(after, "negative_slope", 0.01))
                at += 2
            else:
                x = module(x)
                at += 1
        return x

    def reference_forward(self, x, keep_inputs: bool = False):
        """The network in clconv.reference (NumPy, float64 inside); with keep_inputs, also each
        layer's input (what reference_backward needs)."""
        inputs = []
        for module in self:
            inputs.append(x)
            x = module.reference_forward(x)
        return (x, inputs) if keep_inputs else x

    def reference_backward(self, grad, x):
        """Gradients of the input and of every parameter (by dotted name), via clconv.reference."""
        _, inputs = self.reference_forward(x, keep_inputs=True)
        grads = {}
        for (name, module), layer_input in reversed(list(zip(self._modules.items(), inputs))):
            grad, layer_grads = module.reference_backward(grad, layer_input)
            grads.update({f"{name}.{k}": v for k, v in layer_grads.items()})
        return grad, grads
