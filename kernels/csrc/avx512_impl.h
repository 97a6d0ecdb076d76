// AVX-512 kernel bodies, included by isa_avx512bf16.cpp (SS_HAS_BF16 = 1: vdpbf16ps) and
// isa_avx512.cpp (SS_HAS_BF16 = 0: the same pair dot product from two fp32 FMAs), each inside its
// own `#pragma GCC target` region and namespace. Requires AVX512F/BW/VL.

namespace {

// acc[i] += a.bf16[2i]·b.bf16[2i] + a.bf16[2i+1]·b.bf16[2i+1]  (16 fp32 lanes)
inline __m512 dp(__m512 acc, __m512i a, __m512i b) {
#if SS_HAS_BF16
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
#else
  const __m512i hi = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 a0 = _mm512_castsi512_ps(_mm512_slli_epi32(a, 16));
  __m512 b0 = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
  __m512 a1 = _mm512_castsi512_ps(_mm512_and_si512(a, hi));
  __m512 b1 = _mm512_castsi512_ps(_mm512_and_si512(b, hi));
  return _mm512_fmadd_ps(a1, b1, _mm512_fmadd_ps(a0, b0, acc));
#endif
}

inline __m512i pair_at(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

constexpr int kMaxBatch = 8;

// One 32-row tile for NB activation rows: out[n][r] = Σ_k W[r, k]·x[n, k].
template <int NB, bool SPLIT>
inline void dense_tile(const uint16_t* w, int64_t kp, const uint16_t* const* xh,
                       const uint16_t* const* xl, float (*out)[ss::kTileRows]) {
  // Small batches alternate two accumulator sets over k (more independent dp chains).
  constexpr int P = NB <= 2 ? 2 : 1;
  __m512 acc0[P][NB], acc1[P][NB];
  for (int q = 0; q < P; ++q)
    for (int n = 0; n < NB; ++n) acc0[q][n] = acc1[q][n] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + P <= kp; k += P) {
    for (int q = 0; q < P; ++q) {
      const uint16_t* wk = w + (k + q) * 64;
      _mm_prefetch(reinterpret_cast<const char*>(wk + 1024), _MM_HINT_T0);
      __m512i w0 = _mm512_loadu_si512(wk);
      __m512i w1 = _mm512_loadu_si512(wk + 32);
      for (int n = 0; n < NB; ++n) {
        for (int part = 0; part < (SPLIT ? 2 : 1); ++part) {
          __m512i b = pair_at((part ? xl[n] : xh[n]) + 2 * (k + q));
          acc0[q][n] = dp(acc0[q][n], w0, b);
          acc1[q][n] = dp(acc1[q][n], w1, b);
        }
      }
    }
  }
  for (; k < kp; ++k) {  // odd remainder (P == 2)
    __m512i w0 = _mm512_loadu_si512(w + k * 64), w1 = _mm512_loadu_si512(w + k * 64 + 32);
    for (int n = 0; n < NB; ++n) {
      for (int part = 0; part < (SPLIT ? 2 : 1); ++part) {
        __m512i b = pair_at((part ? xl[n] : xh[n]) + 2 * k);
        acc0[0][n] = dp(acc0[0][n], w0, b);
        acc1[0][n] = dp(acc1[0][n], w1, b);
      }
    }
  }
  for (int n = 0; n < NB; ++n) {
    __m512 s0 = acc0[0][n], s1 = acc1[0][n];
    if constexpr (P == 2) {
      s0 = _mm512_add_ps(s0, acc0[1][n]);
      s1 = _mm512_add_ps(s1, acc1[1][n]);
    }
    _mm512_storeu_ps(out[n], s0);
    _mm512_storeu_ps(out[n] + 16, s1);
  }
}

template <bool SPLIT>
void dense_tile_nb(int nb, const uint16_t* w, int64_t kp, const uint16_t* const* xh,
                   const uint16_t* const* xl, float (*out)[ss::kTileRows]) {
  switch (nb) {
    case 1: return dense_tile<1, SPLIT>(w, kp, xh, xl, out);
    case 2: return dense_tile<2, SPLIT>(w, kp, xh, xl, out);
    case 3: return dense_tile<3, SPLIT>(w, kp, xh, xl, out);
    case 4: return dense_tile<4, SPLIT>(w, kp, xh, xl, out);
    case 5: return dense_tile<5, SPLIT>(w, kp, xh, xl, out);
    case 6: return dense_tile<6, SPLIT>(w, kp, xh, xl, out);
    case 7: return dense_tile<7, SPLIT>(w, kp, xh, xl, out);
    default: return dense_tile<8, SPLIT>(w, kp, xh, xl, out);
  }
}

// The 32 gather indices of one chunk of 16 groups: lane l reads window[4·(l/2) + p_l], where p_l
// is bits 2l..2l+1 of the chunk's 8 meta bytes read as one little-endian uint64.
inline __m512i chunk_index(uint64_t meta) {
  alignas(64) static const uint16_t kBase[32] = {0,  0,  4,  4,  8,  8,  12, 12, 16, 16, 20,
                                                 20, 24, 24, 28, 28, 32, 32, 36, 36, 40, 40,
                                                 44, 44, 48, 48, 52, 52, 56, 56, 60, 60};
  __m512i m = _mm512_set1_epi64(static_cast<long long>(meta));
#if SS_HAS_BF16  // this tier also requires AVX512-VBMI: one multishift picks every lane's 2 bits
  alignas(64) static const uint8_t kBit[64] = {
      0,  0, 2,  0, 4,  0, 6,  0, 8,  0, 10, 0, 12, 0, 14, 0, 16, 0, 18, 0, 20, 0,
      22, 0, 24, 0, 26, 0, 28, 0, 30, 0, 32, 0, 34, 0, 36, 0, 38, 0, 40, 0, 42, 0,
      44, 0, 46, 0, 48, 0, 50, 0, 52, 0, 54, 0, 56, 0, 58, 0, 60, 0, 62, 0};
  __m512i pos = _mm512_multishift_epi64_epi8(_mm512_load_si512(kBit), m);
#else
  alignas(64) static const uint16_t kWord[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
  alignas(64) static const uint16_t kShift[32] = {0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4,
                                                  6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10,
                                                  12, 14, 0, 2, 4, 6, 8, 10, 12, 14};
  __m512i words = _mm512_permutexvar_epi16(_mm512_load_si512(kWord), m);
  __m512i pos = _mm512_srlv_epi16(words, _mm512_load_si512(kShift));
#endif
  // (pos & 3) | base in one vpternlogd (A & B | C: 0xEA); base has its low 2 bits clear
  return _mm512_ternarylogic_epi32(pos, _mm512_set1_epi16(3), _mm512_load_si512(kBase), 0xEA);
}

// R consecutive 2:4 rows (row stride `vs` values / `ms` meta bytes) for NB activation rows:
// out[r][n] = Σ_g v0·x[4g+p0] + v1·x[4g+p1]. Several rows at once keep independent dp chains.
template <int R, int NB, bool SPLIT>
inline void sparse24_rows_nb(const uint16_t* vals, const uint8_t* meta, int64_t in_features,
                             const uint16_t* const* xh, const uint16_t* const* xl,
                             float (*out)[kMaxBatch], int64_t ahead) {
  const int64_t vs = in_features / 2, ms = in_features / 8;
  __m512 acc[R][NB];
  for (int r = 0; r < R; ++r)
    for (int n = 0; n < NB; ++n) acc[r][n] = _mm512_setzero_ps();
  for (int64_t c = 0; c * 32 < vs; ++c) {
    const int64_t left = vs - c * 32;
    __m512i v[R], idx[R];
    for (int r = 0; r < R; ++r) {
      // The same chunk `ahead` rows further (a few row groups): enough misses in flight to
      // stream from memory (the hardware prefetcher alone falls short on these strided rows).
      _mm_prefetch(reinterpret_cast<const char*>(vals + (r + ahead) * vs + c * 32), _MM_HINT_T0);
      if ((c & 7) == 0)
        _mm_prefetch(reinterpret_cast<const char*>(meta + (r + ahead) * ms + c * 8), _MM_HINT_T0);
      uint64_t m = 0;
      if (left >= 32) {
        v[r] = _mm512_loadu_si512(vals + r * vs + c * 32);
        std::memcpy(&m, meta + r * ms + c * 8, 8);
      } else {  // tail: `left` is a multiple of 4 (I % 8 == 0); masked lanes are zero
        v[r] = _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1u << left) - 1u),
                                        vals + r * vs + c * 32);
        std::memcpy(&m, meta + r * ms + c * 8, static_cast<size_t>(left / 4));
      }
      idx[r] = chunk_index(m);
    }
    for (int n = 0; n < NB; ++n) {
      for (int part = 0; part < (SPLIT ? 2 : 1); ++part) {
        const uint16_t* x = (part ? xl[n] : xh[n]) + c * 64;
        __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 32);
        for (int r = 0; r < R; ++r)
          acc[r][n] = dp(acc[r][n], v[r], _mm512_permutex2var_epi16(x0, idx[r], x1));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int n = 0; n < NB; ++n) out[r][n] = _mm512_reduce_add_ps(acc[r][n]);
}

