// Torch-facing entry points of structserve's native CPU kernels: weight packing, activation
// preparation, run-time ISA choice and thread parallelism (at::parallel_for, i.e. torch's OpenMP
// pool, so the thread count vLLM gives the worker via torch.set_num_threads is respected).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <vector>

#include "common.h"

namespace ss {
namespace {

enum Isa : int64_t { kNone = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Bf16 = 3 };
constexpr int64_t kGrainBytes = 32 * 1024;  // the least weight bytes worth a thread

int64_t detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    const bool bf16 =
        __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi");
    return bf16 ? kAvx512Bf16 : kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
  return kNone;
}

int64_t resolve_isa(int64_t requested) {
  const int64_t best = detect_isa();
  TORCH_CHECK(best > kNone, "structserve native kernels need at least AVX2+FMA");
  if (requested < 0) return best;
  TORCH_CHECK(requested >= kAvx2 && requested <= best, "ISA level ", requested,
              " is not available on this CPU (best: ", best, ")");
  return requested;
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Activation rows as zero-padded bf16 (hi, and lo when `split`), see common.h.
struct Prepared {
  at::Tensor buf;  // [split ? 2 : 1, n, stride] bf16
  Activations view;
};

Prepared prepare(const float* xf, const uint16_t* xb, int64_t n, int64_t cols, bool split) {
  const int64_t stride = round_up(cols + 2, kXAlign);
  auto buf = at::zeros({split ? 2 : 1, n, stride}, at::kBFloat16);
  auto* hi = reinterpret_cast<uint16_t*>(buf.data_ptr());
  uint16_t* lo = split ? hi + n * stride : nullptr;
  at::parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t i = b; i < e; ++i) {
                       if (xb) {
                         std::copy(xb + i * cols, xb + (i + 1) * cols, hi + i * stride);
                         continue;
                       }
                       for (int64_t j = 0; j < cols; ++j) {
                         const float v = xf[i * cols + j];
                         const uint16_t h = float_to_bf16(v);
                         hi[i * stride + j] = h;
                         if (split) lo[i * stride + j] = float_to_bf16(v - bf16_to_float(h));
                       }
                     }
                   });
  return {buf, Activations{hi, lo, stride, n}};
}

Prepared prepare_tensor(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.device().is_cpu(),
              "x must be a contiguous 2-D CPU tensor");
  if (x.scalar_type() == at::kBFloat16) {
    return prepare(nullptr, reinterpret_cast<const uint16_t*>(x.data_ptr()), x.size(0),
                   x.size(1), false);
  }
  TORCH_CHECK(x.scalar_type() == at::kFloat, "x must be bfloat16 or float32");
  return prepare(x.data_ptr<float>(), nullptr, x.size(0), x.size(1), true);
}

// An fp32 intermediate [n, cols] as the next stage's activations (rounded like `like`).
Prepared prepare_stage(const at::Tensor& t, bool split) {
  return prepare(t.data_ptr<float>(), nullptr, t.size(0), t.size(1), split);
}

Output output_of(at::Tensor& y, const at::Tensor& bias) {
  return Output{y.data_ptr(), y.size(1), y.scalar_type() == at::kBFloat16,
                bias.defined() ? bias.data_ptr<float>() : nullptr};
}

at::Tensor bias_f32(const c10::optional<at::Tensor>& bias, int64_t out_features) {
  if (!bias.has_value() || !bias->defined()) return at::Tensor();
  TORCH_CHECK(bias->numel() == out_features, "bias has ", bias->numel(), " entries, expected ",
              out_features);
  return bias->to(at::kFloat).contiguous();
}

// 2:4 row-group prefetch distance in rows: $STRUCTSERVE_S24_PREFETCH_ROWS (tuning), else 16;
// negative: batch 1 runs row by row (sequential streams), the default.
int64_t prefetch_rows() {
  static const int64_t rows = [] {
    const char* env = std::getenv("STRUCTSERVE_S24_PREFETCH_ROWS");
    return env ? std::atoll(env) : int64_t{-16};
  }();
  return rows;
}

using DenseFn = void (*)(const DenseArgs&, int64_t, int64_t);
using SparseFn = void (*)(const Sparse24Args&, int64_t, int64_t);

