"""clconv as an ONNX backend (onnx.backend.base.Backend), so that ONNX's own BackendTest runs
against it: `prepare` loads a model, `run_model` and `run_node` run one."""
from __future__ import annotations

import numpy as np
from onnx import helper
from onnx.backend.base import Backend as _Base
from onnx.backend.base import BackendRep as _BaseRep

from ..tensors import Tensor
from .model import load


class BackendRep(_BaseRep):
    def __init__(self, model):
        self.model = model

    def run(self, inputs, **kwargs):
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            out = self.model(**inputs)
        else:
            out = self.model(*inputs)
        out = out if isinstance(out, tuple) else (out,)
        return tuple(o.numpy() if isinstance(o, Tensor) else np.asarray(o) for o in out)


class Backend(_Base):
    @classmethod
    def supports_device(cls, device: str) -> bool:
        """clconv runs on its OpenCL device; ONNX's tests ask for 'CPU' (run once) or 'CUDA'."""
        return device == "CPU"

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        return BackendRep(load(model))

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        names = [f"input_{i}" for i in range(len(inputs))]
        renamed = helper.make_node(node.op_type, [n if n else "" for n in names[:len(node.input)]],
                                   list(node.output), name=node.name or node.op_type)
        renamed.attribute.extend(node.attribute)
        graph = helper.make_graph(
            [renamed], "run_node",
            [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype),
                                           np.shape(v)) for n, v in zip(names, inputs)],
            [helper.make_tensor_value_info(o, 0, None) for o in node.output])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", kwargs.get(
            "opset_version", 17))])
        return cls.prepare(model, device).run(list(inputs))
