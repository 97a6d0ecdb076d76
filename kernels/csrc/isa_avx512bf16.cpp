// AVX-512 + AVX512-BF16 + AVX512-VBMI kernels (vdpbf16ps, vpmultishiftqb). Compiled for that target only; ops.cpp calls them
// after run-time CPU feature detection.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi,fma")
namespace ss::avx512bf16 {
#define SS_HAS_BF16 1
#include "avx512_impl.h"
#undef SS_HAS_BF16
}  // namespace ss::avx512bf16
#pragma GCC pop_options
