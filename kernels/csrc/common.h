// Shared declarations of structserve's native CPU linear kernels (no torch headers here: the
// ISA files include this inside their own `#pragma GCC target` region).
//
// Conventions:
//   * Weights are bf16 (uint16_t bit patterns). Activations reach the kernels as bf16 rows padded
//     with zeros to `x_stride` columns (a multiple of 64). fp32 activations are split into two bf16
//     rows, hi = bf16(x) and lo = bf16(x - hi), whose products are summed in fp32: every product is
//     exact and x is represented to ~2^-17 relative, so fp32 inputs keep near-fp32 accuracy.
//   * Outputs accumulate in fp32 and are stored as fp32 or bf16 (round to nearest even).
//   * Kernels run a range of independent work items [begin, end); ops.cpp parallelizes over them.
#pragma once

#include <cstdint>

namespace ss {

// Packed dense layout: [tiles = ceil(O/32)][kp = ceil(I/2)][32 rows][2 cols], bf16, zero padded.
constexpr int64_t kTileRows = 32;
constexpr int64_t kXAlign = 64;

struct Activations {
  const uint16_t* hi;  // [n, stride] bf16
  const uint16_t* lo;  // [n, stride] bf16, or nullptr (bf16 inputs)
  int64_t stride;
  int64_t n;
};

struct Output {
  void* data;  // [n, stride] of float or bf16
  int64_t stride;
  bool bf16;
  const float* bias;  // [O] or nullptr (added before the store)
};

struct DenseArgs {
  const uint16_t* w;  // packed, see above
  int64_t kp;         // column pairs
  int64_t out_rows;   // O (rows past O in the last tile are padding, not stored)
  int64_t x_offset;   // first activation column read (block-diagonal blocks)
  int64_t y_offset;   // first output column written
  Activations x;
  Output y;
};

struct Sparse24Args {
  const uint16_t* values;  // [O, I/2] bf16
  const uint8_t* meta;     // [O, I/8]
  int64_t in_features;     // I (multiple of 8)
  int64_t prefetch_rows;   // software prefetch distance, in rows
  Activations x;
  Output y;
};

// Per ISA: dense over tiles [t0, t1), sparse24 over rows [r0, r1).
#define SS_DECLARE_ISA(ns)                                                    \
  namespace ns {                                                              \
  void dense_tiles(const DenseArgs& a, int64_t t0, int64_t t1);               \
  void sparse24_rows(const Sparse24Args& a, int64_t r0, int64_t r1);          \
  }

SS_DECLARE_ISA(avx512bf16)
SS_DECLARE_ISA(avx512)
SS_DECLARE_ISA(avx2)

// Scalar helpers (header-inline, no ISA assumptions).
inline float bf16_to_float(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline void store_value(const Output& y, int64_t row, int64_t col, float v) {
  if (y.bias) v += y.bias[col];
  if (y.bf16) {
    static_cast<uint16_t*>(y.data)[row * y.stride + col] = float_to_bf16(v);
  } else {
    static_cast<float*>(y.data)[row * y.stride + col] = v;
  }
}

}  // namespace ss