// One chunk (32 kept values, 16 groups) of a 2:4 row against one activation row.
template <bool SPLIT>
inline __m512 sparse24_chunk(__m512 acc, __m512i v, uint64_t m, const uint16_t* xh,
                             const uint16_t* xl) {
  __m512i idx = chunk_index(m);
  acc = dp(acc, v, _mm512_permutex2var_epi16(_mm512_loadu_si512(xh), idx,
                                              _mm512_loadu_si512(xh + 32)));
  if constexpr (SPLIT)
    acc = dp(acc, v, _mm512_permutex2var_epi16(_mm512_loadu_si512(xl), idx,
                                                _mm512_loadu_si512(xl + 32)));
  return acc;
}

inline uint64_t meta_at(const uint8_t* p) {
  uint64_t m;
  std::memcpy(&m, p, 8);
  return m;
}

// Batch 1: one row at a time (values and meta read as two sequential streams), four
// accumulators over the chunks for independent dp chains.
template <bool SPLIT>
inline float sparse24_row_seq(const uint16_t* vals, const uint8_t* meta, int64_t in_features,
                              const uint16_t* xh, const uint16_t* xl) {
  const int64_t vs = in_features / 2, full = vs / 32;
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  const uint16_t* xl0 = SPLIT ? xl : xh;
  int64_t c = 0;
  for (; c + 4 <= full; c += 4) {
    for (int q = 0; q < 4; ++q)  // 4 KB ahead: the 4 lines of values of this step
      _mm_prefetch(reinterpret_cast<const char*>(vals + (c + q) * 32 + 2048), _MM_HINT_T0);
    if ((c & 7) == 0) _mm_prefetch(reinterpret_cast<const char*>(meta + c * 8 + 512), _MM_HINT_T0);
    a0 = sparse24_chunk<SPLIT>(a0, _mm512_loadu_si512(vals + c * 32), meta_at(meta + c * 8),
                               xh + c * 64, xl0 + c * 64);
    a1 = sparse24_chunk<SPLIT>(a1, _mm512_loadu_si512(vals + c * 32 + 32),
                               meta_at(meta + c * 8 + 8), xh + c * 64 + 64, xl0 + c * 64 + 64);
    a2 = sparse24_chunk<SPLIT>(a2, _mm512_loadu_si512(vals + c * 32 + 64),
                               meta_at(meta + c * 8 + 16), xh + c * 64 + 128, xl0 + c * 64 + 128);
    a3 = sparse24_chunk<SPLIT>(a3, _mm512_loadu_si512(vals + c * 32 + 96),
                               meta_at(meta + c * 8 + 24), xh + c * 64 + 192, xl0 + c * 64 + 192);
  }
  for (; c * 32 < vs; ++c) {
    const int64_t left = vs - c * 32;
    __m512i v;
    uint64_t m = 0;
    if (left >= 32) {
      v = _mm512_loadu_si512(vals + c * 32);
      m = meta_at(meta + c * 8);
    } else {
      v = _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1u << left) - 1u), vals + c * 32);
      std::memcpy(&m, meta + c * 8, static_cast<size_t>(left / 4));
    }
    a0 = sparse24_chunk<SPLIT>(a0, v, m, xh + c * 64, xl0 + c * 64);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

