"""The benchmark suite: `python -m clconv bench [--quick] [--plot PATH] [--peers ...]`.

Each runtime (clconv, NumPy, PyTorch CPU, tinygrad) runs in its own subprocess, one after the
other: idle thread pools of one runtime would otherwise steal the cores from the next. Times are
medians of several runs after warm-up, with the device synchronized and compilation excluded;
each row reports clconv's GFLOP/s (convolutions, training steps) or GB/s (pooling, norms) and its
speed relative to every peer measured in the same invocation.
"""
