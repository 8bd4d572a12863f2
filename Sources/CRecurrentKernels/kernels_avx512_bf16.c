// AVX512_BF16 version of the panel product (vp_panel_gemm_bf16), chosen at run
// time (see recurrent_kernels.c). vdpbf16ps does acc[i] += a[2i]·b[2i] +
// a[2i+1]·b[2i+1] over 16 fp32 lanes: with W packed as 16 rows × one pair of
// columns per zmm, and one pair (h[b, j], h[b, j+1]) broadcast as a dword, one
// instruction is two columns of the fp32 kernel's FMA.
#include "kernels_internal.h"

#ifdef VP_X86
#include <immintrin.h>

#define VP_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define VP_INLINE inline __attribute__((always_inline))

// Block shape as the fp32 kernel's: 8 batch rows × 2 panels (16 accumulators),
// up to VPBF_SMALL rows × 4 panels. Measured on Zen 4 (clang -O2 as SwiftPM's
// release build, rows 1024, k 256): ~2.36 µs per batch row from 3 rows to 128,
// 1.93–2.0× the fp32 kernel; 2 panels for 3 rows, and h in 8 or 32 KB instead
// of 16, were no different within the noise of a shared machine.
#define VPBF_NB 8
#define VPBF_SMALL 4
// h as bfloat16 pairs, on the stack: 16 KB (32 batch rows of k = 256).
#define VPBF_HWORDS 4096

// nb batch rows × np panels over `pairs` column pairs. hp: the rows' pairs, hs
// dwords apart; panel: the first panel's block of the first pair, the next
// panel `stride` uint16 on. Only the last panel of a block can be partial, and
// `last` masks the rows of it that exist.
VP_BF16 static VP_INLINE void block(const int nb, const int np, int pairs, const uint32_t *hp, long hs,
                                    const uint16_t *panel, long stride, float *out, long ldo, __mmask16 last) {
    __m512 acc[VPBF_NB][4];
    for (int b = 0; b < nb; b++)
        for (int q = 0; q < np; q++) acc[b][q] = _mm512_setzero_ps();
    for (int i = 0; i < pairs; i++) {
        __m512bh w[4];
        for (int q = 0; q < np; q++)
            w[q] = (__m512bh)_mm512_loadu_si512((const void *)(panel + q * stride + (long)i * 2 * VP_PANEL_ROWS));
        for (int b = 0; b < nb; b++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)hp[b * hs + i]);
            for (int q = 0; q < np; q++) acc[b][q] = _mm512_dpbf16_ps(acc[b][q], x, w[q]);
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

#define VP_ARGS pairs, hp, hs, panel, stride, out, ldo, last
#define VP_CASE(NB, NP) case NB: block(NB, NP, VP_ARGS); break

VP_BF16 static void block_np4(int nb, int pairs, const uint32_t *hp, long hs, const uint16_t *panel, long stride,
                              float *out, long ldo, __mmask16 last) {
    switch (nb) { VP_CASE(4, 4); VP_CASE(3, 4); VP_CASE(2, 4); default: block(1, 4, VP_ARGS); break; }
}

VP_BF16 static void block_np2(int nb, int pairs, const uint32_t *hp, long hs, const uint16_t *panel, long stride,
                              float *out, long ldo, __mmask16 last) {
    switch (nb) {
    VP_CASE(8, 2); VP_CASE(7, 2); VP_CASE(6, 2); VP_CASE(5, 2); VP_CASE(4, 2); VP_CASE(3, 2); VP_CASE(2, 2);
    default: block(1, 2, VP_ARGS); break;
    }
}

VP_BF16 static void block_np1(int nb, int pairs, const uint32_t *hp, long hs, const uint16_t *panel, long stride,
                              float *out, long ldo, __mmask16 last) {
    switch (nb) {
    VP_CASE(8, 1); VP_CASE(7, 1); VP_CASE(6, 1); VP_CASE(5, 1); VP_CASE(4, 1); VP_CASE(3, 1); VP_CASE(2, 1);
    default: block(1, 1, VP_ARGS); break;
    }
}

// Columns [j0, j0 + n) of one row of h as bfloat16 pairs (the column past an odd
// end paired with zero), rounded as vp_bf16_from_float: vcvtne2ps2bf16 takes 32
// floats at a time, masked loads the tail.
VP_BF16 static void convert_row(const float *x, int n, uint32_t *pairs) {
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + j + 16), _mm512_loadu_ps(x + j));
        _mm512_storeu_si512((void *)(pairs + j / 2), (__m512i)v);
    }
    if (j < n) {
        int left = n - j;
        __mmask16 lo = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
        __mmask16 hi = (__mmask16)(left <= 16 ? 0 : (1u << (left - 16)) - 1);
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + j + 16), _mm512_maskz_loadu_ps(lo, x + j));
        _mm512_mask_storeu_epi32(pairs + j / 2, (__mmask16)((1u << ((left + 1) / 2)) - 1), (__m512i)v);
    }
}

VP_BF16 void vp_panel_gemm_avx512_bf16(int batch, int rows, int k, const float *h, int ldh, const uint16_t *packed,
                                       float *out, int ldo) {
    uint32_t hbuf[VPBF_HWORDS] __attribute__((aligned(64)));
    const int panels = vp_panel_count(rows), pairs = vp_bf16_pairs(k);
    const long stride = (long)pairs * 2 * VP_PANEL_ROWS;
    const int widest = batch <= VPBF_SMALL ? 4 : 2;
    // Chunks of h that fit hbuf: all of k (up to VPBF_HWORDS / VPBF_NB pairs) for
    // as many batch rows as fit, a whole number of blocks; longer rows in parts
    // of k, each part's sums added to out.
    const int most_pairs = VPBF_HWORDS / VPBF_NB;
    for (int i0 = 0; i0 < pairs; i0 += most_pairs) {
        int part = pairs - i0 < most_pairs ? pairs - i0 : most_pairs;
        int n = k - 2 * i0 < 2 * part ? k - 2 * i0 : 2 * part;
        int chunk = VPBF_HWORDS / part / VPBF_NB * VPBF_NB;
        for (int b0 = 0; b0 < batch; b0 += chunk) {
            int rows_here = batch - b0 < chunk ? batch - b0 : chunk;
            for (int b = 0; b < rows_here; b++)
                convert_row(h + (long)(b0 + b) * ldh + 2 * i0, n, hbuf + (long)b * part);
            for (int p = 0; p < panels;) {
                int np = panels - p >= widest ? widest : panels - p >= 2 ? 2 : 1;
                int valid = vp_panel_valid(rows, p + np - 1);
                __mmask16 last = (__mmask16)((1u << valid) - 1);
                const uint16_t *panel = packed + p * stride + (long)i0 * 2 * VP_PANEL_ROWS;
                // Blocks of near-equal size: 13 rows as 7 + 6 rather than 8 + 5.
                int blocks = (rows_here + VPBF_NB - 1) / VPBF_NB;
                for (int b = 0, left = blocks; b < rows_here; left--) {
                    int nb = (rows_here - b + left - 1) / left;
                    const uint32_t *hp = hbuf + (long)b * part;
                    float *ob = out + (long)(b0 + b) * ldo + p * VP_PANEL_ROWS;
                    if (np == 4) block_np4(nb, part, hp, part, panel, stride, ob, ldo, last);
                    else if (np == 2) block_np2(nb, part, hp, part, panel, stride, ob, ldo, last);
                    else block_np1(nb, part, hp, part, panel, stride, ob, ldo, last);
                    b += nb;
                }
                p += np;
            }
        }
    }
}
#endif
