// Native CPU kernels for the paper's in-pixel models: the binary encoder's conv -> ReLU -> max-pool, the
// PixelRNN cell's whole time loop, and the binary convolution the other cells compose, forward and
// backward, as PyTorch operators (namespace pixelrnn_native). Maps and kernels are {-1, 0, +1}: they are held as int8 and convolved with integer
// adds and subtracts (exact), vectorised along image rows; work is spread over frames / samples with
// at::parallel_for. Every reduction runs in a fixed order, so results do not depend on the thread count.
//
// A 'same' convolution of a map with a k x k kernel (k = 2p + 1) reads a zero-bordered copy of the map:
//   out[y, x] = sum_{ky, kx} w[ky, kx] * in_padded[y + ky, x + kx].
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <string>
#include <vector>

namespace {

struct Tap {
  int offset;  // ky * padded_width + kx
  int sign;    // +1 or -1 (zero taps are dropped)
};

// Taps of a {-1, 0, +1} k x k kernel for a map of the given padded width.
std::vector<Tap> kernel_taps(const float* w, int k, int padded_width, const char* name) {
  std::vector<Tap> taps;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx) {
      const float v = w[ky * k + kx];
      TORCH_CHECK(v == 1.f || v == -1.f || v == 0.f, name, " must hold only -1, 0 and +1 (got ", v, ")");
      if (v != 0.f) taps.push_back({ky * padded_width + kx, v > 0 ? 1 : -1});
    }
  return taps;
}

// Copies a {-1, 0, +1} float map into the interior of a zero-bordered int8 buffer; false if a value is
// not one of the three.
bool pad_ternary(const float* src, int height, int width, int pad, int8_t* dst) {
  const int pw = width + 2 * pad;
  int bad = 0;
  for (int y = 0; y < height; ++y) {
    const float* __restrict s = src + y * width;
    int8_t* __restrict d = dst + (y + pad) * pw + pad;
#pragma omp simd reduction(| : bad)
    for (int x = 0; x < width; ++x) {
      const float v = s[x];
      const int q = (v > 0.f) - (v < 0.f);
      bad |= static_cast<float>(q) != v;
      d[x] = static_cast<int8_t>(q);
    }
  }
  return !bad;
}

// Taps of one kernel split by sign, so that the inner loops add or subtract without a branch.
struct SignedTaps {
  std::vector<int> plus, minus;  // offsets ky * padded_width + kx
};

SignedTaps split_taps(const std::vector<Tap>& taps) {
  SignedTaps split;
  for (const Tap& tap : taps) (tap.sign > 0 ? split.plus : split.minus).push_back(tap.offset);
  return split;
}

typedef int8_t bytes32 __attribute__((vector_size(32)));

inline bytes32 load32(const int8_t* p) {
  bytes32 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// out (height x width) += 'same' convolution of the padded int8 map with the taps. int8 sums (|sum| must
// fit, i.e. at most 127 nonzero taps in all) run 32 lanes at a time with the accumulators in registers.
template <typename Acc>
void accumulate_conv(const int8_t* __restrict padded, int height, int width, int pad, const SignedTaps& taps,
                     Acc* __restrict out) {
  const int pw = width + 2 * pad;
  for (int y = 0; y < height; ++y) {
    Acc* __restrict o = out + y * width;
    const int8_t* row = padded + y * pw;
    int x0 = 0;
    if constexpr (std::is_same_v<Acc, int8_t>) {
      for (; x0 + 64 <= width; x0 += 64) {
        bytes32 a = load32(o + x0), b = load32(o + x0 + 32);
        for (int off : taps.plus) { a += load32(row + off + x0); b += load32(row + off + x0 + 32); }
        for (int off : taps.minus) { a -= load32(row + off + x0); b -= load32(row + off + x0 + 32); }
        std::memcpy(o + x0, &a, 32);
        std::memcpy(o + x0 + 32, &b, 32);
      }
      for (; x0 + 32 <= width; x0 += 32) {
        bytes32 a = load32(o + x0);
        for (int off : taps.plus) a += load32(row + off + x0);
        for (int off : taps.minus) a -= load32(row + off + x0);
        std::memcpy(o + x0, &a, 32);
      }
    }
    for (int off : taps.plus)
      for (int x = x0; x < width; ++x) o[x] += row[off + x];
    for (int off : taps.minus)
      for (int x = x0; x < width; ++x) o[x] -= row[off + x];
  }
}

// out (height x width) += 'same' convolution of a zero-bordered float map with a float kernel, flipped
// when transposed (the input gradient of a convolution: conv_transpose2d == conv2d with the flipped kernel).
// Out: float, or double where many large terms cancel (binary_conv's input gradient).
template <typename Out>
void accumulate_conv_float(const float* __restrict padded, int height, int width, int k, const float* w,
                           bool transposed, Out* __restrict out) {
  const int pw = width + k - 1;
  for (int y = 0; y < height; ++y) {
    Out* __restrict o = out + y * width;
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        const float v = transposed ? w[(k - 1 - ky) * k + (k - 1 - kx)] : w[ky * k + kx];
        if (v == 0.f) continue;
        const float* __restrict s = padded + (y + ky) * pw + kx;
        for (int x = 0; x < width; ++x) o[x] += v * s[x];
      }
  }
}

