"""Exact integer 'same' convolution of a +-1 map with {-1, 0, +1} kernels by table lookup, and the
encoder's conv -> ReLU -> max pooling on top of it.

With a +-1 input and integer kernels, each output is a sum of 25 (k x k) signed kernel entries. The
input's sign bits are packed per kernel row into k-bit codes; two rows form a 2k-bit code, and a
per-channel table built once from the kernels holds the partial sum of those two rows for every
code. An output is then ceil(k / 2) table lookups and adds (3 for k = 5) instead of k^2 multiply-adds
per channel, all in small integers. Out-of-image taps read bit 0 (= -1) and are corrected exactly: the
last row's table is indexed by the pixel's *kind* too, whose constant per channel adds back the padded
taps' kernel entries (zero padding means they contribute 0, not -1). For pooling, the kind also carries
the pixel's position in its pooling window: values are stored as ``pool^2 * conv + (pool^2 - 1 - pos)``,
so the window maximum of that key is unique, its value is the conv maximum and its position the first
maximum in row-major window order — ``max_pool2d``'s own winner.

Only the forward is computed here; callers check ``lut_applicable`` and otherwise use ``F.conv2d``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .intra_op_threads import one_intra_op_thread

# Kernel sizes whose two-row tables stay small enough to be cache-resident (2^(2k) codes).
MAX_KERNEL = 7


def is_sign_map(x: torch.Tensor) -> bool:
    """True when the float tensor x holds only -1 and +1 (no 0, the third level of a sign)."""
    return x.is_floating_point() and bool(x.abs().eq(1).all())


def lut_weights_applicable(weight: torch.Tensor, padding: int) -> bool:
    """True for CPU weight (C, 1, k, k), k odd <= MAX_KERNEL, entries in {-1, 0, +1}, 'same' padding.
    (On GPUs the vendor convolution is fast, and the checks here would synchronise the host per step.)"""
    if weight.device.type != "cpu" or weight.dim() != 4 or weight.shape[1] != 1:
        return False
    k = weight.shape[-1]
    if weight.shape[-2] != k or k % 2 == 0 or k > MAX_KERNEL or padding != k // 2:
        return False
    return bool(weight.abs().le(1).all() and weight.eq(weight.round()).all())


def lut_applicable(x: torch.Tensor, weight: torch.Tensor, padding: int) -> bool:
    """True when ``conv2d(x, weight, padding)`` can run here exactly: x (N, 1, H, W) holding only +-1
    and weights that ``lut_weights_applicable`` accepts."""
    return x.dim() == 4 and x.shape[1] == 1 and lut_weights_applicable(weight, padding) and is_sign_map(x)


def _kernel_rows(weight: torch.Tensor) -> list[list[int]]:
    """Row groups that share one table: pairs of rows, then the last row alone (it carries the kind)."""
    k = weight.shape[-1]
    return [[r, r + 1] for r in range(0, k - 1, 2)] + [[k - 1]]


def _group_table(weight: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """(2^(k * len(rows)), C) partial sums: bit j of a code is the sign (1: +1, 0: -1) of tap j of
    ``rows`` in row-major order."""
    k = weight.shape[-1]
    taps = len(rows) * k
    codes = torch.arange(2 ** taps, device=weight.device)
    signs = ((codes[:, None] >> torch.arange(taps, device=weight.device)) & 1) * 2 - 1
    return signs.to(weight.dtype) @ weight[:, 0, rows].reshape(weight.shape[0], taps).t()


def _axis_classes(size: int, pad: int, pool: int | None):
    """Per position along one axis: the index of its class (taps outside the image before and after
    it, position in its pooling window), and one representative position per class."""
    position = torch.arange(size)
    before = (pad - position).clamp_min(0)
    after = (position + pad - (size - 1)).clamp_min(0)
    in_window = position % pool if pool is not None else torch.zeros_like(position)
    classes, index = torch.unique((before * (pad + 1) + after) * (pool or 1) + in_window, return_inverse=True)
    first = torch.full((len(classes),), size).scatter_reduce_(0, index, position, "amin")
    return index, first


def _pixel_kinds(weight: torch.Tensor, height: int, width: int, pool: int | None):
    """(kind index (H, W), kind constants (K, C)): pixels of one kind have the same taps outside the
    image and the same window position. The constant corrects the tables, which counted each outside
    tap as -1 times its kernel entry (zero padding makes it 0), scaled to the key, plus the window-position
    key (pool^2 - 1 - position) when pooling."""
    pad = weight.shape[-1] // 2
    outside = F.pad(weight.new_zeros(1, 1, height, width), (pad,) * 4, value=1.0)
    constants = F.conv2d(outside, weight)[0].permute(1, 2, 0)  # (H, W, C)
    if pool is not None:
        y = torch.arange(height, device=weight.device)[:, None] % pool
        x = torch.arange(width, device=weight.device)[None, :] % pool
        constants = constants * pool ** 2 + (pool ** 2 - 1 - (y * pool + x)).unsqueeze(-1).to(weight.dtype)
    row_class, rows = _axis_classes(height, pad, pool)
    col_class, cols = _axis_classes(width, pad, pool)
    kinds = constants[rows.to(weight.device)][:, cols.to(weight.device)]  # (Ky, Kx, C)
    index = row_class[:, None] * len(cols) + col_class[None, :]
    return index.to(weight.device), kinds.reshape(len(rows) * len(cols), -1)


def _storage_dtype(bound: int) -> torch.dtype:
    for dtype in (torch.int8, torch.int16, torch.int32):
        if bound <= torch.iinfo(dtype).max:
            return dtype
    raise ValueError(f"binary LUT convolution: values up to {bound} do not fit int32")


# Table rows are gathered as single elements of up to 16 bytes (a 1-D element gather is far faster than
# copying rows); wider rows are split into slabs of channels, each gathered with the same codes.
_ELEMENT_TYPES = {16: torch.complex128, 8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}

# Frames per lookup pass: keeps the integer work buffers a few MiB (cache-friendly, and reused by the
# allocator instead of freshly page-faulted on every call).
CHUNK_FRAMES = 64


class LookupTables:
    """The kernels' lookup tables for frames of one size, built once per weight update: per row group,
    (S, codes * elements) flat per channel slab; the last group is indexed by ``kind << k | code``.
    ``pool``: pixels in window-position-major order; ``keyed``: sums carry the window-position key."""

    def __init__(self, weight: torch.Tensor, height: int, width: int, pool: int | None = None, keyed: bool = False):
        self.channels, self.kernel = weight.shape[0], weight.shape[-1]
        self.height, self.width, self.pool = height, width, pool
        scale = pool ** 2 if keyed else 1
        self.padded_channels = 1 << max(self.channels - 1, 0).bit_length()
        weight = F.pad(weight, (0, 0, 0, 0, 0, 0, 0, self.padded_channels - self.channels))
        self.dtype = _storage_dtype(scale * 2 * int(weight.abs().sum((1, 2, 3)).max()) + scale)
        self.groups = _kernel_rows(weight)
        tables = [_group_table(weight, rows) * scale for rows in self.groups]
        kind_index, kinds = _pixel_kinds(weight, height, width, pool if keyed else None)
        self.kind_code = kind_index.to(torch.int32) << self.kernel
        tables[-1] = (tables[-1][None] + kinds[:, None]).reshape(-1, self.padded_channels)
        row_bytes = self.padded_channels * torch.empty((), dtype=self.dtype).element_size()
        self.slabs = max(row_bytes // 16, 1)
        self.element = _ELEMENT_TYPES[row_bytes // self.slabs]
        self.tables = [t.round().to(self.dtype).reshape(-1, self.slabs, self.padded_channels // self.slabs)
                       .transpose(0, 1).contiguous().view(self.element).reshape(self.slabs, -1) for t in tables]

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per row group, the flat codes of every pixel of x (N, 1, H, W): raster order (N, H, W), or
        window-position-major (pool, pool, N, H / pool, W / pool) when pooling."""
        n, k, height, width = x.shape[0], self.kernel, self.height, self.width
        pad = k // 2
        bits = F.pad((x[:, 0] > 0).to(torch.uint8), (pad,) * 4)  # out-of-image taps read 0 (= -1)
        row_code = bits[:, :, :width].clone()
        for j in range(1, k):
            row_code |= bits[:, :, j:j + width] << j
        row_code = row_code.to(torch.int32)
        pair_code = row_code[:, :-1] | (row_code[:, 1:] << k)  # pair_code[:, r] codes kernel rows r, r + 1
        codes = [pair_code[:, rows[0]:rows[0] + height] for rows in self.groups[:-1]]
        codes.append(row_code[:, k - 1:k - 1 + height] | self.kind_code)
        if self.pool is not None:
            p = self.pool
            codes = [c.reshape(n, height // p, p, width // p, p).permute(2, 4, 0, 1, 3) for c in codes]
        return [c.reshape(-1) for c in codes]

    def sums(self, x: torch.Tensor) -> torch.Tensor:
        """(S, pixels, C' / S) integer sums of the tables over the row groups, pixels ordered as ``codes``;
        C' is the channel count padded to a power of two (padding channels last)."""
        codes = self.codes(x)
        shape = (self.slabs, codes[0].numel(), self.padded_channels // self.slabs)
        sums = torch.empty(shape, dtype=self.dtype, device=x.device)
        part = torch.empty_like(sums)
        for g, (table, code) in enumerate(zip(self.tables, codes)):
            target = sums if g == 0 else part
            for s in range(self.slabs):
                torch.index_select(table[s], 0, code, out=target[s].view(self.element).reshape(-1))
            if g > 0:
                sums += part
        return sums


def lut_conv2d(x: torch.Tensor, weight: torch.Tensor, tables: LookupTables | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=k // 2)`` (float, (N, C, H, W)) for inputs ``lut_applicable`` accepts;
    ``tables``: ``LookupTables(weight, H, W)`` built beforehand (for repeated calls with one weight)."""
    height, width = x.shape[-2:]
    with one_intra_op_thread(x.device):
        tables = tables or LookupTables(weight, height, width)
        maps = []
        for chunk in x.split(CHUNK_FRAMES):
            sums = tables.sums(chunk).reshape(tables.slabs, len(chunk), height, width, -1)
            maps.append(sums.permute(1, 0, 4, 2, 3).reshape(len(chunk), -1, height, width)[:, :tables.channels])
        return torch.cat(maps).to(x.dtype)


def _window_maxima(tables: LookupTables, x: torch.Tensor) -> torch.Tensor:
    """(N, C, H / pool, W / pool) maxima of each pooling window of the table sums."""
    pool, n = tables.pool, x.shape[0]
    area = pool * pool
    sums = tables.sums(x)
    # Pixels are window-position-major: halve the leading (position) axis in place.
    positions = sums.view(sums.shape[0], area, -1)
    size = area
    while size > 1:
        half = size // 2
        low = positions[:, :half]
        torch.maximum(low, positions[:, size - half:size], out=low)
        size -= half
    best = positions[:, 0].reshape(-1, n, tables.height // pool, tables.width // pool, sums.shape[-1])
    return best.permute(1, 0, 4, 2, 3).reshape(n, -1, *best.shape[2:4])[:, :tables.channels]


def lut_conv_relu_maxpool(x: torch.Tensor, weight: torch.Tensor, pool: int, winners: bool = True):
    """(relu(max_pool(conv)), max_pool2d indices of conv or None) for ``conv = F.conv2d(x, weight,
    padding=k // 2)``, for inputs ``lut_applicable`` accepts and H, W divisible by ``pool``. The indices
    equal ``F.max_pool2d(conv, pool, return_indices=True)``'s (first maximum of each window)."""
    height, width = x.shape[-2:]
    if height % pool or width % pool:
        raise ValueError(f"lut_conv_relu_maxpool: frame {height}x{width} is not divisible by the pool size {pool}")
    with one_intra_op_thread(x.device):
        tables = LookupTables(weight, height, width, pool, keyed=winners)
        best = torch.cat([_window_maxima(tables, chunk) for chunk in x.split(CHUNK_FRAMES)])
    if not winners:
        return best.clamp_min(0).to(x.dtype), None
    area = pool * pool
    value = best.div(area, rounding_mode="floor")
    position = area - 1 - (best - value * area)
    rows = torch.arange(0, height, pool, device=x.device)[:, None]
    cols = torch.arange(0, width, pool, device=x.device)[None, :]
    index = (rows + position.div(pool, rounding_mode="floor")) * width + cols + position % pool
    return value.clamp_min(0).to(x.dtype), index.long()