DenseFn dense_fn(int64_t isa) {
  if (isa == kAvx512Bf16) return avx512bf16::dense_tiles;
  return isa == kAvx512 ? avx512::dense_tiles : avx2::dense_tiles;
}

SparseFn sparse_fn(int64_t isa) {
  if (isa == kAvx512Bf16) return avx512bf16::sparse24_rows;
  return isa == kAvx512 ? avx512::sparse24_rows : avx2::sparse24_rows;
}

int64_t grain(int64_t bytes_per_item) {
  return std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(1, bytes_per_item));
}

struct Packed {
  const uint16_t* w;
  int64_t tiles, kp;
};

Packed packed_of(const at::Tensor& wp) {
  TORCH_CHECK(wp.dim() == 4 && wp.size(2) == kTileRows && wp.size(3) == 2 &&
                  wp.scalar_type() == at::kBFloat16 && wp.is_contiguous(),
              "not a packed weight (pack_dense)");
  return {reinterpret_cast<const uint16_t*>(wp.data_ptr()), wp.size(0), wp.size(1)};
}

// y[:, 0:O] = x·Wᵀ (+ bias) for a packed W; x already prepared.
void run_dense(int64_t isa, const Packed& p, int64_t out_features, const Activations& x,
               const Output& y) {
  TORCH_CHECK(p.tiles * kTileRows >= out_features, "packed weight has too few rows");
  DenseArgs a{p.w, p.kp, out_features, 0, 0, x, y};
  DenseFn fn = dense_fn(isa);
  at::parallel_for(0, p.tiles, grain(p.kp * 128),
                   [&](int64_t b, int64_t e) { fn(a, b, e); });
}

// y = blockdiag(blocks)·x over the last dim; blocks packed one after another (pack_blocks).
void run_blockdiag(int64_t isa, const at::Tensor& bp, int64_t block, const Activations& x,
                   const Output& y) {
  Packed p = packed_of(bp);
  const int64_t per_block = (block + kTileRows - 1) / kTileRows;
  const int64_t items = p.tiles;  // n_blocks · per_block
  DenseFn fn = dense_fn(isa);
  at::parallel_for(0, items, grain(p.kp * 128), [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t i = it / per_block, t = it % per_block;
      DenseArgs a{p.w + i * per_block * p.kp * 64, p.kp, block, i * block, i * block, x, y};
      fn(a, t, t + 1);
    }
  });
}

void run_sparse24(int64_t isa, const at::Tensor& values, const at::Tensor& meta,
                  const Activations& x, const Output& y) {
  TORCH_CHECK(values.dim() == 2 && meta.dim() == 2 && values.is_contiguous() &&
                  meta.is_contiguous() && values.scalar_type() == at::kBFloat16 &&
                  meta.scalar_type() == at::kByte,
              "sparse24 needs contiguous bf16 values [O, I/2] and uint8 meta [O, I/8]");
  const int64_t rows = values.size(0), in_features = values.size(1) * 2;
  TORCH_CHECK(in_features % 8 == 0 && meta.size(0) == rows && meta.size(1) * 8 == in_features,
              "sparse24 shapes disagree: values ", values.sizes(), ", meta ", meta.sizes());
  Sparse24Args a{reinterpret_cast<const uint16_t*>(values.data_ptr()), meta.data_ptr<uint8_t>(),
                 in_features, prefetch_rows(), x, y};
  SparseFn fn = sparse_fn(isa);
  at::parallel_for(0, rows, grain(in_features + in_features / 8),
                   [&](int64_t b, int64_t e) { fn(a, b, e); });
}

at::Tensor out_like(const at::Tensor& x, int64_t cols, bool fp32) {
  return at::empty({x.size(0), cols}, fp32 ? at::kFloat : x.scalar_type());
}

}  // namespace

int64_t cpu_isa() { return detect_isa(); }

// Reads every byte of `buf` once (xor of its 64-bit words, split over the threads): the read
// bandwidth the benchmark compares the kernels with.
int64_t read_all(const at::Tensor& buf) {
  TORCH_CHECK(buf.is_contiguous() && buf.nbytes() % 64 == 0, "buffer must be contiguous, 64-byte multiple");
  const auto* words = reinterpret_cast<const uint64_t*>(buf.data_ptr());
  const int64_t lines = static_cast<int64_t>(buf.nbytes() / 64);
  std::atomic<uint64_t> total{0};
  at::parallel_for(0, lines, 4096, [&](int64_t b, int64_t e) {
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t l = b; l < e; ++l)
      for (int i = 0; i < 8; ++i) acc[i] ^= words[l * 8 + i];
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x ^= acc[i];
    total.fetch_xor(x);
  });
  return static_cast<int64_t>(total.load());
}