// grad_w[ky, kx] += sum_{y, x} g[y, x] * in_padded[y + ky, x + kx]  (the weight gradient of a convolution).
void accumulate_weight_grad(const float* __restrict padded, const float* __restrict g, int height, int width,
                            int k, double* grad_w) {
  const int pw = width + k - 1;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx) {
      double total = 0;
      for (int y = 0; y < height; ++y) {
        const float* __restrict s = padded + (y + ky) * pw + kx;
        const float* __restrict gr = g + y * width;
        float row = 0.f;
#pragma omp simd reduction(+ : row)
        for (int x = 0; x < width; ++x) row += gr[x] * s[x];
        total += row;
      }
      grad_w[ky * k + kx] += total;
    }
}

// The same sums, vectorised down the columns: per tap, columns[x] collects g[y, x] * in[y + ky, x + kx] over
// all rows (whole rows of lanes, no reduction inside the loop); the row of columns is then summed in double.
void accumulate_weight_grad_columns(const float* __restrict padded, const float* __restrict g, int height, int width,
                                    int k, float* __restrict columns, double* grad_w) {
  const int pw = width + k - 1;
  for (int ky = 0; ky < k; ++ky)
    for (int kx = 0; kx < k; ++kx) {
      std::fill(columns, columns + width, 0.f);
      for (int y = 0; y < height; ++y) {
        const float* __restrict s = padded + (y + ky) * pw + kx;
        const float* __restrict gr = g + y * width;
#pragma omp simd
        for (int x = 0; x < width; ++x) columns[x] += gr[x] * s[x];
      }
      double total = 0;
      for (int x = 0; x < width; ++x) total += columns[x];
      grad_w[ky * k + kx] += total;
    }
}

void check_float_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor (the native kernels are CPU-only), got ",
              t.device());
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be float32, got ", t.scalar_type());
}

// ---------------------------------------------------------------------------------------------------
// Encoder: frames (N, 1, H, W) -> pooled (N, C, H/P, W/P) = max_pool_P(relu(conv2d(frames, weight))),
// and, if asked, winners (N, C, H/P, W/P) int32: the flat position y * W + x of each window's first
// maximum in row-major order (max_pool2d's own tie-breaking), or -1 where the maximum is <= 0 (the ReLU
// passes no gradient there).

template <typename Acc>
inline void max_into(Acc* __restrict dst, const Acc* __restrict src, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) dst[i] = std::max(dst[i], src[i]);
}

template <typename Acc>
void encoder_frame(const float* frame, int height, int width, int k, int pool, const std::vector<SignedTaps>& taps,
                   bool with_winners, int8_t* padded, Acc* conv, Acc* __restrict colmax, Acc* __restrict rowmax,
                   float* pooled, int32_t* winners) {
  const int pad = k / 2, channels = static_cast<int>(taps.size());
  const int ph = height / pool, pw_out = width / pool;
  TORCH_CHECK(pad_ternary(frame, height, width, pad, padded),
              "encoder frames must hold only -1, 0 and +1 (the output of a sign quantizer)");
  for (int c = 0; c < channels; ++c) {
    std::fill(conv, conv + height * width, Acc(0));
    accumulate_conv(padded, height, width, pad, taps[c], conv);
    float* out = pooled + static_cast<int64_t>(c) * ph * pw_out;
    int32_t* win = with_winners ? winners + static_cast<int64_t>(c) * ph * pw_out : nullptr;
    for (int py = 0; py < ph; ++py) {
      // Vertical then horizontal running maxima, whole rows at a time (vectorised): after both, rowmax[x]
      // for x = px * pool is the window's maximum.
      const Acc* rows = conv + py * pool * width;
      std::copy(rows, rows + width, colmax);
      for (int dy = 1; dy < pool; ++dy) max_into(colmax, rows + dy * width, width);
      std::copy(colmax, colmax + width, rowmax);
      for (int dx = 1; dx < pool; ++dx) max_into(rowmax, colmax + dx, width);  // colmax has pool spare entries
      for (int px = 0; px < pw_out; ++px) {
        const Acc best = rowmax[px * pool];
        out[py * pw_out + px] = best > 0 ? static_cast<float>(best) : 0.f;
        if (!win) continue;
        int32_t where = -1;
        for (int dy = 0; best > 0 && where < 0 && dy < pool; ++dy)
          for (int dx = 0; dx < pool; ++dx) {
            const int y = py * pool + dy, x = px * pool + dx;
            if (conv[y * width + x] == best) { where = y * width + x; break; }
          }
        win[py * pw_out + px] = where;
      }
    }
  }
}

