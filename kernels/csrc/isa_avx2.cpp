// AVX2 + FMA fallback: the same packed layouts and activation convention as the AVX-512 paths,
// bf16 pair products from two fp32 FMAs (dense); 2:4 by fp32 gathers (up to 4 activation rows)
// or by decoding 32-row tiles into the dense layout (more rows).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

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

namespace {

constexpr int kGatherBatch = 4;  // up to this many activation rows: gathers; above: dense tiles

// x rows [n] as fp32 (hi + lo), each padded with zeros to `chunks`·32 columns.
std::vector<float> fp32_rows(const ss::Activations& x, int64_t in_features, int64_t width) {
  std::vector<float> xf(static_cast<size_t>(x.n * width), 0.0f);
  for (int64_t n = 0; n < x.n; ++n) {
    const uint16_t* xh = x.hi + n * x.stride;
    const uint16_t* xl = x.lo ? x.lo + n * x.stride : nullptr;
    float* out = xf.data() + n * width;
    for (int64_t c = 0; c < in_features; ++c)
      out[c] = ss::bf16_to_float(xh[c]) + (xl ? ss::bf16_to_float(xl[c]) : 0.0f);
  }
  return xf;
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Rows [r0, r1) against nb <= kGatherBatch fp32 activation rows: per chunk of 8 groups (16 kept
// values, 32 columns) the values split into the first/second kept value of each group and the
// activations at their columns are gathered (vpgatherdd), two FMAs per activation row.
void sparse24_gather(const ss::Sparse24Args& a, int64_t r0, int64_t r1, const float* xf,
                     int64_t width, int64_t n0, int nb) {
  const int64_t groups = a.in_features / 4, vs = a.in_features / 2, ms = a.in_features / 8;
  const __m256i lane4 = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i hi = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  const __m256i three = _mm256_set1_epi32(3), fifteen = _mm256_set1_epi32(15);
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* vals = a.values + r * vs;
    const uint8_t* meta = a.meta + r * ms;
    __m256 acc[kGatherBatch];
    for (int i = 0; i < nb; ++i) acc[i] = _mm256_setzero_ps();
    for (int64_t g = 0; g < groups; g += 8) {
      const int64_t left = std::min<int64_t>(8, groups - g);  // even: I % 8 == 0
      __m256i w = _mm256_setzero_si256();
      uint32_t m = 0;
      if (left == 8) {
        w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vals + 2 * g));
        std::memcpy(&m, meta + g / 2, 4);
      } else {  // tail: missing groups have zero values (their gathers read zero padding)
        alignas(32) uint16_t tail[16] = {0};
        std::memcpy(tail, vals + 2 * g, static_cast<size_t>(4 * left));
        w = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail));
        std::memcpy(&m, meta + g / 2, static_cast<size_t>(left / 2));
      }
      const __m256 v0 = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
      const __m256 v1 = _mm256_castsi256_ps(_mm256_and_si256(w, hi));
      const __m256i nib =
          _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(m)), lane4), fifteen);
      const __m256i i0 = _mm256_add_epi32(lane4, _mm256_and_si256(nib, three));
      const __m256i i1 = _mm256_add_epi32(lane4, _mm256_srli_epi32(nib, 2));
      for (int i = 0; i < nb; ++i) {
        const float* x = xf + (n0 + i) * width + 4 * g;
        acc[i] = _mm256_fmadd_ps(v0, _mm256_i32gather_ps(x, i0, 4), acc[i]);
        acc[i] = _mm256_fmadd_ps(v1, _mm256_i32gather_ps(x, i1, 4), acc[i]);
      }
    }
    for (int i = 0; i < nb; ++i) ss::store_value(a.y, n0 + i, r, hsum(acc[i]));
  }
}

// Rows [r0, r1) against many activation rows: each 32-row tile is decoded once into the packed
// dense layout and run by the dense tile kernel for every activation row.
void sparse24_tiles(const ss::Sparse24Args& a, int64_t r0, int64_t r1) {
  const int64_t groups = a.in_features / 4, vs = a.in_features / 2, ms = a.in_features / 8;
  const int64_t kp = a.in_features / 2;
  std::vector<uint16_t> tile(static_cast<size_t>(kp * 64));
  alignas(32) float out[ss::kTileRows];
  for (int64_t t0 = r0; t0 < r1; t0 += ss::kTileRows) {
    const int64_t rows = std::min<int64_t>(ss::kTileRows, r1 - t0);
    std::fill(tile.begin(), tile.end(), 0);
    for (int64_t rr = 0; rr < rows; ++rr) {
      const uint16_t* vals = a.values + (t0 + rr) * vs;
      const uint8_t* meta = a.meta + (t0 + rr) * ms;
      for (int64_t g = 0; g < groups; ++g) {
        const unsigned nib = (meta[g >> 1] >> ((g & 1) * 4)) & 0xfu;
        const int64_t c0 = 4 * g + (nib & 3u), c1 = 4 * g + (nib >> 2);
        tile[(c0 >> 1) * 64 + rr * 2 + (c0 & 1)] = vals[2 * g];
        tile[(c1 >> 1) * 64 + rr * 2 + (c1 & 1)] = vals[2 * g + 1];
      }
    }
    for (int64_t n = 0; n < a.x.n; ++n) {
      const uint16_t* xh = a.x.hi + n * a.x.stride;
      const uint16_t* xl = a.x.lo ? a.x.lo + n * a.x.stride : nullptr;
      dense_tile(tile.data(), kp, xh, xl, out);
      for (int64_t rr = 0; rr < rows; ++rr) ss::store_value(a.y, n, t0 + rr, out[rr]);
    }
  }
}

}  // namespace

void sparse24_rows(const ss::Sparse24Args& a, int64_t r0, int64_t r1) {
  if (a.x.n > kGatherBatch) return sparse24_tiles(a, r0, r1);
  const int64_t width = (a.in_features + 31) / 32 * 32;
  const std::vector<float> xf = fp32_rows(a.x, a.in_features, width);
  sparse24_gather(a, r0, r1, xf.data(), width, 0, static_cast<int>(a.x.n));
}

}  // namespace ss::avx2
#pragma GCC pop_options
