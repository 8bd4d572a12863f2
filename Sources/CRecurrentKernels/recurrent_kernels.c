#include "recurrent_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define VP_X86 1
#endif

long vp_packed_size(int rows, int k) {
    long panels = (rows + VP_PANEL_ROWS - 1) / VP_PANEL_ROWS;
    return panels * VP_PANEL_ROWS * (long)k;
}

void vp_pack_panels(const float *w, int rows, int k, float *packed) {
    int panels = (rows + VP_PANEL_ROWS - 1) / VP_PANEL_ROWS;
    for (int p = 0; p < panels; p++) {
        float *panel = packed + (long)p * k * VP_PANEL_ROWS;
        for (int r = 0; r < VP_PANEL_ROWS; r++) {
            int row = p * VP_PANEL_ROWS + r;
            for (int j = 0; j < k; j++) panel[(long)j * VP_PANEL_ROWS + r] = row < rows ? w[(long)row * k + j] : 0.0f;
        }
    }
}

// ---- portable versions -------------------------------------------------------

static void panel_gemm_portable(int batch, int rows, int k, const float *h, int ldh, const float *packed,
                                float *out, int ldo) {
    int panels = (rows + VP_PANEL_ROWS - 1) / VP_PANEL_ROWS;
    for (int b = 0; b < batch; b++) {
        for (int p = 0; p < panels; p++) {
            float acc[VP_PANEL_ROWS] = {0};
            const float *panel = packed + (long)p * k * VP_PANEL_ROWS;
            for (int j = 0; j < k; j++) {
                float x = h[(long)b * ldh + j];
                for (int r = 0; r < VP_PANEL_ROWS; r++) acc[r] += x * panel[(long)j * VP_PANEL_ROWS + r];
            }
            int valid = rows - p * VP_PANEL_ROWS < VP_PANEL_ROWS ? rows - p * VP_PANEL_ROWS : VP_PANEL_ROWS;
            for (int r = 0; r < valid; r++) out[(long)b * ldo + p * VP_PANEL_ROWS + r] += acc[r];
        }
    }
}

static inline float sigmoid_scalar(float x) { return 1.0f / (1.0f + expf(-x)); }

// Unit j of one LSTM step: the portable path, and the AVX2 path's tail.
static inline void lstm_unit(int n, int j, float *z, const float *c_prev, float *c, float *h) {
    float i = sigmoid_scalar(z[j]), f = sigmoid_scalar(z[n + j]), g = tanhf(z[2 * n + j]), o = sigmoid_scalar(z[3 * n + j]);
    z[j] = i; z[n + j] = f; z[2 * n + j] = g; z[3 * n + j] = o;
    float cell = i * g + (c_prev ? f * c_prev[j] : 0.0f);
    c[j] = cell;
    h[j] = o * tanhf(cell);
}

static void lstm_cell_portable(int n, float *z, const float *c_prev, float *c, float *h) {
    for (int j = 0; j < n; j++) lstm_unit(n, j, z, c_prev, c, h);
}

// ---- AVX2 + FMA versions -----------------------------------------------------

#ifdef VP_X86
#define VP_AVX2 __attribute__((target("avx2,fma")))

// Rows of the batch per register block: 4 rows × 2 vectors = 8 accumulators.
#define VP_BLOCK 4

VP_AVX2 static inline void panel_block(int nb, int k, const float *h, int ldh, const float *panel, float *out, int ldo,
                                      int valid) {
    __m256 acc[VP_BLOCK][2];
    for (int b = 0; b < VP_BLOCK; b++) { acc[b][0] = _mm256_setzero_ps(); acc[b][1] = _mm256_setzero_ps(); }
    for (int j = 0; j < k; j++) {
        __m256 w0 = _mm256_loadu_ps(panel + (long)j * VP_PANEL_ROWS);
        __m256 w1 = _mm256_loadu_ps(panel + (long)j * VP_PANEL_ROWS + 8);
        for (int b = 0; b < nb; b++) {
            __m256 x = _mm256_broadcast_ss(h + (long)b * ldh + j);
            acc[b][0] = _mm256_fmadd_ps(x, w0, acc[b][0]);
            acc[b][1] = _mm256_fmadd_ps(x, w1, acc[b][1]);
        }
    }
    for (int b = 0; b < nb; b++) {
        float *o = out + (long)b * ldo;
        if (valid == VP_PANEL_ROWS) {
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), acc[b][0]));
            _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[b][1]));
        } else {
            float tmp[VP_PANEL_ROWS];
            _mm256_storeu_ps(tmp, acc[b][0]);
            _mm256_storeu_ps(tmp + 8, acc[b][1]);
            for (int r = 0; r < valid; r++) o[r] += tmp[r];
        }
    }
}