template <typename Acc>
void encoder_forward_impl(const at::Tensor& frames, const at::Tensor& weight, int64_t pool, bool with_winners,
                          at::Tensor& pooled, at::Tensor& winners) {
  const int n = frames.size(0), height = frames.size(2), width = frames.size(3);
  const int channels = weight.size(0), k = weight.size(3), pad = k / 2;
  const int pw = width + 2 * pad;
  std::vector<SignedTaps> taps;
  const float* w = weight.data_ptr<float>();
  for (int c = 0; c < channels; ++c) taps.push_back(split_taps(kernel_taps(w + c * k * k, k, pw, "encoder weight")));
  const float* src = frames.data_ptr<float>();
  float* dst = pooled.data_ptr<float>();
  int32_t* win = with_winners ? winners.data_ptr<int32_t>() : nullptr;
  const int64_t pooled_size = static_cast<int64_t>(channels) * (height / pool) * (width / pool);
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> padded((height + 2 * pad) * pw, 0);
    std::vector<Acc> conv(height * width), colmax(width + pool, std::numeric_limits<Acc>::lowest()), rowmax(width);
    for (int64_t i = begin; i < end; ++i)
      encoder_frame<Acc>(src + i * height * width, height, width, k, pool, taps, with_winners, padded.data(),
                         conv.data(), colmax.data(), rowmax.data(), dst + i * pooled_size, win ? win + i * pooled_size : nullptr);
  });
}

std::tuple<at::Tensor, at::Tensor> encoder_conv_relu_maxpool(const at::Tensor& frames_in, const at::Tensor& weight_in,
                                                             int64_t pool, bool with_winners) {
  check_float_cpu(frames_in, "frames");
  check_float_cpu(weight_in, "weight");
  TORCH_CHECK(frames_in.dim() == 4 && frames_in.size(1) == 1, "frames must be (N, 1, H, W), got ", frames_in.sizes());
  TORCH_CHECK(weight_in.dim() == 4 && weight_in.size(1) == 1 && weight_in.size(2) == weight_in.size(3) &&
                  weight_in.size(3) % 2 == 1,
              "weight must be (C, 1, k, k) with k odd, got ", weight_in.sizes());
  TORCH_CHECK(pool >= 1 && frames_in.size(2) % pool == 0 && frames_in.size(3) % pool == 0, "frame ",
              frames_in.size(2), "x", frames_in.size(3), " is not divisible by the pool size ", pool);
  const at::Tensor frames = frames_in.contiguous(), weight = weight_in.contiguous();
  const int64_t n = frames.size(0), channels = weight.size(0), k = weight.size(3);
  const auto pooled_shape = std::vector<int64_t>{n, channels, frames.size(2) / pool, frames.size(3) / pool};
  at::Tensor pooled = at::empty(pooled_shape, frames.options());
  at::Tensor winners = at::empty(with_winners ? pooled_shape : std::vector<int64_t>{0}, frames.options().dtype(at::kInt));
  if (k * k <= 127)  // |sum| <= k*k fits int8: twice the lanes of int16
    encoder_forward_impl<int8_t>(frames, weight, pool, with_winners, pooled, winners);
  else
    encoder_forward_impl<int16_t>(frames, weight, pool, with_winners, pooled, winners);
  return {pooled, winners};
}