// Pack W [O, I] (bf16) as [ceil(O/32), ceil(I/2), 32, 2].
at::Tensor pack_dense(const at::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 2, "weight must be 2-D");
  const auto w = weight.to(at::kBFloat16).contiguous();
  const int64_t rows = w.size(0), cols = w.size(1);
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows, kp = (cols + 1) / 2;
  auto out = at::zeros({tiles, kp, kTileRows, 2}, at::kBFloat16);
  const auto* src = reinterpret_cast<const uint16_t*>(w.data_ptr());
  auto* dst = reinterpret_cast<uint16_t*>(out.data_ptr());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = r / kTileRows, lane = r % kTileRows;
    for (int64_t c = 0; c < cols; ++c)
      dst[((t * kp + c / 2) * kTileRows + lane) * 2 + c % 2] = src[r * cols + c];
  }
  return out;
}

// Pack blocks [n, bs, bs] one after another, each as a packed [bs, bs] weight.
at::Tensor pack_blocks(const at::Tensor& blocks) {
  TORCH_CHECK(blocks.dim() == 3 && blocks.size(1) == blocks.size(2), "blocks must be [n, bs, bs]");
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < blocks.size(0); ++i) parts.push_back(pack_dense(blocks[i]));
  return at::cat(parts, 0);
}

at::Tensor dense(const at::Tensor& x, const at::Tensor& wp, int64_t out_features,
                 const c10::optional<at::Tensor>& bias, int64_t isa) {
  isa = resolve_isa(isa);
  Packed p = packed_of(wp);
  TORCH_CHECK(x.dim() == 2 && (x.size(1) + 1) / 2 == p.kp, "x has ", x.size(-1),
              " columns; the packed weight expects ", 2 * p.kp);
  auto px = prepare_tensor(x);
  auto b = bias_f32(bias, out_features);
  auto y = out_like(x, out_features, false);
  run_dense(isa, p, out_features, px.view, output_of(y, b));
  return y;
}

at::Tensor sparse24(const at::Tensor& x, const at::Tensor& values, const at::Tensor& meta,
                    const c10::optional<at::Tensor>& bias, int64_t isa) {
  isa = resolve_isa(isa);
  TORCH_CHECK(x.dim() == 2 && x.size(1) == values.size(1) * 2, "x has ", x.size(-1),
              " columns; values expect ", values.size(1) * 2);
  auto px = prepare_tensor(x);
  auto b = bias_f32(bias, values.size(0));
  auto y = out_like(x, values.size(0), false);
  run_sparse24(isa, values, meta, px.view, output_of(y, b));
  return y;
}

at::Tensor blockdiag(const at::Tensor& x, const at::Tensor& bp, int64_t block, int64_t isa) {
  isa = resolve_isa(isa);
  auto px = prepare_tensor(x);
  auto y = out_like(x, x.size(1), false);
  run_blockdiag(isa, bp, block, px.view, output_of(y, at::Tensor()));
  return y;
}

// y = U(Vx) (+ bias): both factors packed; the rank-r intermediate stays fp32 between stages
// and is rounded like x (bf16, or hi/lo for fp32 inputs).
at::Tensor lowrank(const at::Tensor& x, const at::Tensor& vp, int64_t rank, const at::Tensor& up,
                   int64_t out_features, const c10::optional<at::Tensor>& bias, int64_t isa) {
  isa = resolve_isa(isa);
  const bool split = x.scalar_type() == at::kFloat;
  auto px = prepare_tensor(x);
  auto t = out_like(x, rank, true);
  run_dense(isa, packed_of(vp), rank, px.view, output_of(t, at::Tensor()));
  auto pt = prepare_stage(t, split);
  auto b = bias_f32(bias, out_features);
  auto y = out_like(x, out_features, false);
  run_dense(isa, packed_of(up), out_features, pt.view, output_of(y, b));
  return y;
}

