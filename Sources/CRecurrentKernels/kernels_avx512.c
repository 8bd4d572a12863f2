// AVX-512F versions of the recurrent kernels, chosen at run time (see recurrent_kernels.c).
#include "kernels_internal.h"

#ifdef VP_X86
#include <immintrin.h>

#define VP_AVX512 __attribute__((target("avx512f")))
#define VP_INLINE inline __attribute__((always_inline))

// Block shape, measured on Zen 4 (clang -O2 as SwiftPM's release build, rows
// 1024, k 256): 8 rows × 2 panels (16 accumulators) costs ~4.6 µs per batch
// row from 3 rows to 64; 12 rows were slower (5 % at 2 panels, a third at 1),
// 8 rows × 1 panel no faster. Up to VP512_SMALL rows take 4 panels, so that
// 4–16 FMA chains cover the FMA latency: neutral on Zen 4, where so few rows
// are bound by streaming W from L2/L3, kept for cores that feed W faster.
#define VP512_NB 8
#define VP512_NP 2
#define VP512_SMALL 4

// A panel of 16 rows is one zmm. The block is nb batch rows × np panels of
// accumulators; every panel load is shared by nb rows and every broadcast of
// h[b, j] by np panels. Constant nb and np (each case below inlines its own
// copy) keep the accumulators in registers. Only the last panel of a block
// can be partial, and `last` masks the rows of it that exist.
VP_AVX512 static VP_INLINE void block(const int nb, const int np, int k, const float *h, long ldh, const float *panel,
                                      float *out, long ldo, __mmask16 last) {
    const long stride = (long)k * VP_PANEL_ROWS;
    __m512 acc[VP512_NB][4];
    for (int b = 0; b < nb; b++)
        for (int q = 0; q < np; q++) acc[b][q] = _mm512_setzero_ps();
    for (int j = 0; j < k; j++) {
        __m512 w[4];
        for (int q = 0; q < np; q++) w[q] = _mm512_loadu_ps(panel + q * stride + (long)j * VP_PANEL_ROWS);
        for (int b = 0; b < nb; b++) {
            __m512 x = _mm512_set1_ps(h[b * ldh + j]);
            for (int q = 0; q < np; q++) acc[b][q] = _mm512_fmadd_ps(x, w[q], acc[b][q]);
        }
    }
    for (int b = 0; b < nb; b++) {
        for (int q = 0; q < np; q++) {
            float *o = out + b * ldo + q * VP_PANEL_ROWS;
            __mmask16 m = q == np - 1 ? last : (__mmask16)0xFFFF;
            _mm512_mask_storeu_ps(o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), acc[b][q]));
        }
    }
}

#define VP_ARGS k, h, ldh, panel, out, ldo, last
#define VP_CASE(NB, NP) case NB: block(NB, NP, VP_ARGS); break

VP_AVX512 static void block_np4(int nb, int k, const float *h, long ldh, const float *panel, float *out, long ldo,
                                __mmask16 last) {
    switch (nb) { VP_CASE(4, 4); VP_CASE(3, 4); VP_CASE(2, 4); default: block(1, 4, VP_ARGS); break; }
}

VP_AVX512 static void block_np2(int nb, int k, const float *h, long ldh, const float *panel, float *out, long ldo,
                                __mmask16 last) {
    switch (nb) {
    VP_CASE(8, 2); VP_CASE(7, 2); VP_CASE(6, 2); VP_CASE(5, 2); VP_CASE(4, 2); VP_CASE(3, 2); VP_CASE(2, 2);
    default: block(1, 2, VP_ARGS); break;
    }
}

VP_AVX512 static void block_np1(int nb, int k, const float *h, long ldh, const float *panel, float *out, long ldo,
                                __mmask16 last) {
    switch (nb) {
    VP_CASE(8, 1); VP_CASE(7, 1); VP_CASE(6, 1); VP_CASE(5, 1); VP_CASE(4, 1); VP_CASE(3, 1); VP_CASE(2, 1);
    default: block(1, 1, VP_ARGS); break;
    }
}