// Backward: the gradient reaches each window's winner only. grad_weight[c, ky, kx] = sum over frames and
// windows of grad[n, c, window] * frame[winner + (ky - p, kx - p)]; grad_frames = the winners' gradients
// scattered through the kernels.
std::tuple<at::Tensor, at::Tensor> encoder_conv_relu_maxpool_backward(
    const at::Tensor& grad_in, const at::Tensor& frames_in, const at::Tensor& weight_in, const at::Tensor& winners_in,
    bool frames_grad, bool weight_grad) {
  const at::Tensor grad = grad_in.contiguous(), frames = frames_in.contiguous(), weight = weight_in.contiguous(),
                   winners = winners_in.contiguous();
  check_float_cpu(grad, "grad_pooled");
  TORCH_CHECK(winners.sizes() == grad.sizes(), "winners must be the forward's (it was run without winners?)");
  const int n = frames.size(0), height = frames.size(2), width = frames.size(3);
  const int channels = weight.size(0), k = weight.size(3), pad = k / 2;
  const int64_t windows = grad.size(2) * grad.size(3);
  const float* g = grad.data_ptr<float>();
  const float* x = frames.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  const int32_t* win = winners.data_ptr<int32_t>();
  // Gradients not asked for come back empty (the wrapper turns them into None).
  at::Tensor grad_weight = at::empty({0}, weight.options()), grad_frames = at::empty({0}, frames.options());
  if (weight_grad) {
    grad_weight = at::zeros_like(weight);
    float* gw = grad_weight.data_ptr<float>();
    // The frames again as zero-bordered int8 maps, so that each winner's patch is read without bounds checks.
    const int pw = width + 2 * pad, padded_size = (height + 2 * pad) * pw;
    std::vector<int8_t> padded(static_cast<size_t>(n) * padded_size, 0);
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        pad_ternary(x + i * height * width, height, width, pad, padded.data() + i * padded_size);
    });
    at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> total(k * k);
      std::vector<float> frame_sum(k * k);
      for (int64_t c = begin; c < end; ++c) {
        std::fill(total.begin(), total.end(), 0.0);
        for (int64_t i = 0; i < n; ++i) {
          const int64_t base = (i * channels + c) * windows;
          const int8_t* frame = padded.data() + i * padded_size;
          std::fill(frame_sum.begin(), frame_sum.end(), 0.f);
          for (int64_t j = 0; j < windows; ++j) {
            const int32_t where = win[base + j];
            const float gv = g[base + j];
            if (where < 0 || gv == 0.f) continue;
            // The patch of padded rows wy .. wy + k - 1, columns wx .. wx + k - 1 (unpadded offset -p each).
            const int8_t* patch = frame + (where / width) * pw + where % width;
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) frame_sum[ky * k + kx] += gv * patch[ky * pw + kx];
          }
          for (int t = 0; t < k * k; ++t) total[t] += frame_sum[t];
        }
        for (int t = 0; t < k * k; ++t) gw[c * k * k + t] = static_cast<float>(total[t]);
      }
    });
  }
  if (frames_grad) {
    grad_frames = at::zeros_like(frames);
    float* gx = grad_frames.data_ptr<float>();
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float* out = gx + i * height * width;
        for (int c = 0; c < channels; ++c) {
          const int64_t base = (i * channels + c) * windows;
          const float* kernel = w + c * k * k;
          for (int64_t j = 0; j < windows; ++j) {
            const int32_t where = win[base + j];
            const float gv = g[base + j];
            if (where < 0 || gv == 0.f) continue;
            const int wy = where / width, wx = where % width;
            for (int ky = 0; ky < k; ++ky) {
              const int y = wy + ky - pad;
              if (y < 0 || y >= height) continue;
              for (int kx = 0; kx < k; ++kx) {
                const int xx = wx + kx - pad;
                if (xx >= 0 && xx < width) out[y * width + xx] += gv * kernel[ky * k + kx];
              }
            }
          }
        }
      }
    });
  }
  return {grad_frames, grad_weight};
}

// ---------------------------------------------------------------------------------------------------
// PixelRNN cell, whole time loop. x (B, T, M, M) +-1 mosaics; weight_i, weight_h (2, k, k): [gate, output]
// kernels for the input and the state; threshold: one value; gate_noise (B, T, M, M) or none.
//   h_{-1} = 1;  f_t = Wfi * x_t + Wfh * h_{t-1};  g_t = sign((f_t + noise_t) - threshold);  h_t = g_t h_{t-1}
//   output = Woi * x_{T-1} + Woh * h_{T-2}   (o_T; the last step's gate does not reach it)
// With save: states (B, T, M, M) int8 = h_{t-1} for each step, gate_sums (B, T-1, M, M) int16 = f_t.

struct CellTaps {
  SignedTaps gate_i, gate_h, out_i, out_h;
};

CellTaps cell_taps(const at::Tensor& weight_i, const at::Tensor& weight_h, int pw) {
  const int k = weight_i.size(2);
  const float* wi = weight_i.data_ptr<float>();
  const float* wh = weight_h.data_ptr<float>();
  return {split_taps(kernel_taps(wi, k, pw, "weight_i")), split_taps(kernel_taps(wh, k, pw, "weight_h")),
          split_taps(kernel_taps(wi + k * k, k, pw, "weight_i")), split_taps(kernel_taps(wh + k * k, k, pw, "weight_h"))};
}

void check_cell_inputs(const at::Tensor& x, const at::Tensor& weight_i, const at::Tensor& weight_h,
                       const at::Tensor& threshold, const std::optional<at::Tensor>& gate_noise) {
  check_float_cpu(x, "x");
  check_float_cpu(weight_i, "weight_i");
  check_float_cpu(weight_h, "weight_h");
  check_float_cpu(threshold, "threshold");
  TORCH_CHECK(x.dim() == 4 && x.size(1) >= 1, "x must be (B, T, M, M), got ", x.sizes());
  for (const at::Tensor* w : {&weight_i, &weight_h})
    TORCH_CHECK(w->dim() == 3 && w->size(0) == 2 && w->size(1) == w->size(2) && w->size(2) % 2 == 1,
                "weight_i and weight_h must be (2, k, k) with k odd ([gate, output] kernels), got ", w->sizes());
  TORCH_CHECK(weight_i.sizes() == weight_h.sizes(), "weight_i and weight_h differ in shape");
  TORCH_CHECK(threshold.numel() == 1, "threshold must hold one value, got ", threshold.sizes());
  if (gate_noise) {
    check_float_cpu(*gate_noise, "gate_noise");
    TORCH_CHECK(gate_noise->sizes() == x.sizes(), "gate_noise must be shaped like x ", x.sizes(), ", got ",
                gate_noise->sizes());
  }
}

