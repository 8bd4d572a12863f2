// Packing, the portable kernels, and the choice of level at run time.
#include "kernels_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>

long vp_packed_size(int rows, int k) { return (long)vp_panel_count(rows) * VP_PANEL_ROWS * (long)k; }

void vp_pack_panels(const float *w, int rows, int k, float *packed) {
    int panels = vp_panel_count(rows);
    for (int p = 0; p < panels; p++) {
        float *panel = packed + (long)p * k * VP_PANEL_ROWS;
        for (int r = 0; r < VP_PANEL_ROWS; r++) {
            int row = p * VP_PANEL_ROWS + r;
            for (int j = 0; j < k; j++) panel[(long)j * VP_PANEL_ROWS + r] = row < rows ? w[(long)row * k + j] : 0.0f;
        }
    }
}

long vp_packed_size_bf16(int rows, int k) {
    return (long)vp_panel_count(rows) * VP_PANEL_ROWS * 2L * vp_bf16_pairs(k);
}

void vp_pack_panels_bf16(const float *w, int rows, int k, uint16_t *packed) {
    int panels = vp_panel_count(rows), pairs = vp_bf16_pairs(k);
    for (int p = 0; p < panels; p++) {
        for (int i = 0; i < pairs; i++) {
            uint16_t *block = packed + ((long)p * pairs + i) * 2 * VP_PANEL_ROWS;
            for (int r = 0; r < VP_PANEL_ROWS; r++) {
                int row = p * VP_PANEL_ROWS + r;
                for (int t = 0; t < 2; t++) {
                    int j = 2 * i + t;
                    block[2 * r + t] = row < rows && j < k ? vp_bf16_from_float(w[(long)row * k + j]) : 0;
                }
            }
        }
    }
}

// ---- portable versions -------------------------------------------------------

static void panel_gemm_portable(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out,
                                int ldo) {
    int panels = vp_panel_count(rows);
    for (int b = 0; b < batch; b++) {
        for (int p = 0; p < panels; p++) {
            float acc[VP_PANEL_ROWS] = {0};
            const float *panel = packed + (long)p * k * VP_PANEL_ROWS;
            for (int j = 0; j < k; j++) {
                float x = h[(long)b * ldh + j];
                for (int r = 0; r < VP_PANEL_ROWS; r++) acc[r] += x * panel[(long)j * VP_PANEL_ROWS + r];
            }
            int valid = vp_panel_valid(rows, p);
            for (int r = 0; r < valid; r++) out[(long)b * ldo + p * VP_PANEL_ROWS + r] += acc[r];
        }
    }
}

// The arithmetic of the AVX512_BF16 kernel, in another order of summation:
// both operands rounded to bfloat16, so every product is exact in fp32.
static void panel_gemm_bf16_portable(int batch, int rows, int k, const float *h, int ldh, const uint16_t *packed,
                                     float *out, int ldo) {
    int panels = vp_panel_count(rows), pairs = vp_bf16_pairs(k);
    for (int b = 0; b < batch; b++) {
        const float *x = h + (long)b * ldh;
        for (int p = 0; p < panels; p++) {
            float acc[VP_PANEL_ROWS] = {0};
            for (int i = 0; i < pairs; i++) {
                const uint16_t *block = packed + ((long)p * pairs + i) * 2 * VP_PANEL_ROWS;
                float x0 = vp_float_from_bf16(vp_bf16_from_float(x[2 * i]));
                float x1 = 2 * i + 1 < k ? vp_float_from_bf16(vp_bf16_from_float(x[2 * i + 1])) : 0.0f;
                for (int r = 0; r < VP_PANEL_ROWS; r++) {
                    acc[r] += x0 * vp_float_from_bf16(block[2 * r]);
                    acc[r] += x1 * vp_float_from_bf16(block[2 * r + 1]);
                }
            }
            int valid = vp_panel_valid(rows, p);
            for (int r = 0; r < valid; r++) out[(long)b * ldo + p * VP_PANEL_ROWS + r] += acc[r];
        }
    }
}

static void lstm_cell_portable(int n, float *z, const float *c_prev, float *c, float *h) {
    for (int j = 0; j < n; j++) vp_lstm_unit(n, j, z, c_prev, c, h);
}

// ---- dispatch ------------------------------------------------------------------

static const char *const level_names[] = {"portable", "avx2", "avx512"};