constexpr int kSparseRows = 4;
constexpr int kSparseBatch = 4;

template <int R, bool SPLIT>
void sparse24_rows_any(int nb, const uint16_t* vals, const uint8_t* meta, int64_t in_features,
                       const uint16_t* const* xh, const uint16_t* const* xl,
                       float (*out)[kMaxBatch], int64_t ahead) {
  switch (nb) {
    case 1: return sparse24_rows_nb<R, 1, SPLIT>(vals, meta, in_features, xh, xl, out, ahead);
    case 2: return sparse24_rows_nb<R, 2, SPLIT>(vals, meta, in_features, xh, xl, out, ahead);
    case 3: return sparse24_rows_nb<R, 3, SPLIT>(vals, meta, in_features, xh, xl, out, ahead);
    default: return sparse24_rows_nb<R, 4, SPLIT>(vals, meta, in_features, xh, xl, out, ahead);
  }
}

// Row pointers of activation rows [n0, n0 + nb), shifted by `offset` columns.
inline void rows_of(const ss::Activations& x, int64_t n0, int nb, int64_t offset,
                    const uint16_t** xh, const uint16_t** xl) {
  for (int i = 0; i < nb; ++i) {
    xh[i] = x.hi + (n0 + i) * x.stride + offset;
    xl[i] = x.lo ? x.lo + (n0 + i) * x.stride + offset : nullptr;
  }
}

}  // namespace