void check_surrogate(c10::string_view surrogate, double m) {
  TORCH_CHECK(surrogate == "ste" || (surrogate == "tanh_mx" && m > 0),
              "surrogate must be 'ste' or 'tanh_mx' with m > 0, got '", std::string(surrogate), "' with m = ", m);
}

template <typename Acc>
void cell_forward_impl(const at::Tensor& x, const CellTaps& taps, float thr, const float* ns, float* out, int8_t* st,
                       int16_t* gs, int k) {
  const int batch = x.size(0), steps = x.size(1), height = x.size(2), width = x.size(3);
  const int pad = k / 2, pw = width + 2 * pad, map = height * width;
  const float* xs = x.data_ptr<float>();
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> xpad((height + 2 * pad) * pw, 0), hpad((height + 2 * pad) * pw, 0);
    std::vector<Acc> sums(map);
    for (int64_t b = begin; b < end; ++b) {
      for (int y = 0; y < height; ++y) std::fill_n(&hpad[(y + pad) * pw + pad], width, int8_t(1));
      for (int t = 0; t < steps; ++t) {
        const int64_t frame = b * steps + t;
        TORCH_CHECK(pad_ternary(xs + frame * map, height, width, pad, xpad.data()),
                    "the cell's input x must hold only -1, 0 and +1 (the output of a sign quantizer)");
        if (st)
          for (int y = 0; y < height; ++y)
            std::copy_n(&hpad[(y + pad) * pw + pad], width, st + frame * map + y * width);
        std::fill(sums.begin(), sums.end(), Acc(0));
        if (t == steps - 1) {
          accumulate_conv(xpad.data(), height, width, pad, taps.out_i, sums.data());
          accumulate_conv(hpad.data(), height, width, pad, taps.out_h, sums.data());
          for (int i = 0; i < map; ++i) out[b * map + i] = sums[i];
          break;
        }
        accumulate_conv(xpad.data(), height, width, pad, taps.gate_i, sums.data());
        accumulate_conv(hpad.data(), height, width, pad, taps.gate_h, sums.data());
        if (gs) std::copy(sums.begin(), sums.end(), gs + (b * (steps - 1) + t) * map);
        const float* n = ns ? ns + frame * map : nullptr;
        for (int y = 0; y < height; ++y) {
          int8_t* h = &hpad[(y + pad) * pw + pad];
          for (int xx = 0; xx < width; ++xx) {
            const float total = static_cast<float>(sums[y * width + xx]);
            const float v = (n ? total + n[y * width + xx] : total) - thr;
            h[xx] = static_cast<int8_t>(h[xx] * ((v > 0.f) - (v < 0.f)));
          }
        }
      }
    }
  });
}

// surrogate and m are the backward's (taken here so that the autograd context can keep them).
std::tuple<at::Tensor, at::Tensor, at::Tensor> pixelrnn_cell(const at::Tensor& x_in, const at::Tensor& weight_i_in,
                                                             const at::Tensor& weight_h_in, const at::Tensor& threshold,
                                                             const std::optional<at::Tensor>& gate_noise_in,
                                                             c10::string_view surrogate, double m, bool save) {
  check_cell_inputs(x_in, weight_i_in, weight_h_in, threshold, gate_noise_in);
  check_surrogate(surrogate, m);
  const at::Tensor x = x_in.contiguous(), weight_i = weight_i_in.contiguous(), weight_h = weight_h_in.contiguous();
  const at::Tensor noise = gate_noise_in ? gate_noise_in->contiguous() : at::Tensor();
  const int batch = x.size(0), steps = x.size(1), height = x.size(2), width = x.size(3);
  const int k = weight_i.size(2), pad = k / 2, pw = width + 2 * pad, map = height * width;
  const CellTaps taps = cell_taps(weight_i, weight_h, pw);
  const float thr = threshold.item<float>();
  at::Tensor output = at::empty({batch, height, width}, x.options());
  at::Tensor states = at::empty(save ? std::vector<int64_t>{batch, steps, height, width} : std::vector<int64_t>{0},
                                x.options().dtype(at::kChar));
  at::Tensor gate_sums = at::empty(
      save ? std::vector<int64_t>{batch, steps - 1, height, width} : std::vector<int64_t>{0}, x.options().dtype(at::kShort));
  const float* ns = noise.defined() ? noise.data_ptr<float>() : nullptr;
  float* out = output.data_ptr<float>();
  int8_t* st = save ? states.data_ptr<int8_t>() : nullptr;
  int16_t* gs = save ? gate_sums.data_ptr<int16_t>() : nullptr;
  if (2 * k * k <= 127)  // |f| <= 2 k^2 fits int8
    cell_forward_impl<int8_t>(x, taps, thr, ns, out, st, gs, k);
  else
    cell_forward_impl<int16_t>(x, taps, thr, ns, out, st, gs, k);
  return {output, states, gate_sums};
}

