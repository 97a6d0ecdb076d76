// AVX-512 kernels without AVX512-BF16 (bf16 pair products from two fp32 FMAs).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
namespace ss::avx512 {
#define SS_HAS_BF16 0
#include "avx512_impl.h"
#undef SS_HAS_BF16
}  // namespace ss::avx512
#pragma GCC pop_options
