// y = x W^T + b with W stored fp16 and everything else fp32 (AVX2 + FMA + F16C).
//
// Each output is one dot product: 8-lane fp32 partial sums over k in order, then a horizontal
// sum, then the bias. That order is the same for every row count and every blocking below, so an
// output does not depend on how many rows share the call (batch-invariant, bitwise).
// Built by tooltune/serve/half_linear.py with the system's C++ compiler; called through ctypes.
#include <immintrin.h>
#include <stdint.h>
#include <algorithm>

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

static inline __m256 w8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }

extern "C" int half_linear_abi() { return 1; }

// X [M, K] fp32, W [N, K] fp16, B [N] fp32 or null, Y [M, N] fp32; K % 8 == 0.
extern "C" void half_linear(const float* X, const uint16_t* W, const float* B, float* Y,
                            int64_t M, int64_t K, int64_t N, int threads) {
  if (M == 1) {  // bound by reading W: four weight rows per pass over x
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n += 4) {
      const int nn = (int)std::min<int64_t>(4, N - n);
      const uint16_t* w = W + n * K;
      __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      if (nn == 4) {
        for (int64_t k = 0; k < K; k += 8) {
          const __m256 x = _mm256_loadu_ps(X + k);
          a[0] = _mm256_fmadd_ps(w8(w + k), x, a[0]);
          a[1] = _mm256_fmadd_ps(w8(w + K + k), x, a[1]);
          a[2] = _mm256_fmadd_ps(w8(w + 2 * K + k), x, a[2]);
          a[3] = _mm256_fmadd_ps(w8(w + 3 * K + k), x, a[3]);
        }
      } else {
        for (int64_t k = 0; k < K; k += 8) {
          const __m256 x = _mm256_loadu_ps(X + k);
          for (int j = 0; j < nn; ++j) a[j] = _mm256_fmadd_ps(w8(w + j * K + k), x, a[j]);
        }
      }
      for (int j = 0; j < nn; ++j) Y[n + j] = hsum(a[j]) + (B ? B[n + j] : 0.f);
    }
    return;
  }
  // Several rows: 64-row tiles of x; each task takes 3 weight rows against 4 x rows at a time
  // (12 accumulators, 3 weight and 1 x register: AVX2's 16).
  const int64_t tile = 64;
  for (int64_t m0 = 0; m0 < M; m0 += tile) {
    const int64_t m1 = std::min(M, m0 + tile);
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < N; n += 3) {
      const int nn = (int)std::min<int64_t>(3, N - n);
      const uint16_t* w = W + n * K;
      for (int64_t m = m0; m < m1; m += 4) {
        const int mm = (int)std::min<int64_t>(4, m1 - m);
        const float* x = X + m * K;
        __m256 a[3][4];
        for (int j = 0; j < 3; ++j)
          for (int i = 0; i < 4; ++i) a[j][i] = _mm256_setzero_ps();
        if (nn == 3 && mm == 4) {
          for (int64_t k = 0; k < K; k += 8) {
            const __m256 v0 = w8(w + k), v1 = w8(w + K + k), v2 = w8(w + 2 * K + k);
            for (int i = 0; i < 4; ++i) {
              const __m256 xv = _mm256_loadu_ps(x + i * K + k);
              a[0][i] = _mm256_fmadd_ps(v0, xv, a[0][i]);
              a[1][i] = _mm256_fmadd_ps(v1, xv, a[1][i]);
              a[2][i] = _mm256_fmadd_ps(v2, xv, a[2][i]);
            }
          }
        } else {
          for (int64_t k = 0; k < K; k += 8)
            for (int j = 0; j < nn; ++j) {
              const __m256 v = w8(w + j * K + k);
              for (int i = 0; i < mm; ++i) a[j][i] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + i * K + k), a[j][i]);
            }
        }
        for (int i = 0; i < mm; ++i)
          for (int j = 0; j < nn; ++j) Y[(m + i) * N + n + j] = hsum(a[j][i]) + (B ? B[n + j] : 0.f);
      }
    }
  }
}