// Backward through time. surrogate: "ste" (gradient 1) or "tanh_mx" (gradient m (1 - tanh(m v)^2)) of
// the gate's sign at v = (f_t + noise_t) - threshold.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> pixelrnn_cell_backward(
    const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& states, const at::Tensor& gate_sums,
    const at::Tensor& weight_i_in, const at::Tensor& weight_h_in, const at::Tensor& threshold,
    const std::optional<at::Tensor>& gate_noise_in, c10::string_view surrogate, double m, bool x_grad) {
  check_cell_inputs(x_in, weight_i_in, weight_h_in, threshold, gate_noise_in);
  check_surrogate(surrogate, m);
  const at::Tensor grad = grad_in.contiguous(), x = x_in.contiguous(), weight_i = weight_i_in.contiguous(),
                   weight_h = weight_h_in.contiguous();
  const at::Tensor noise = gate_noise_in ? gate_noise_in->contiguous() : at::Tensor();
  check_float_cpu(grad, "grad_output");
  const int batch = x.size(0), steps = x.size(1), height = x.size(2), width = x.size(3);
  const int k = weight_i.size(2), pad = k / 2, pw = width + 2 * pad, map = height * width, kk = k * k;
  TORCH_CHECK(states.numel() == static_cast<int64_t>(batch) * steps * map,
              "the saved states are missing (the forward ran with save=False)");
  const float thr = threshold.item<float>();
  const bool tanh_mx = surrogate == "tanh_mx";
  const float mf = static_cast<float>(m);
  at::Tensor grad_x = x_grad ? at::zeros_like(x) : at::empty({0}, x.options());
  // Per-sample weight and threshold gradients, summed over the batch in order afterwards.
  std::vector<double> per_sample(static_cast<size_t>(batch) * (4 * kk + 1), 0.0);
  const float* g = grad.data_ptr<float>();
  const float* xs = x.data_ptr<float>();
  const float* ns = noise.defined() ? noise.data_ptr<float>() : nullptr;
  const int8_t* st = states.data_ptr<int8_t>();
  const int16_t* gs = steps > 1 ? gate_sums.data_ptr<int16_t>() : nullptr;
  const float* wi = weight_i.data_ptr<float>();
  const float* wh = weight_h.data_ptr<float>();
  float* gx = x_grad ? grad_x.data_ptr<float>() : nullptr;
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    const int padded_size = (height + 2 * pad) * pw;
    std::vector<float> xpad(padded_size, 0.f), hpad(padded_size, 0.f), dpad(padded_size, 0.f);
    std::vector<float> dh(map), dv(map), dh_next(map);
    auto fill_padded = [&](std::vector<float>& dst, auto value_at) {
      for (int y = 0; y < height; ++y)
        for (int xx = 0; xx < width; ++xx) dst[(y + pad) * pw + pad + xx] = value_at(y * width + xx);
    };
    for (int64_t b = begin; b < end; ++b) {
      double* gw = per_sample.data() + b * (4 * kk + 1);  // [gate_i, out_i, gate_h, out_h, threshold]
      // Output step t = T-1: output = Woi * x_{T-1} + Woh * h_{T-2}.
      int64_t frame = b * steps + steps - 1;
      fill_padded(xpad, [&](int i) { return xs[frame * map + i]; });
      fill_padded(hpad, [&](int i) { return static_cast<float>(st[frame * map + i]); });
      fill_padded(dpad, [&](int i) { return g[b * map + i]; });
      accumulate_weight_grad(xpad.data(), g + b * map, height, width, k, gw + kk);
      accumulate_weight_grad(hpad.data(), g + b * map, height, width, k, gw + 3 * kk);
      if (gx) accumulate_conv_float(dpad.data(), height, width, k, wi + kk, true, gx + frame * map);
      std::fill(dh.begin(), dh.end(), 0.f);
      accumulate_conv_float(dpad.data(), height, width, k, wh + kk, true, dh.data());
      for (int t = steps - 2; t >= 0; --t) {
        frame = b * steps + t;
        const int8_t* h_prev = st + frame * map;
        const int16_t* sums = gs + (b * (steps - 1) + t) * map;
        const float* n = ns ? ns + frame * map : nullptr;
        double thr_grad = 0;
        for (int i = 0; i < map; ++i) {
          const float total = static_cast<float>(sums[i]);
          const float v = (n ? total + n[i] : total) - thr;
          float slope = 1.f;
          if (tanh_mx) {
            const float th = std::tanh(mf * v);
            slope = mf * (1.f - th * th);
          }
          dv[i] = dh[i] * static_cast<float>(h_prev[i]) * slope;
          thr_grad -= dv[i];
          dh_next[i] = dh[i] * static_cast<float>((v > 0.f) - (v < 0.f));  // through h_t = g_t h_{t-1}
        }
        gw[4 * kk] += thr_grad;
        fill_padded(xpad, [&](int i) { return xs[frame * map + i]; });
        fill_padded(hpad, [&](int i) { return static_cast<float>(h_prev[i]); });
        fill_padded(dpad, [&](int i) { return dv[i]; });
        accumulate_weight_grad(xpad.data(), dv.data(), height, width, k, gw);
        accumulate_weight_grad(hpad.data(), dv.data(), height, width, k, gw + 2 * kk);
        if (gx) accumulate_conv_float(dpad.data(), height, width, k, wi, true, gx + frame * map);
        accumulate_conv_float(dpad.data(), height, width, k, wh, true, dh_next.data());
        std::swap(dh, dh_next);
      }
    }
  });
  at::Tensor grad_wi = at::empty_like(weight_i), grad_wh = at::empty_like(weight_h);
  at::Tensor grad_thr = at::empty_like(threshold);
  std::vector<double> total(4 * kk + 1, 0.0);
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < 4 * kk + 1; ++j) total[j] += per_sample[b * (4 * kk + 1) + j];
  float* gwi = grad_wi.data_ptr<float>();
  float* gwh = grad_wh.data_ptr<float>();
  for (int j = 0; j < 2 * kk; ++j) {
    gwi[j] = static_cast<float>(total[j]);
    gwh[j] = static_cast<float>(total[2 * kk + j]);
  }
  grad_thr.fill_(total[4 * kk]);
  return {grad_x, grad_wi, grad_wh, grad_thr};
}

