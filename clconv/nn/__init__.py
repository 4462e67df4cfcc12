"""PyTorch-style layers: `clconv.nn.Conv2d(3, 16, 3, padding=1)`, `Sequential`, losses.

Each layer holds its parameters as Tensors that require grad, calls `clconv.functional` in
`forward`, and also knows its `clconv.reference` forward and backward, so a whole network can be
recomputed in NumPy to check the device (`Sequential.reference_forward/backward`).
"""
from .layers import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AvgPool1d,
                     AvgPool2d, AvgPool3d, BatchNorm1d, BatchNorm2d, BatchNorm3d, Conv1d, Conv2d,
                     Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
                     CrossEntropyLoss, Flatten, GroupNorm, InstanceNorm1d, InstanceNorm2d,
                     InstanceNorm3d, LayerNorm, LeakyReLU, Linear, MaxPool1d, MaxPool2d, MaxPool3d,
                     MSELoss, ReLU, Upsample)
from .activation_layers import (ELU, GELU, Dropout, Hardsigmoid, Hardswish, Hardtanh, LogSoftmax, ReLU6,
                                Sigmoid, SiLU, Softmax, Tanh)
from .module import Module, Sequential, manual_seed
from .summary import summary

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AvgPool1d", "AvgPool2d",
    "AvgPool3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d",
    "CrossEntropyLoss", "Flatten", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LayerNorm", "LeakyReLU", "Linear", "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "MSELoss", "Module", "ReLU", "Sequential", "manual_seed", "summary", "ELU", "Hardsigmoid",
    "Hardswish", "Hardtanh", "ReLU6", "Sigmoid", "SiLU", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "Dropout", "Upsample",
]
