"""ONNX models on any OpenCL device.

    import clconv.onnx
    model = clconv.onnx.load("resnet18.onnx")             # a path, bytes or an onnx.ModelProto
    logits = model(images)                                 # NumPy arrays or Tensors, by position
    logits = model(input=images)                           # or by the graph's input names

    model = clconv.onnx.load("resnet18.onnx", trainable=True)   # fine-tuning: parameters by
    ...                                                           # ONNX initializer names
    clconv.onnx.save(model, "tuned.onnx")                  # the same graph, the current weights

`clconv.onnx.Backend` is an onnx.backend.base.Backend (ONNX's BackendTest runs against it).
`clconv.onnx.SUPPORTED` lists the op types clconv runs. Needs the `onnx` package.
"""
from .model import OnnxModel, load, save
from .ops import INTERNAL, OPS, OnnxError

SUPPORTED = tuple(sorted(set(OPS) - INTERNAL))


def __getattr__(name):
    if name == "Backend":  # (imports onnx.backend only when asked for)
        from .backend import Backend
        return Backend
    raise AttributeError(f"module 'clconv.onnx' has no attribute {name!r}")


__all__ = ["Backend", "OnnxError", "OnnxModel", "SUPPORTED", "load", "save"]