// ---------------------------------------------------------------------------------------------------
// Binary convolution, the building block the other cells compose: maps (N, 1, H, W) {-1, 0, +1} and
// kernels (K, 1, k, k) {-1, 0, +1} -> K sums (N, 1, H, W), the 'same' convolution of the maps with each
// kernel (integer sums, exact). One tensor per kernel, so that the backward reads each kernel's gradient
// where autograd left it (none for an unused one) instead of a copy gathered into one (N, K, H, W) block.
// The backward: grad_maps[n] = sum_c grad_c[n] (*) flipped w_c; grad_weight[c] = sum_n the correlation of
// maps[n] with grad_c[n] (per-sample partials summed in order).

void check_conv_inputs(const at::Tensor& maps, const at::Tensor& weight) {
  check_float_cpu(maps, "maps");
  check_float_cpu(weight, "weight");
  TORCH_CHECK(maps.dim() == 4 && maps.size(1) == 1, "maps must be (N, 1, H, W), got ", maps.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(1) == 1 && weight.size(2) == weight.size(3) && weight.size(3) % 2 == 1,
              "weight must be (K, 1, k, k) with k odd, got ", weight.sizes());
}

template <typename Acc>
void binary_conv_impl(const at::Tensor& maps, const at::Tensor& weight, std::vector<at::Tensor>& sums) {
  const int n = maps.size(0), height = maps.size(2), width = maps.size(3);
  const int kernels = weight.size(0), k = weight.size(3), pad = k / 2, pw = width + 2 * pad, map = height * width;
  std::vector<SignedTaps> taps;
  std::vector<float*> dst;
  const float* w = weight.data_ptr<float>();
  for (int c = 0; c < kernels; ++c) {
    taps.push_back(split_taps(kernel_taps(w + c * k * k, k, pw, "weight")));
    dst.push_back(sums[c].data_ptr<float>());
  }
  const float* src = maps.data_ptr<float>();
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> padded((height + 2 * pad) * pw, 0);
    std::vector<Acc> acc(map);
    for (int64_t i = begin; i < end; ++i) {
      TORCH_CHECK(pad_ternary(src + i * map, height, width, pad, padded.data()),
                  "maps must hold only -1, 0 and +1 (the output of a sign quantizer)");
      for (int c = 0; c < kernels; ++c) {
        std::fill(acc.begin(), acc.end(), Acc(0));
        accumulate_conv(padded.data(), height, width, pad, taps[c], acc.data());
        float* out = dst[c] + i * map;
#pragma omp simd
        for (int j = 0; j < map; ++j) out[j] = static_cast<float>(acc[j]);
      }
    }
  });
}

std::vector<at::Tensor> binary_conv(const at::Tensor& maps_in, const at::Tensor& weight_in) {
  check_conv_inputs(maps_in, weight_in);
  const at::Tensor maps = maps_in.contiguous(), weight = weight_in.contiguous();
  std::vector<at::Tensor> sums;
  for (int c = 0; c < weight.size(0); ++c) sums.push_back(at::empty_like(maps));
  if (weight.size(3) * weight.size(3) <= 127)  // |sum| <= k*k fits int8
    binary_conv_impl<int8_t>(maps, weight, sums);
  else
    binary_conv_impl<int16_t>(maps, weight, sums);
  return sums;
}

