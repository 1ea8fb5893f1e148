// y = x W^T + b with W stored fp16 and everything else fp32 (AVX2 + FMA + F16C).
//
// W is stored in panels of 16 output rows, k-major: panel p holds W[16p..16p+15][k] for k = 0..K-1
// as K runs of 16 halves ([N/16][K][16]). Each output is one fp32 lane that accumulates
// x[m][k] * W[n][k] over k in order, starting from 0, then adds the bias. That order is the same
// for every row count and every blocking below, so an output does not depend on how many rows
// share the call (batch-invariant, bitwise).
// Built by tooltune/serve/half_linear.py with the system's C++ compiler; called through ctypes.
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <algorithm>

static inline __m256 w8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }

static inline void store16(float* y, __m256 lo, __m256 hi, const float* b) {
  if (b) { lo = _mm256_add_ps(lo, _mm256_loadu_ps(b)); hi = _mm256_add_ps(hi, _mm256_loadu_ps(b + 8)); }
  _mm256_storeu_ps(y, lo);
  _mm256_storeu_ps(y + 8, hi);
}

extern "C" int half_linear_abi() { return 2; }

// x [M, K] copied into blocks of R rows, k-major ([ceil(M/R)][K][R], zeros past M), so a k's R
// values are adjacent; null where the copy cannot be allocated (free() it after).
static float* row_blocks(const float* X, int64_t M, int64_t K, int R) {
  const int64_t blocks = (M + R - 1) / R;
  const size_t bytes = (size_t)(blocks * K * R) * sizeof(float);
  float* xp = (float*)aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!xp) return nullptr;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int i = 0; i < R; ++i) {
        const int64_t m = b * R + i;
        xp[(b * K + k) * R + i] = m < M ? X[m * K + k] : 0.f;
      }
  return xp;
}

// Several rows on a CPU with AVX-512: the same sums (one fp32 lane per output, fused multiply-adds
// over k in order from 0, then the bias), so the same bits as the AVX2 path below, with a panel of
// 16 outputs in one register: blocks of 12 rows (row_blocks) against two panels
// at a time, 24 accumulators.
#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512 w16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }

template <int P>
AVX512 static void tile512(const float* x, const uint16_t* w, int64_t K, const float* B, float* Y, int64_t N,
                           int64_t p, int rows, int64_t m0) {
  __m512 c[12][P];
  #pragma GCC unroll 12
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < P; ++j) c[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 v[P];
    for (int j = 0; j < P; ++j) v[j] = w16(w + j * K * 16 + k * 16);
    const float* xk = x + k * 12;
    #pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      const __m512 t = _mm512_set1_ps(xk[i]);
      for (int j = 0; j < P; ++j) c[i][j] = _mm512_fmadd_ps(v[j], t, c[i][j]);
    }
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < P; ++j) {
      __m512 r = c[i][j];
      if (B) r = _mm512_add_ps(r, _mm512_loadu_ps(B + (p + j) * 16));
      _mm512_storeu_ps(Y + (m0 + i) * N + (p + j) * 16, r);
    }
}

AVX512 static int rows512(const float* X, const uint16_t* W, const float* B, float* Y, int64_t M, int64_t K,
                          int64_t N, int threads) {
  const int64_t panels = N / 16, blocks = (M + 11) / 12;
  float* xp = row_blocks(X, M, K, 12);
  if (!xp) return 1;
  const int64_t tile = 5;  // blocks: 60 rows of x stay in L2 while every panel passes over them
  for (int64_t b0 = 0; b0 < blocks; b0 += tile) {
    const int64_t b1 = std::min(blocks, b0 + tile);
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < panels; p += 2)
      for (int64_t b = b0; b < b1; ++b) {
        const int rows = (int)std::min<int64_t>(12, M - b * 12);
        if (p + 1 < panels) tile512<2>(xp + b * K * 12, W + p * K * 16, K, B, Y, N, p, rows, b * 12);
        else tile512<1>(xp + b * K * 12, W + p * K * 16, K, B, Y, N, p, rows, b * 12);
      }
  }
  free(xp);
  return 0;
}

static const bool has_avx512 = __builtin_cpu_supports("avx512f");

