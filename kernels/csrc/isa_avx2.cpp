// AVX2 + FMA fallback: the same packed layouts and activation convention as the AVX-512 paths,
// bf16 pair products from two fp32 FMAs (dense), scalar fp32 gathers (2:4).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace ss::avx2 {
namespace {

inline __m256 dp(__m256 acc, __m256i a, __m256 b0, __m256 b1) {
  const __m256i hi = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  __m256 a0 = _mm256_castsi256_ps(_mm256_slli_epi32(a, 16));
  __m256 a1 = _mm256_castsi256_ps(_mm256_and_si256(a, hi));
  return _mm256_fmadd_ps(a1, b1, _mm256_fmadd_ps(a0, b0, acc));
}

// One 32-row tile for one activation row (hi and optional lo part).
inline void dense_tile(const uint16_t* w, int64_t kp, const uint16_t* xh, const uint16_t* xl,
                       float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (int64_t k = 0; k < kp; ++k) {
    const uint16_t* wk = w + k * 64;
    float x0 = ss::bf16_to_float(xh[2 * k]), x1 = ss::bf16_to_float(xh[2 * k + 1]);
    if (xl) {
      x0 += ss::bf16_to_float(xl[2 * k]);
      x1 += ss::bf16_to_float(xl[2 * k + 1]);
    }
    __m256 b0 = _mm256_set1_ps(x0), b1 = _mm256_set1_ps(x1);
    for (int q = 0; q < 4; ++q) {
      __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + 16 * q));
      acc[q] = dp(acc[q], wq, b0, b1);
    }
  }
  for (int q = 0; q < 4; ++q) _mm256_storeu_ps(out + 8 * q, acc[q]);
}

}  // namespace

void dense_tiles(const ss::DenseArgs& a, int64_t t0, int64_t t1) {
  alignas(32) float out[ss::kTileRows];
  for (int64_t t = t0; t < t1; ++t) {
    const uint16_t* w = a.w + t * a.kp * 64;
    const int64_t rows = std::min<int64_t>(ss::kTileRows, a.out_rows - t * ss::kTileRows);
    for (int64_t n = 0; n < a.x.n; ++n) {
      const uint16_t* xh = a.x.hi + n * a.x.stride + a.x_offset;
      const uint16_t* xl = a.x.lo ? a.x.lo + n * a.x.stride + a.x_offset : nullptr;
      dense_tile(w, a.kp, xh, xl, out);
      for (int64_t r = 0; r < rows; ++r)
        ss::store_value(a.y, n, a.y_offset + t * ss::kTileRows + r, out[r]);
    }
  }
}

void sparse24_rows(const ss::Sparse24Args& a, int64_t r0, int64_t r1) {
  const int64_t groups = a.in_features / 4;
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* vals = a.values + r * (a.in_features / 2);
    const uint8_t* meta = a.meta + r * (a.in_features / 8);
    for (int64_t n = 0; n < a.x.n; ++n) {
      const uint16_t* xh = a.x.hi + n * a.x.stride;
      const uint16_t* xl = a.x.lo ? a.x.lo + n * a.x.stride : nullptr;
      float acc = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        const unsigned nib = (meta[g >> 1] >> ((g & 1) * 4)) & 0xfu;
        const int64_t c0 = 4 * g + (nib & 3u), c1 = 4 * g + (nib >> 2);
        float x0 = ss::bf16_to_float(xh[c0]), x1 = ss::bf16_to_float(xh[c1]);
        if (xl) {
          x0 += ss::bf16_to_float(xl[c0]);
          x1 += ss::bf16_to_float(xl[c1]);
        }
        acc += ss::bf16_to_float(vals[2 * g]) * x0 + ss::bf16_to_float(vals[2 * g + 1]) * x1;
      }
      ss::store_value(a.y, n, r, acc);
    }
  }
}

}  // namespace ss::avx2
#pragma GCC pop_options