VP_AVX2 static void panel_gemm_avx2(int batch, int rows, int k, const float *h, int ldh, const float *packed,
                                    float *out, int ldo) {
    int panels = (rows + VP_PANEL_ROWS - 1) / VP_PANEL_ROWS;
    for (int p = 0; p < panels; p++) {
        const float *panel = packed + (long)p * k * VP_PANEL_ROWS;
        int valid = rows - p * VP_PANEL_ROWS < VP_PANEL_ROWS ? rows - p * VP_PANEL_ROWS : VP_PANEL_ROWS;
        for (int b = 0; b < batch; b += VP_BLOCK) {
            int nb = batch - b < VP_BLOCK ? batch - b : VP_BLOCK;
            // Constant block sizes let the compiler keep every accumulator in a register.
            switch (nb) {
            case 4: panel_block(4, k, h + (long)b * ldh, ldh, panel, out + (long)b * ldo + p * VP_PANEL_ROWS, ldo, valid); break;
            case 3: panel_block(3, k, h + (long)b * ldh, ldh, panel, out + (long)b * ldo + p * VP_PANEL_ROWS, ldo, valid); break;
            case 2: panel_block(2, k, h + (long)b * ldh, ldh, panel, out + (long)b * ldo + p * VP_PANEL_ROWS, ldo, valid); break;
            default: panel_block(1, k, h + (long)b * ldh, ldh, panel, out + (long)b * ldo + p * VP_PANEL_ROWS, ldo, valid); break;
            }
        }
    }
}

// exp(x) to about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
// polynomial (Cephes expf coefficients), 2^n built in the exponent bits.
VP_AVX2 static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

VP_AVX2 static inline __m256 sigmoid_avx2(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh(x) = 2·σ(2x) − 1: absolute error ~1e-7, which is what the cell state sums see.
VP_AVX2 static inline __m256 tanh_avx2(__m256 x) {
    __m256 two = _mm256_set1_ps(2.0f);
    return _mm256_fmsub_ps(two, sigmoid_avx2(_mm256_mul_ps(two, x)), _mm256_set1_ps(1.0f));
}

VP_AVX2 static void lstm_cell_avx2(int n, float *z, const float *c_prev, float *c, float *h) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 i = sigmoid_avx2(_mm256_loadu_ps(z + j));
        __m256 f = sigmoid_avx2(_mm256_loadu_ps(z + n + j));
        __m256 g = tanh_avx2(_mm256_loadu_ps(z + 2 * n + j));
        __m256 o = sigmoid_avx2(_mm256_loadu_ps(z + 3 * n + j));
        _mm256_storeu_ps(z + j, i);
        _mm256_storeu_ps(z + n + j, f);
        _mm256_storeu_ps(z + 2 * n + j, g);
        _mm256_storeu_ps(z + 3 * n + j, o);
        __m256 cell = _mm256_mul_ps(i, g);
        if (c_prev) cell = _mm256_fmadd_ps(f, _mm256_loadu_ps(c_prev + j), cell);
        _mm256_storeu_ps(c + j, cell);
        _mm256_storeu_ps(h + j, _mm256_mul_ps(o, tanh_avx2(cell)));
    }
    // The tail: units left over when the hidden size is not a multiple of 8.
    for (; j < n; j++) lstm_unit(n, j, z, c_prev, c, h);
}
#endif

// ---- dispatch ------------------------------------------------------------------

static int allow_vector = 1;

int vp_recurrent_kernels_vectorized(void) {
#ifdef VP_X86
    static int supported = -1;
    if (supported < 0) supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return supported && allow_vector;
#else
    return 0;
#endif
}

void vp_recurrent_kernels_allow_vector(int allow) { allow_vector = allow; }

void vp_panel_gemm(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out, int ldo) {
#ifdef VP_X86
    if (vp_recurrent_kernels_vectorized()) { panel_gemm_avx2(batch, rows, k, h, ldh, packed, out, ldo); return; }
#endif
    panel_gemm_portable(batch, rows, k, h, ldh, packed, out, ldo);
}

void vp_lstm_cell(int hidden, float *gates, const float *c_prev, float *c, float *h) {
#ifdef VP_X86
    if (vp_recurrent_kernels_vectorized()) { lstm_cell_avx2(hidden, gates, c_prev, c, h); return; }
#endif
    lstm_cell_portable(hidden, gates, c_prev, c, h);
}