// y = A(S(Bx)) (+ bias) with A, B packed block-diagonal wrappers and S read as stored 2:4.
at::Tensor armor(const at::Tensor& x, const at::Tensor& bp, int64_t b_block, const at::Tensor& values,
                 const at::Tensor& meta, const at::Tensor& ap, int64_t a_block,
                 const c10::optional<at::Tensor>& bias, int64_t isa) {
  isa = resolve_isa(isa);
  const bool split = x.scalar_type() == at::kFloat;
  auto px = prepare_tensor(x);
  auto z = out_like(x, x.size(1), true);
  run_blockdiag(isa, bp, b_block, px.view, output_of(z, at::Tensor()));
  auto pz = prepare_stage(z, split);
  auto u = out_like(x, values.size(0), true);
  run_sparse24(isa, values, meta, pz.view, output_of(u, at::Tensor()));
  auto pu = prepare_stage(u, split);
  auto b = bias_f32(bias, values.size(0));
  auto y = out_like(x, values.size(0), false);
  run_blockdiag(isa, ap, a_block, pu.view, output_of(y, b));
  return y;
}

// y = D(Cx) (+ bias): C read as stored (values/index [s, I], column-sparse), D packed.
at::Tensor dictsparse(const at::Tensor& x, const at::Tensor& c_values, const at::Tensor& c_index,
                      int64_t atoms, const at::Tensor& dp, int64_t out_features,
                      const c10::optional<at::Tensor>& bias, int64_t isa) {
  isa = resolve_isa(isa);
  TORCH_CHECK(c_values.sizes() == c_index.sizes() && c_index.scalar_type() == at::kInt &&
                  c_values.dim() == 2 && x.dim() == 2 && x.size(1) == c_values.size(1),
              "dictsparse needs C_values/C_index [s, I] (int32 index) and x [N, I]");
  const bool split = x.scalar_type() == at::kFloat;
  const auto xf = x.to(at::kFloat).contiguous();
  const auto cv = c_values.to(at::kFloat).contiguous();
  const auto ci = c_index.contiguous();
  const int64_t n = x.size(0), s = cv.size(0), cols = cv.size(1);
  auto t = at::zeros({n, atoms}, at::kFloat);
  const float* xs = xf.data_ptr<float>();
  const float* vs = cv.data_ptr<float>();
  const int32_t* is = ci.data_ptr<int32_t>();
  float* ts = t.data_ptr<float>();
  at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t q = 0; q < s; ++q)
        for (int64_t j = 0; j < cols; ++j)
          ts[i * atoms + is[q * cols + j]] += vs[q * cols + j] * xs[i * cols + j];
  });
  auto pt = prepare_stage(t, split);  // bf16 inputs: t rounds to bf16 like a bf16 GEMM output
  auto bb = bias_f32(bias, out_features);
  auto y = out_like(x, out_features, false);
  run_dense(isa, packed_of(dp), out_features, pt.view, output_of(y, bb));
  return y;
}

// trie.cpp: a choice-set trie's decoding step.
at::Tensor trie_mask(const at::Tensor& nodes, const at::Tensor& row_start,
                     const at::Tensor& edge_key, const at::Tensor& root_mask, int64_t end_token);
at::Tensor trie_next(const at::Tensor& nodes, const at::Tensor& row_start,
                     const at::Tensor& edge_key, int64_t end_token, int64_t vocab);
at::Tensor trie_advance(const at::Tensor& nodes, const at::Tensor& tokens,
                        const at::Tensor& row_start, const at::Tensor& edge_key,
                        const at::Tensor& edge_child, int64_t vocab);

}  // namespace ss

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "structserve native CPU linear kernels (see kernels/native.py)";
  m.def("cpu_isa", &ss::cpu_isa, "0 none, 1 AVX2+FMA, 2 AVX-512 (F/BW/VL/DQ), 3 AVX-512 + BF16 + VBMI");
  m.def("read_all", &ss::read_all);
  m.def("pack_dense", &ss::pack_dense);
  m.def("pack_blocks", &ss::pack_blocks);
  m.def("dense", &ss::dense);
  m.def("sparse24", &ss::sparse24);
  m.def("blockdiag", &ss::blockdiag);
  m.def("lowrank", &ss::lowrank);
  m.def("armor", &ss::armor);
  m.def("dictsparse", &ss::dictsparse);
  m.def("trie_mask", &ss::trie_mask);
  m.def("trie_next", &ss::trie_next);
  m.def("trie_advance", &ss::trie_advance);
}