std::tuple<at::Tensor, at::Tensor> binary_conv_backward(const c10::List<std::optional<at::Tensor>>& grads_in,
                                                        const at::Tensor& maps_in, const at::Tensor& weight_in,
                                                        bool maps_grad, bool weight_grad) {
  check_conv_inputs(maps_in, weight_in);
  const at::Tensor maps = maps_in.contiguous(), weight = weight_in.contiguous();
  const int n = maps.size(0), height = maps.size(2), width = maps.size(3);
  const int kernels = weight.size(0), k = weight.size(3), pad = k / 2, pw = width + 2 * pad, map = height * width;
  const int kk = k * k, padded_size = (height + 2 * pad) * pw;
  TORCH_CHECK(static_cast<int>(grads_in.size()) == kernels, "one gradient per kernel expected, got ", grads_in.size());
  std::vector<at::Tensor> grads;  // undefined where the kernel's sums got no gradient
  std::vector<const float*> g(kernels, nullptr);
  for (int c = 0; c < kernels; ++c) {
    const std::optional<at::Tensor> grad = grads_in.get(c);
    grads.push_back(grad && grad->defined() ? grad->contiguous() : at::Tensor());
    if (!grads[c].defined()) continue;
    check_float_cpu(grads[c], "grad");
    TORCH_CHECK(grads[c].sizes() == maps.sizes(), "each gradient must be shaped like the maps ", maps.sizes(),
                ", got ", grads[c].sizes());
    g[c] = grads[c].data_ptr<float>();
  }
  const float* x = maps.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  at::Tensor grad_maps = maps_grad ? at::empty_like(maps) : at::empty({0}, maps.options());
  float* gx = maps_grad ? grad_maps.data_ptr<float>() : nullptr;
  std::vector<double> per_sample(weight_grad ? static_cast<size_t>(n) * kernels * kk : 0, 0.0);
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> xpad(padded_size, 0.f), gpad(padded_size, 0.f), columns(width);
    std::vector<double> gsum(map);  // the terms can be large and cancel: summed in double
    for (int64_t i = begin; i < end; ++i) {
      if (weight_grad)
        for (int y = 0; y < height; ++y) std::copy_n(x + i * map + y * width, width, &xpad[(y + pad) * pw + pad]);
      std::fill(gsum.begin(), gsum.end(), 0.0);
      for (int c = 0; c < kernels; ++c) {
        if (!g[c]) continue;
        const float* gc = g[c] + i * map;
        if (weight_grad)
          accumulate_weight_grad_columns(xpad.data(), gc, height, width, k, columns.data(),
                                         &per_sample[(i * kernels + c) * kk]);
        if (gx) {
          for (int y = 0; y < height; ++y) std::copy_n(gc + y * width, width, &gpad[(y + pad) * pw + pad]);
          accumulate_conv_float(gpad.data(), height, width, k, w + c * kk, true, gsum.data());
        }
      }
      if (gx) std::copy(gsum.begin(), gsum.end(), gx + i * map);
    }
  });
  at::Tensor grad_weight = at::empty({0}, weight.options());
  if (weight_grad) {
    grad_weight = at::empty_like(weight);
    float* gw = grad_weight.data_ptr<float>();
    for (int j = 0; j < kernels * kk; ++j) {
      double total = 0;
      for (int i = 0; i < n; ++i) total += per_sample[static_cast<size_t>(i) * kernels * kk + j];
      gw[j] = static_cast<float>(total);
    }
  }
  return {grad_maps, grad_weight};
}

}  // namespace

TORCH_LIBRARY(pixelrnn_native, m) {
  m.def("encoder_conv_relu_maxpool(Tensor frames, Tensor weight, int pool, bool winners) -> (Tensor, Tensor)");
  m.def("encoder_conv_relu_maxpool_backward(Tensor grad_pooled, Tensor frames, Tensor weight, Tensor winners, "
        "bool frames_grad, bool weight_grad) -> (Tensor, Tensor)");
  m.def("pixelrnn_cell(Tensor x, Tensor weight_i, Tensor weight_h, Tensor threshold, Tensor? gate_noise, str surrogate, "
        "float m, bool save) -> (Tensor, Tensor, Tensor)");
  m.def("pixelrnn_cell_backward(Tensor grad_output, Tensor x, Tensor states, Tensor gate_sums, Tensor weight_i, "
        "Tensor weight_h, Tensor threshold, Tensor? gate_noise, str surrogate, float m, bool x_grad) "
        "-> (Tensor, Tensor, Tensor, Tensor)");
  m.def("binary_conv(Tensor maps, Tensor weight) -> Tensor[]");
  m.def("binary_conv_backward(Tensor?[] grads, Tensor maps, Tensor weight, bool maps_grad, bool weight_grad) "
        "-> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(pixelrnn_native, CPU, m) {
  m.impl("encoder_conv_relu_maxpool", &encoder_conv_relu_maxpool);
  m.impl("encoder_conv_relu_maxpool_backward", &encoder_conv_relu_maxpool_backward);
  m.impl("pixelrnn_cell", &pixelrnn_cell);
  m.impl("pixelrnn_cell_backward", &pixelrnn_cell_backward);
  m.impl("binary_conv", &binary_conv);
  m.impl("binary_conv_backward", &binary_conv_backward);
}
