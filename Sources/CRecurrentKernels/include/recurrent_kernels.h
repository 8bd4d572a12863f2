#ifndef VOICEPRINT_RECURRENT_KERNELS_H
#define VOICEPRINT_RECURRENT_KERNELS_H

#include <stdint.h>

// Inference kernels for recurrent layers with a small batch (the windows of
// one utterance, or a few requests batched together). OpenBLAS's sgemm repacks
// the whole recurrent weight matrix on every time step, which dominated LSTM
// inference (perf: 28 % of the time in sgemm_incopy for a 3-row product);
// these kernels take the weights packed once per call.
//
// Each kernel has three levels, chosen at run time: portable C, AVX2+FMA, and
// AVX-512F. The first kernel call picks the best level the CPU (and OS)
// supports, capped by the environment variable VOICEPRINT_KERNELS, read once
// at that point: "portable", "avx2" or "avx512" (case-insensitive) name the
// highest level to use; any other value caps nothing. The cap is for
// benchmarks, and for CPUs that lower their clock while running 512-bit code.

/// Rows of W per packed panel.
#define VP_PANEL_ROWS 16

/// Floats needed to pack a [rows, k] matrix (rows rounded up to whole panels).
long vp_packed_size(int rows, int k);

/// Packs row-major W [rows, k] into panels of VP_PANEL_ROWS rows, k-major within
/// a panel: packed[p·k·16 + j·16 + r] = W[p·16 + r, j]; missing rows are zero.
void vp_pack_panels(const float *w, int rows, int k, float *packed);

/// out[b·ldo + r] += Σ_j h[b·ldh + j] · W[r, j] for b < batch, r < rows, with W
/// packed by vp_pack_panels.
void vp_panel_gemm(int batch, int rows, int k, const float *h, int ldh, const float *packed,
                   float *out, int ldo);

/// One LSTM step for one row: activates gates [i f g o] (4·hidden values,
/// pre-activations in, activations out), then c = f·c_prev + i·g (c_prev may
/// be NULL for zero state) and h = o·tanh(c).
void vp_lstm_cell(int hidden, float *gates, const float *c_prev, float *c, float *h);

/// Kernel levels; VP_KERNELS_AUTO restores the automatic choice in set_level.
#define VP_KERNELS_AUTO (-1)
#define VP_KERNELS_PORTABLE 0
#define VP_KERNELS_AVX2 1
#define VP_KERNELS_AVX512 2

/// The level the kernels use now.
int vp_recurrent_kernels_level(void);

/// The highest level this CPU supports (whatever VOICEPRINT_KERNELS says).
int vp_recurrent_kernels_best_level(void);

/// Makes the kernels use `level`, clamped to vp_recurrent_kernels_best_level()
/// (VOICEPRINT_KERNELS does not cap an explicit level); a negative level
/// restores the automatic choice. For tests and benchmarks: every kernel call
/// reads the level once, so call this while no kernel is running.
void vp_recurrent_kernels_set_level(int level);

/// "portable", "avx2" or "avx512" for levels 0–2, "unknown" otherwise.
const char *vp_recurrent_kernels_name(int level);

// ---- reduced precision: BF16 weights and inputs, fp32 sums ----------------------
//
// An opt-in path for vp_panel_gemm: W and h rounded to bfloat16 (8 significant
// bits: each operand off by up to 2^-8 of its size, each product by up to about
// 2^-7), products summed in fp32. With AVX512_BF16 (vdpbf16ps: two
// multiply-adds per fp32 lane) at the avx512 level it does twice the
// multiply-adds per instruction of the fp32 kernel and reads half the bytes of
// W; otherwise a portable loop does the same arithmetic (same rounding of both
// operands, fp32 sums), far slower than the fp32 vector kernels: choose this
// path only where vp_recurrent_kernels_bf16_native() says 1.

/// uint16 values (bfloat16) needed to pack a [rows, k] matrix for
/// vp_panel_gemm_bf16: rows rounded up to whole panels, k up to even.
long vp_packed_size_bf16(int rows, int k);

/// Packs row-major fp32 W [rows, k] as bfloat16, rounded to nearest even (NaN
/// stays NaN, quiet, sign kept; ±inf stays; subnormals become zero of the same
/// sign, as the AVX512_BF16 instructions treat them). Panels of VP_PANEL_ROWS
/// rows; within a panel, one block of 32 values per pair of columns (2i, 2i+1):
/// packed[(p·K/2 + i)·32 + 2r + t] = W[p·16 + r, 2i + t], K = k rounded up to
/// even; missing rows and the column past an odd k are zero.
void vp_pack_panels_bf16(const float *w, int rows, int k, uint16_t *packed);

/// out[b·ldo + r] += Σ_j bf16(h[b·ldh + j]) · W[r, j] for b < batch, r < rows,
/// with W packed by vp_pack_panels_bf16 and h rounded as there; sums in fp32.
/// Writes only the first `rows` values of each row of out.
void vp_panel_gemm_bf16(int batch, int rows, int k, const float *h, int ldh, const uint16_t *packed, float *out,
                        int ldo);

/// 1 when vp_panel_gemm_bf16 runs the AVX512_BF16 kernel now: the CPU (and OS)
/// support AVX-512F and AVX512_BF16 and the kernel level is avx512; 0 when it
/// runs the portable loop (a lower level from VOICEPRINT_KERNELS or
/// vp_recurrent_kernels_set_level, or no AVX512_BF16).
int vp_recurrent_kernels_bf16_native(void);

#endif
