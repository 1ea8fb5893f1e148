// Decode attention over the serving KV cache (fp32, AVX2 + FMA): one new token per row, and each
// row reads only its own columns [start[r], end) of the cache buffers. The torch path multiplies
// every row against the batch's common window (the longest row's), padding included, in three
// passes (scores, softmax, values); this reads each key and value once, for every query head of
// its group. A row's sums run in a fixed order over its own columns only, so its output does not
// depend on the other rows in the batch (bitwise).
// Built by tooltune/serve/kernels.py with the system's C++ compiler; called through ctypes.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <algorithm>
#include <new>
#include <vector>

// e^x for x <= 0 (scores minus their maximum): 2^n * p(r), Cephes' polynomial (~1 ulp).
static inline __m256 exp_ps(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float dot(const float* a, const float* b, int64_t D) {
  __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b));
  for (int64_t d = 8; d < D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), acc);
  return hsum(acc);
}

// One row and one key/value head: the G query heads of its group against keys k[0..L). Keys and
// values come from memory (a step reads every row's), so each is read once, in order, with
// prefetches ahead; reading them in two sweeps, or once per head, measured 1.5-3x slower.
static void attend(const float* q, const float* k, const float* v, float* o, float* p,
                   int64_t L, int64_t G, int64_t D, float scale) {
  const int64_t stride = L + 8;
  float mx[16];
  for (int64_t g = 0; g < G; ++g) mx[g] = -INFINITY;
  for (int64_t j = 0; j < L; ++j) {  // scores: key j against every head of the group
    const float* kj = k + j * D;
    for (int64_t d = 0; d < D; d += 16) _mm_prefetch((const char*)(kj + 8 * D + d), _MM_HINT_T0);
    for (int64_t g = 0; g < G; ++g) {
      const float* qg = q + g * D;
      __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(qg), _mm256_loadu_ps(kj));
      __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(qg + 8), _mm256_loadu_ps(kj + 8));
      for (int64_t d = 16; d < D; d += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + d), _mm256_loadu_ps(kj + d), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + d + 8), _mm256_loadu_ps(kj + d + 8), a1);
      }
      const float sc = hsum(_mm256_add_ps(a0, a1)) * scale;
      p[g * stride + j] = sc;
      mx[g] = std::max(mx[g], sc);
    }
  }
  for (int64_t g = 0; g < G; ++g) {  // e^(score - max), and their sum
    float* pg = p + g * stride;
    const __m256 m = _mm256_set1_ps(mx[g]);
    __m256 sum8 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= L; j += 8) {
      const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(pg + j), m));
      _mm256_storeu_ps(pg + j, e);
      sum8 = _mm256_add_ps(sum8, e);
    }
    float sum = hsum(sum8);
    for (; j < L; ++j) {
      pg[j] = expf(pg[j] - mx[g]);
      sum += pg[j];
    }
    const float inv = 1.f / sum;
    for (j = 0; j < L; ++j) pg[j] *= inv;
  }
  // outputs: value row j once, into every head's sums (G x D floats, in L1)
  alignas(32) float acc[16 * 256];
  for (int64_t i = 0; i < G * D; i += 8) _mm256_store_ps(acc + i, _mm256_setzero_ps());
  for (int64_t j = 0; j < L; ++j) {
    const float* vj = v + j * D;
    for (int64_t d = 0; d < D; d += 16) _mm_prefetch((const char*)(vj + 16 * D + d), _MM_HINT_T0);
    for (int64_t g = 0; g < G; ++g) {
      const __m256 pj = _mm256_broadcast_ss(p + g * stride + j);
      float* ag = acc + g * D;
      for (int64_t d = 0; d < D; d += 8)
        _mm256_store_ps(ag + d, _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + d), _mm256_load_ps(ag + d)));
    }
  }
  for (int64_t i = 0; i < G * D; i += 8) _mm256_storeu_ps(o + i, _mm256_load_ps(acc + i));
}

extern "C" int decode_attention_abi() { return 1; }

// Q [B, KV * G, D]; K and V [rows, KV, cols, D] with row r's keys at columns [start[r], end);
// O [B, KV * G, D]. D a multiple of 16 up to 256, G up to 16, 0 <= start[r] < end <= cols.
// Returns 0; 2 for shapes it does not take; 1 where scratch memory could not be allocated.
extern "C" int decode_attention(const float* Q, const float* K, const float* V, const int64_t* start,
                                float* O, int64_t B, int64_t KV, int64_t G, int64_t D, int64_t cols,
                                int64_t end, float scale, int threads) {
  if (D % 16 || D > 256 || G < 1 || G > 16) return 2;
  for (int64_t r = 0; r < B; ++r)
    if (start[r] < 0 || start[r] >= end || end > cols) return 2;
  int failed = 0;
  #pragma omp parallel num_threads(threads)
  {
    std::vector<float> scratch;
    #pragma omp for schedule(static)
    for (int64_t t = 0; t < B * KV; ++t) {
      const int64_t r = t / KV, h = t % KV, L = end - start[r];
      try {
        scratch.resize((size_t)G * (L + 8));
      } catch (const std::bad_alloc&) {
        #pragma omp atomic write
        failed = 1;
        continue;
      }
      const int64_t at = ((r * KV + h) * cols + start[r]) * D;
      attend(Q + (r * KV + h) * G * D, K + at, V + at, O + (r * KV + h) * G * D, scratch.data(), L, G, D, scale);
    }
  }
  return failed;
}
