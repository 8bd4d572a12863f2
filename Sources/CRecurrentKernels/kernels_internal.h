// Shared by the per-level kernel files; not part of the public API.
#ifndef VOICEPRINT_KERNELS_INTERNAL_H
#define VOICEPRINT_KERNELS_INTERNAL_H

#include "recurrent_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#define VP_X86 1
#endif

static inline int vp_panel_count(int rows) { return (rows + VP_PANEL_ROWS - 1) / VP_PANEL_ROWS; }

/// Rows of panel p that lie inside W (the last panel may be zero-padded).
static inline int vp_panel_valid(int rows, int p) {
    int left = rows - p * VP_PANEL_ROWS;
    return left < VP_PANEL_ROWS ? left : VP_PANEL_ROWS;
}

static inline float vp_sigmoid_scalar(float x) { return 1.0f / (1.0f + expf(-x)); }

// Unit j of one LSTM step: the portable path, and the vector paths' tails.
static inline void vp_lstm_unit(int n, int j, float *z, const float *c_prev, float *c, float *h) {
    float i = vp_sigmoid_scalar(z[j]), f = vp_sigmoid_scalar(z[n + j]), g = tanhf(z[2 * n + j]);
    float o = vp_sigmoid_scalar(z[3 * n + j]);
    z[j] = i; z[n + j] = f; z[2 * n + j] = g; z[3 * n + j] = o;
    float cell = i * g + (c_prev ? f * c_prev[j] : 0.0f);
    c[j] = cell;
    h[j] = o * tanhf(cell);
}

// fp32 → bfloat16 as VCVTNEPS2BF16 does it: round to nearest even; zero and
// subnormals to zero of the same sign; NaN truncated and made quiet (a payload
// only in the low 16 bits must not become inf); inf, and finite values that
// round past the largest bfloat16, to inf.
static inline uint16_t vp_bf16_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float vp_float_from_bf16(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/// Column pairs of the bf16 layout: k rounded up to even, halved.
static inline int vp_bf16_pairs(int k) { return (k + 1) / 2; }

#ifdef VP_X86
#define VP_HIDDEN __attribute__((visibility("hidden")))
VP_HIDDEN void vp_panel_gemm_avx2(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out, int ldo);
VP_HIDDEN void vp_lstm_cell_avx2(int hidden, float *gates, const float *c_prev, float *c, float *h);
VP_HIDDEN void vp_panel_gemm_avx512(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out, int ldo);
VP_HIDDEN void vp_lstm_cell_avx512(int hidden, float *gates, const float *c_prev, float *c, float *h);
VP_HIDDEN void vp_panel_gemm_avx512_bf16(int batch, int rows, int k, const float *h, int ldh, const uint16_t *packed,
                                         float *out, int ldo);
#endif

#endif
