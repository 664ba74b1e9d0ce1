"""Native CPU kernels for the paper's model (binary encoder, PixelRNN time loop) and the choice of path."""
from .dispatch import COMPUTE_CHOICES, native_coverage, native_encode, uses_native_kernels
from .native_build import NativeKernelsUnavailable, load_native_kernels

__all__ = ["COMPUTE_CHOICES", "NativeKernelsUnavailable", "load_native_kernels", "native_coverage", "native_encode",
           "uses_native_kernels"]
