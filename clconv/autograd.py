"""Reverse-mode automatic differentiation with PyTorch's surface.

An op whose inputs require grad attaches a `Node` to its output: the inputs and a function from
the output's gradient to one gradient per input (computed by device kernels). `backward()` walks
the graph in reverse topological order, sums gradients that meet, and accumulates into `.grad`
of leaf tensors, as PyTorch does. In-place ops bump a tensor's version; a node that saved a
tensor refuses to run if the tensor changed since.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Sequence

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


@contextmanager
def no_grad():
    """Within this block (this thread), ops record nothing for backward."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


@contextmanager
def enable_grad():
    previous = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = previous


class Node:
    """How to send an output's gradient back to the inputs of the op that made it."""

    __slots__ = ("name", "inputs", "backward", "saved_versions")

    def __init__(self, name: str, inputs: Sequence, backward: Callable, saved: Sequence = ()):
        self.name = name
        self.inputs = tuple(inputs)
        self.backward = backward
        # The counters, not the tensors: a node must not keep its own output alive (a cycle).
        self.saved_versions = [(t.version_counter, t._version, t.shape) for t in saved
                               if t is not None]

    def __repr__(self) -> str:
        return f"<{self.name} backward>"

    def check_saved(self) -> None:
        for counter, version, shape in self.saved_versions:
            if counter.value != version:
                raise RuntimeError(
                    f"{self.name} backward: a tensor of shape {shape} it saved was "
                    "modified by an in-place operation after the forward pass")


def needs_grad(*tensors) -> bool:
    return is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def record(name: str, output, inputs: Sequence, backward: Callable, saved: Sequence = ()):
    """Make `output` differentiable when any input requires grad; returns `output`.

    `backward(grad_output)` returns one gradient (a Tensor, or None) per entry of `inputs`.
    `saved` lists the tensors backward reads, so in-place changes to them are caught.
    """
    if needs_grad(*inputs):
        output.requires_grad = True
        output.grad_fn = Node(name, inputs, backward, saved)
    return output


def _topological_order(root) -> list:
    """Tensors with a grad_fn reachable from root, each after every tensor computed from it."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited or tensor.grad_fn is None:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        for parent in tensor.grad_fn.inputs:
            if parent is not None and parent.requires_grad:
                stack.append((parent, False))
    return order[::-1]  # root first


def backward(root, grad) -> None:
    pending = {id(root): grad}
    for tensor in _topological_order(root):
        grad_output = pending.pop(id(tensor), None)
        if grad_output is None:
            continue
        node = tensor.grad_fn
        node.check_saved()
        grads = node.backward(grad_output)
        for parent, parent_grad in zip(node.inputs, grads):
            if parent is None or parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.shape:
                raise RuntimeError(f"{node.name} backward produced a gradient of shape "
                                   f"{parent_grad.shape} for an input of shape {parent.shape}")
            if parent.grad_fn is None:  # a leaf: its .grad never aliases another tensor
                parent.grad = _accumulate(parent.grad, parent_grad, copy=True)
            else:
                pending[id(parent)] = _accumulate(pending.get(id(parent)), parent_grad)
    if root.grad_fn is None and root.requires_grad:
        root.grad = _accumulate(root.grad, grad, copy=True)


def _accumulate(total, grad, copy: bool = False):
    """total + grad as a new tensor (grad itself, or a copy, when there is no total yet); the
    sum is Tensor's +, clconv.functional.add (float16 gradients included)."""
    if total is None:
        return grad.clone() if copy else grad
    return total + grad