VP_AVX512 void vp_panel_gemm_avx512(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out,
                                    int ldo) {
    int panels = vp_panel_count(rows);
    int widest = batch <= VP512_SMALL ? 4 : VP512_NP;
    for (int p = 0; p < panels;) {
        int np = panels - p >= widest ? widest : panels - p >= 2 ? 2 : 1;
        int valid = vp_panel_valid(rows, p + np - 1);
        __mmask16 last = (__mmask16)((1u << valid) - 1);
        const float *panel = packed + (long)p * k * VP_PANEL_ROWS;
        // Blocks of near-equal size: 13 rows as 7 + 6 rather than 8 + 5.
        int blocks = (batch + VP512_NB - 1) / VP512_NB;
        for (int b = 0, left = blocks; b < batch; left--) {
            int nb = (batch - b + left - 1) / left;
            const float *hb = h + (long)b * ldh;
            float *ob = out + (long)b * ldo + p * VP_PANEL_ROWS;
            if (np == 4) block_np4(nb, k, hb, ldh, panel, ob, ldo, last);
            else if (np == 2) block_np2(nb, k, hb, ldh, panel, ob, ldo, last);
            else block_np1(nb, k, hb, ldh, panel, ob, ldo, last);
            b += nb;
        }
        p += np;
    }
}

// exp(x) to about 2 ulp, as the AVX2 path: x = n·ln2 + r with |r| ≤ ln2/2, e^r
// by Cephes expf's degree-6 polynomial, and 2^n applied by vscalefps.
VP_AVX512 static VP_INLINE __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

VP_AVX512 static VP_INLINE __m512 sigmoid512(__m512 x) {
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// tanh as Cephes tanhf: 1 − 2/(e^{2|x|} + 1) with x's sign for |x| ≥ 0.625, an
// odd polynomial below, where the subtraction would lose the relative accuracy
// that 2σ(2x) − 1 lacks near zero.
VP_AVX512 static VP_INLINE __m512 tanh512(__m512 x) {
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 ax = _mm512_abs_ps(x);
    __m512 e = exp512(_mm512_add_ps(ax, ax));
    __m512 large = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u));
    large = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(large), sign));
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(is_small, large, small);
}

// 16 units of one step; the masked form also does the tail of a hidden size
// that is not a multiple of 16 (masked-off lanes read as zero and are not written).
VP_AVX512 static VP_INLINE void cell16(int n, int j, __mmask16 m, float *z, const float *c_prev, float *c, float *h) {
    __m512 i = sigmoid512(_mm512_maskz_loadu_ps(m, z + j));
    __m512 f = sigmoid512(_mm512_maskz_loadu_ps(m, z + n + j));
    __m512 g = tanh512(_mm512_maskz_loadu_ps(m, z + 2 * n + j));
    __m512 o = sigmoid512(_mm512_maskz_loadu_ps(m, z + 3 * n + j));
    _mm512_mask_storeu_ps(z + j, m, i);
    _mm512_mask_storeu_ps(z + n + j, m, f);
    _mm512_mask_storeu_ps(z + 2 * n + j, m, g);
    _mm512_mask_storeu_ps(z + 3 * n + j, m, o);
    __m512 cell = _mm512_mul_ps(i, g);
    if (c_prev) cell = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, c_prev + j), cell);
    _mm512_mask_storeu_ps(c + j, m, cell);
    _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(o, tanh512(cell)));
}

VP_AVX512 void vp_lstm_cell_avx512(int n, float *z, const float *c_prev, float *c, float *h) {
    int j = 0;
    for (; j + 16 <= n; j += 16) cell16(n, j, (__mmask16)0xFFFF, z, c_prev, c, h);
    if (j < n) cell16(n, j, (__mmask16)((1u << (n - j)) - 1), z, c_prev, c, h);
}
#endif
