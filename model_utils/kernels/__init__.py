"""Native CPU kernels for the in-pixel models (binary encoders, binary convolutions, the PixelRNN time loop)
and the choice of path."""
from .dispatch import (COMPUTE_CHOICES, NativeComputable, native_coverage, set_compute, uses_native_kernels)
from .native_build import NativeKernelsUnavailable, load_native_kernels

__all__ = ["COMPUTE_CHOICES", "NativeComputable", "NativeKernelsUnavailable", "load_native_kernels",
           "native_coverage", "set_compute", "uses_native_kernels"]
