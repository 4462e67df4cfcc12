"""The OpenCL C sources of clconv; packaged as `clconv.kernels` so they ship inside the wheel."""
