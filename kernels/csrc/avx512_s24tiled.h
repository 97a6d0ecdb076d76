// AVX-512 kernels of the tiled 2:4 layout (common.h: 16-row tiles, one sequential stream),
// included after avx512_impl.h (uses its dp, chunk_index, meta_at, rows_of) inside each ISA's
// `#pragma GCC target` region and namespace.
//
// Batch 1 (decode): the 16 rows of a tile accumulate side by side, one vector each (16
// independent dp chains); each chunk loads its 64 activation columns once for all 16 rows; the
// 16 accumulators are reduced together by a transpose-add tree (45 shuffles/adds per tile instead
// of 16 horizontal reductions). Batches: 4 rows x <= 4 activation rows at a time.

namespace {

// Distance of the software prefetch in the block stream, in bytes ($STRUCTSERVE_S24_PREFETCH,
// read once in ops.cpp; 0 disables it).
inline void s24_prefetch(const uint8_t* p, int64_t ahead) {
  if (ahead > 0) _mm_prefetch(reinterpret_cast<const char*>(p + ahead), _MM_HINT_T0);
}

// The 16 horizontal sums of a[0..15], in order, in one vector.
inline __m512 reduce16(const __m512* a) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i)  // 128-bit lanes 0,1: row 2i; 2,3: row 2i+1
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int j = 0; j < 4; ++j)  // 128-bit lane k: row 4j+k (4 partial sums)
    c[j] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * j], b[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(b[2 * j], b[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int i = 0; i < 2; ++i)  // lane k: [row 8i+k, row 8i+4+k] x 2 partial sums each
    d[i] = _mm512_add_ps(_mm512_unpacklo_ps(c[2 * i], c[2 * i + 1]),
                         _mm512_unpackhi_ps(c[2 * i], c[2 * i + 1]));
  const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(3, 2, 3, 2)));
  // e: lane 4k+m holds row k+4m; put row j in lane j
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, e);
}

// One tile (16 rows) against one activation row: out[r] = row r · x.
template <bool SPLIT>
inline void s24_tile_b1(const uint8_t* blk, int64_t chunks, const uint16_t* xh,
                        const uint16_t* xl, float* out, int64_t ahead) {
  __m512 acc[ss::kS24TileRows];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t c = 0; c < chunks; ++c, blk += ss::kS24BlockBytes) {
    const __m512i h0 = _mm512_loadu_si512(xh + c * 64), h1 = _mm512_loadu_si512(xh + c * 64 + 32);
    __m512i l0 = h0, l1 = h1;
    if constexpr (SPLIT) {
      l0 = _mm512_loadu_si512(xl + c * 64);
      l1 = _mm512_loadu_si512(xl + c * 64 + 32);
    }
    const uint8_t* meta = blk + ss::kS24TileRows * 64;
    for (int r = 0; r < ss::kS24TileRows; ++r) {
      s24_prefetch(blk + 64 * r, ahead);
      const __m512i idx = chunk_index(meta_at(meta + 8 * r));
      const __m512i v = _mm512_loadu_si512(blk + 64 * r);
      acc[r] = dp(acc[r], v, _mm512_permutex2var_epi16(h0, idx, h1));
      if constexpr (SPLIT) acc[r] = dp(acc[r], v, _mm512_permutex2var_epi16(l0, idx, l1));
    }
    s24_prefetch(meta, ahead);
    s24_prefetch(meta + 64, ahead);
  }
  _mm512_storeu_ps(out, reduce16(acc));
}

// One tile against NB (2..4) activation rows, 4 tile rows at a time: out[r][n].
template <int NB, bool SPLIT>
inline void s24_tile_nb(const uint8_t* tile, int64_t chunks, const uint16_t* const* xh,
                        const uint16_t* const* xl, float (*out)[kMaxBatch]) {
  constexpr int R = 4;
  for (int g = 0; g < ss::kS24TileRows; g += R) {
    __m512 acc[R][NB];
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n) acc[r][n] = _mm512_setzero_ps();
    const uint8_t* blk = tile;
    for (int64_t c = 0; c < chunks; ++c, blk += ss::kS24BlockBytes) {
      __m512i v[R], idx[R];
      for (int r = 0; r < R; ++r) {
        v[r] = _mm512_loadu_si512(blk + 64 * (g + r));
        idx[r] = chunk_index(meta_at(blk + ss::kS24TileRows * 64 + 8 * (g + r)));
      }
      for (int n = 0; n < NB; ++n) {
        for (int part = 0; part < (SPLIT ? 2 : 1); ++part) {
          const uint16_t* x = (part ? xl[n] : xh[n]) + c * 64;
          const __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 32);
          for (int r = 0; r < R; ++r)
            acc[r][n] = dp(acc[r][n], v[r], _mm512_permutex2var_epi16(x0, idx[r], x1));
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n) out[g + r][n] = _mm512_reduce_add_ps(acc[r][n]);
  }
}

template <bool SPLIT>
void s24_tile_any(int nb, const uint8_t* tile, int64_t chunks, const uint16_t* const* xh,
                  const uint16_t* const* xl, float (*out)[kMaxBatch]) {
  switch (nb) {
    case 2: return s24_tile_nb<2, SPLIT>(tile, chunks, xh, xl, out);
    case 3: return s24_tile_nb<3, SPLIT>(tile, chunks, xh, xl, out);
    default: return s24_tile_nb<4, SPLIT>(tile, chunks, xh, xl, out);
  }
}

}  // namespace

void sparse24_tiles(const ss::Sparse24TiledArgs& a, int64_t t0, int64_t t1) {
  alignas(64) float one[ss::kS24TileRows];
  float out[ss::kS24TileRows][kMaxBatch];
  const uint16_t* xh[kMaxBatch];
  const uint16_t* xl[kMaxBatch];
  const bool split = a.x.lo != nullptr;
  constexpr int kBatch = 4;
  for (int64_t t = t0; t < t1; ++t) {
    const uint8_t* tile = a.blocks + t * a.chunks * ss::kS24BlockBytes;
    const int64_t row0 = t * ss::kS24TileRows;
    const int64_t rows = std::min<int64_t>(ss::kS24TileRows, a.out_rows - row0);
    if (a.x.n == 1) {
      if (split) {
        s24_tile_b1<true>(tile, a.chunks, a.x.hi, a.x.lo, one, a.prefetch);
      } else {
        s24_tile_b1<false>(tile, a.chunks, a.x.hi, nullptr, one, a.prefetch);
      }
      for (int64_t r = 0; r < rows; ++r) ss::store_value(a.y, 0, row0 + r, one[r]);
      continue;
    }
    for (int64_t n0 = 0; n0 < a.x.n; n0 += kBatch) {
      const int nb = static_cast<int>(std::min<int64_t>(kBatch, a.x.n - n0));
      rows_of(a.x, n0, nb, 0, xh, xl);
      if (nb == 1) {  // the last row of an odd batch
        if (split) {
          s24_tile_b1<true>(tile, a.chunks, xh[0], xl[0], one, 0);
        } else {
          s24_tile_b1<false>(tile, a.chunks, xh[0], nullptr, one, 0);
        }
        for (int64_t r = 0; r < rows; ++r) out[r][0] = one[r];
      } else if (split) {
        s24_tile_any<true>(nb, tile, a.chunks, xh, xl, out);
      } else {
        s24_tile_any<false>(nb, tile, a.chunks, xh, xl, out);
      }
      for (int64_t r = 0; r < rows; ++r)
        for (int n = 0; n < nb; ++n) ss::store_value(a.y, n0 + n, row0 + r, out[r][n]);
    }
  }
}