void dense_tiles(const ss::DenseArgs& a, int64_t t0, int64_t t1) {
  alignas(64) float out[kMaxBatch][ss::kTileRows];
  const uint16_t* xh[kMaxBatch];
  const uint16_t* xl[kMaxBatch];
  for (int64_t t = t0; t < t1; ++t) {
    const uint16_t* w = a.w + t * a.kp * 64;
    const int64_t rows = std::min<int64_t>(ss::kTileRows, a.out_rows - t * ss::kTileRows);
    for (int64_t n0 = 0; n0 < a.x.n; n0 += kMaxBatch) {
      const int nb = static_cast<int>(std::min<int64_t>(kMaxBatch, a.x.n - n0));
      rows_of(a.x, n0, nb, a.x_offset, xh, xl);
      if (a.x.lo) {
        dense_tile_nb<true>(nb, w, a.kp, xh, xl, out);
      } else {
        dense_tile_nb<false>(nb, w, a.kp, xh, xl, out);
      }
      for (int n = 0; n < nb; ++n)
        for (int64_t r = 0; r < rows; ++r)
          ss::store_value(a.y, n0 + n, a.y_offset + t * ss::kTileRows + r, out[n][r]);
    }
  }
}

void sparse24_rows(const ss::Sparse24Args& a, int64_t r0, int64_t r1) {
  float out[kSparseRows][kMaxBatch];
  const uint16_t* xh[kMaxBatch];
  const uint16_t* xl[kMaxBatch];
  const bool split = a.x.lo != nullptr;
  if (a.x.n == 1 && a.prefetch_rows < 0) {  // decode: sequential rows
    const int64_t vs = a.in_features / 2, ms = a.in_features / 8;
    for (int64_t r = r0; r < r1; ++r) {
      const float v = split ? sparse24_row_seq<true>(a.values + r * vs, a.meta + r * ms,
                                                     a.in_features, a.x.hi, a.x.lo)
                            : sparse24_row_seq<false>(a.values + r * vs, a.meta + r * ms,
                                                      a.in_features, a.x.hi, nullptr);
      ss::store_value(a.y, 0, r, v);
    }
    return;
  }
  for (int64_t r = r0; r < r1;) {
    const int rows = r + kSparseRows <= r1 ? kSparseRows : 1;
    const uint16_t* vals = a.values + r * (a.in_features / 2);
    const uint8_t* meta = a.meta + r * (a.in_features / 8);
    for (int64_t n0 = 0; n0 < a.x.n; n0 += kSparseBatch) {
      const int nb = static_cast<int>(std::min<int64_t>(kSparseBatch, a.x.n - n0));
      rows_of(a.x, n0, nb, 0, xh, xl);
      if (rows == kSparseRows) {
        if (split) {
          sparse24_rows_any<kSparseRows, true>(nb, vals, meta, a.in_features, xh, xl, out, std::abs(a.prefetch_rows));
        } else {
          sparse24_rows_any<kSparseRows, false>(nb, vals, meta, a.in_features, xh, xl, out, std::abs(a.prefetch_rows));
        }
      } else if (split) {
        sparse24_rows_any<1, true>(nb, vals, meta, a.in_features, xh, xl, out, std::abs(a.prefetch_rows));
      } else {
        sparse24_rows_any<1, false>(nb, vals, meta, a.in_features, xh, xl, out, std::abs(a.prefetch_rows));
      }
      for (int i = 0; i < rows; ++i)
        for (int n = 0; n < nb; ++n) ss::store_value(a.y, n0 + n, r + i, out[i][n]);
    }
    r += rows;
  }
}
