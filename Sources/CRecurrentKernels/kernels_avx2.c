// AVX2+FMA versions of the recurrent kernels, chosen at run time (see recurrent_kernels.c).
#include "kernels_internal.h"

#ifdef VP_X86
#include <immintrin.h>

#define VP_AVX2 __attribute__((target("avx2,fma")))
#define VP_INLINE inline __attribute__((always_inline))

// Block shape, measured on Zen 4 (clang -O2 as SwiftPM's release build, rows
// 1024, k 256): 6 rows (12 accumulators) against the former 4 gains where the
// batch splits badly (5 rows: 25 µs, was 38; 13 rows: 64 µs, was 78) and is
// even from 48 rows up; one or two rows take 2 panels (1 row: 11 µs, was 16).
// 3 rows × 2 panels needs 17 registers and was slower: 31 µs, not 18.
#define VP2_NB 6
#define VP2_SMALL 2

// A panel of 16 rows is two ymm. The block is nb batch rows × np panels:
// nb·np·2 accumulators, np·2 panel vectors and a broadcast must fit the 16 ymm
// registers, so np = 2 only for nb ≤ 2. Only the last panel of a block can be
// partial, with `valid` rows.
VP_AVX2 static VP_INLINE void block(const int nb, const int np, int k, const float *h, long ldh, const float *panel,
                                    float *out, long ldo, int valid) {
    const long stride = (long)k * VP_PANEL_ROWS;
    __m256 acc[VP2_NB][2][2];
    for (int b = 0; b < nb; b++)
        for (int q = 0; q < np; q++) acc[b][q][0] = acc[b][q][1] = _mm256_setzero_ps();
    for (int j = 0; j < k; j++) {
        __m256 w[2][2];
        for (int q = 0; q < np; q++) {
            w[q][0] = _mm256_loadu_ps(panel + q * stride + (long)j * VP_PANEL_ROWS);
            w[q][1] = _mm256_loadu_ps(panel + q * stride + (long)j * VP_PANEL_ROWS + 8);
        }
        for (int b = 0; b < nb; b++) {
            __m256 x = _mm256_broadcast_ss(h + b * ldh + j);
            for (int q = 0; q < np; q++) {
                acc[b][q][0] = _mm256_fmadd_ps(x, w[q][0], acc[b][q][0]);
                acc[b][q][1] = _mm256_fmadd_ps(x, w[q][1], acc[b][q][1]);
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        for (int q = 0; q < np; q++) {
            float *o = out + b * ldo + q * VP_PANEL_ROWS;
            if (q < np - 1 || valid == VP_PANEL_ROWS) {
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), acc[b][q][0]));
                _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[b][q][1]));
            } else {
                float tmp[VP_PANEL_ROWS];
                _mm256_storeu_ps(tmp, acc[b][q][0]);
                _mm256_storeu_ps(tmp + 8, acc[b][q][1]);
                for (int r = 0; r < valid; r++) o[r] += tmp[r];
            }
        }
    }
}

#define VP_ARGS k, h, ldh, panel, out, ldo, valid
#define VP_CASE(NB, NP) case NB: block(NB, NP, VP_ARGS); break

VP_AVX2 static void block_np1(int nb, int k, const float *h, long ldh, const float *panel, float *out, long ldo, int valid) {
    switch (nb) {
    VP_CASE(6, 1); VP_CASE(5, 1); VP_CASE(4, 1); VP_CASE(3, 1); VP_CASE(2, 1);
    default: block(1, 1, VP_ARGS); break;
    }
}

VP_AVX2 void vp_panel_gemm_avx2(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out,
                                int ldo) {
    int panels = vp_panel_count(rows);
    // One or two rows alone keep too few FMA chains in flight: take two panels.
    int widest = batch <= VP2_SMALL ? 2 : 1;
    for (int p = 0; p < panels;) {
        int np = panels - p >= widest ? widest : 1;
        int valid = vp_panel_valid(rows, p + np - 1);
        const float *panel = packed + (long)p * k * VP_PANEL_ROWS;
        // Blocks of near-equal size: 7 rows as 4 + 3 rather than 6 + 1.
        int blocks = (batch + VP2_NB - 1) / VP2_NB;
        for (int b = 0, left = blocks; b < batch; left--) {
            int nb = (batch - b + left - 1) / left;
            const float *hb = h + (long)b * ldh;
            float *ob = out + (long)b * ldo + p * VP_PANEL_ROWS;
            if (np == 2) {
                if (nb == 2) block(2, 2, k, hb, ldh, panel, ob, ldo, valid);
                else block(1, 2, k, hb, ldh, panel, ob, ldo, valid);
            } else {
                block_np1(nb, k, hb, ldh, panel, ob, ldo, valid);
            }
            b += nb;
        }
        p += np;
    }
}

// exp(x) to about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
// polynomial (Cephes expf coefficients), 2^n built in the exponent bits.
VP_AVX2 static VP_INLINE __m256 exp_avx2(__m256 x) {
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

VP_AVX2 static VP_INLINE __m256 sigmoid_avx2(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh as Cephes tanhf: 1 − 2/(e^{2|x|} + 1) with x's sign for |x| ≥ 0.625, an
// odd polynomial below, where the subtraction (and the 2σ(2x) − 1 this path
// used before) loses relative accuracy: that was 2 % on a cell output near zero.
VP_AVX2 static VP_INLINE __m256 tanh_avx2(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f), sign_bit = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign_bit, x);
    __m256 e = exp_avx2(_mm256_add_ps(ax, ax));
    __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    large = _mm256_or_ps(large, _mm256_and_ps(sign_bit, x));
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    return _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

VP_AVX2 void vp_lstm_cell_avx2(int n, float *z, const float *c_prev, float *c, float *h) {
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
    for (; j < n; j++) vp_lstm_unit(n, j, z, c_prev, c, h);
}
#endif