// 1: the AVX-512 path for several rows where the CPU has it (for tests: 0 forces the AVX2 path).
static int use_avx512 = 1;
extern "C" int half_linear_use_avx512(int on) { const int was = use_avx512; use_avx512 = on; return was; }
extern "C" int half_linear_has_avx512() { return has_avx512; }

// X [M, K] fp32, W panels [N/16][K][16] fp16, B [N] fp32 or null, Y [M, N] fp32; N % 16 == 0.
// Returns 0, or 1 where the copy of x could not be allocated.
extern "C" int half_linear(const float* X, const uint16_t* W, const float* B, float* Y,
                           int64_t M, int64_t K, int64_t N, int threads) {
  const int64_t panels = N / 16;
  if (M == 1) {  // bound by reading W: two panels per pass over x
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < panels; p += 2) {
      const bool two = p + 1 < panels;
      const uint16_t* w0 = W + p * K * 16;
      const uint16_t* w1 = w0 + K * 16;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t k = 0; k < K; ++k) {
        const __m256 xb = _mm256_broadcast_ss(X + k);
        a0 = _mm256_fmadd_ps(w8(w0 + k * 16), xb, a0);
        a1 = _mm256_fmadd_ps(w8(w0 + k * 16 + 8), xb, a1);
        if (two) {
          a2 = _mm256_fmadd_ps(w8(w1 + k * 16), xb, a2);
          a3 = _mm256_fmadd_ps(w8(w1 + k * 16 + 8), xb, a3);
        }
      }
      store16(Y + p * 16, a0, a1, B ? B + p * 16 : nullptr);
      if (two) store16(Y + p * 16 + 16, a2, a3, B ? B + p * 16 + 16 : nullptr);
    }
    return 0;
  }
  if (has_avx512 && use_avx512) return rows512(X, W, B, Y, M, K, N, threads);
  // Several rows: x copied into blocks of 6 rows, k-major ([M/6][K][6], zeros past M), so a k's six
  // values are adjacent; each task takes one panel against one block at a time (6 x 16 outputs in
  // 12 registers). Tiles of 60 rows keep the copied x in L2 while every panel passes over it.
  const int64_t blocks = (M + 5) / 6;
  float* xp = row_blocks(X, M, K, 6);
  if (!xp) return 1;
  const int64_t tile = 10;  // blocks
  for (int64_t b0 = 0; b0 < blocks; b0 += tile) {
    const int64_t b1 = std::min(blocks, b0 + tile);
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < panels; ++p) {
      const uint16_t* w = W + p * K * 16;
      for (int64_t b = b0; b < b1; ++b) {
        const float* x = xp + b * K * 6;
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
               c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int64_t k = 0; k < K; ++k) {
          const __m256 v0 = w8(w + k * 16), v1 = w8(w + k * 16 + 8);
          const float* xk = x + k * 6;
          __m256 t;
          t = _mm256_broadcast_ss(xk + 0); c00 = _mm256_fmadd_ps(v0, t, c00); c01 = _mm256_fmadd_ps(v1, t, c01);
          t = _mm256_broadcast_ss(xk + 1); c10 = _mm256_fmadd_ps(v0, t, c10); c11 = _mm256_fmadd_ps(v1, t, c11);
          t = _mm256_broadcast_ss(xk + 2); c20 = _mm256_fmadd_ps(v0, t, c20); c21 = _mm256_fmadd_ps(v1, t, c21);
          t = _mm256_broadcast_ss(xk + 3); c30 = _mm256_fmadd_ps(v0, t, c30); c31 = _mm256_fmadd_ps(v1, t, c31);
          t = _mm256_broadcast_ss(xk + 4); c40 = _mm256_fmadd_ps(v0, t, c40); c41 = _mm256_fmadd_ps(v1, t, c41);
          t = _mm256_broadcast_ss(xk + 5); c50 = _mm256_fmadd_ps(v0, t, c50); c51 = _mm256_fmadd_ps(v1, t, c51);
        }
        const __m256 c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
        const int rows = (int)std::min<int64_t>(6, M - b * 6);
        for (int i = 0; i < rows; ++i) store16(Y + (b * 6 + i) * N + p * 16, c[i][0], c[i][1], B ? B + p * 16 : nullptr);
      }
    }
  }
  free(xp);
  return 0;
}