int vp_recurrent_kernels_best_level(void) {
#ifdef VP_X86
    // Cheap after the first call (libgcc/compiler-rt fill a table once); the
    // checks include the OS saving the wider registers (XCR0).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return VP_KERNELS_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VP_KERNELS_AVX2;
#endif
    return VP_KERNELS_PORTABLE;
}

const char *vp_recurrent_kernels_name(int level) {
    return level >= 0 && level <= VP_KERNELS_AVX512 ? level_names[level] : "unknown";
}

// The best level capped by VOICEPRINT_KERNELS, worked out once; -1 until then.
static _Atomic int automatic_level = -1;
// The level the kernels use; -1 until the first call picks the automatic one.
static _Atomic int current_level = -1;

static int automatic(void) {
    int level = atomic_load_explicit(&automatic_level, memory_order_relaxed);
    if (level >= 0) return level;
    level = vp_recurrent_kernels_best_level();
    const char *cap = getenv("VOICEPRINT_KERNELS");
    if (cap) {
        for (int l = 0; l < level; l++)
            if (strcasecmp(cap, level_names[l]) == 0) level = l;
    }
    // Racing first calls compute the same value.
    atomic_store_explicit(&automatic_level, level, memory_order_relaxed);
    return level;
}

int vp_recurrent_kernels_level(void) {
    int level = atomic_load_explicit(&current_level, memory_order_relaxed);
    if (level >= 0) return level;
    int expected = -1;
    level = automatic();
    // A set_level that got in first wins.
    if (!atomic_compare_exchange_strong_explicit(&current_level, &expected, level, memory_order_relaxed,
                                                 memory_order_relaxed))
        level = expected;
    return level;
}

void vp_recurrent_kernels_set_level(int level) {
    int best = vp_recurrent_kernels_best_level();
    level = level < 0 ? automatic() : level > best ? best : level;
    atomic_store_explicit(&current_level, level, memory_order_relaxed);
}

void vp_panel_gemm(int batch, int rows, int k, const float *h, int ldh, const float *packed, float *out, int ldo) {
    switch (vp_recurrent_kernels_level()) {
#ifdef VP_X86
    case VP_KERNELS_AVX512: vp_panel_gemm_avx512(batch, rows, k, h, ldh, packed, out, ldo); return;
    case VP_KERNELS_AVX2: vp_panel_gemm_avx2(batch, rows, k, h, ldh, packed, out, ldo); return;
#endif
    default: panel_gemm_portable(batch, rows, k, h, ldh, packed, out, ldo); return;
    }
}

void vp_lstm_cell(int hidden, float *gates, const float *c_prev, float *c, float *h) {
    switch (vp_recurrent_kernels_level()) {
#ifdef VP_X86
    case VP_KERNELS_AVX512: vp_lstm_cell_avx512(hidden, gates, c_prev, c, h); return;
    case VP_KERNELS_AVX2: vp_lstm_cell_avx2(hidden, gates, c_prev, c, h); return;
#endif
    default: lstm_cell_portable(hidden, gates, c_prev, c, h); return;
    }
}

// AVX512_BF16, worked out once: -1 until then. The compiler's runtime (libgcc,
// compiler-rt) reads CPUID leaf 7 subleaf 1, EAX bit 5, and reports it only
// where the OS saves the zmm state (XCR0), as for avx512f.
static _Atomic int bf16_supported = -1;

static int cpu_has_avx512_bf16(void) {
    int has = atomic_load_explicit(&bf16_supported, memory_order_relaxed);
    if (has >= 0) return has;
    has = 0;
#ifdef VP_X86
    __builtin_cpu_init();
    has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#endif
    atomic_store_explicit(&bf16_supported, has, memory_order_relaxed);
    return has;
}

int vp_recurrent_kernels_bf16_native(void) {
    return vp_recurrent_kernels_level() == VP_KERNELS_AVX512 && cpu_has_avx512_bf16();
}

void vp_panel_gemm_bf16(int batch, int rows, int k, const float *h, int ldh, const uint16_t *packed, float *out,
                        int ldo) {
#ifdef VP_X86
    if (vp_recurrent_kernels_bf16_native()) {
        vp_panel_gemm_avx512_bf16(batch, rows, k, h, ldh, packed, out, ldo);
        return;
    }
#endif
    panel_gemm_bf16_portable(batch, rows, k, h, ldh, packed, out, ldo);
}
