#ifndef VOICEPRINT_RECURRENT_KERNELS_H
#define VOICEPRINT_RECURRENT_KERNELS_H

// Inference kernels for recurrent layers with a small batch (the windows of
// one utterance). OpenBLAS's sgemm repacks the whole recurrent weight matrix
// on every time step, which dominated LSTM inference (perf: 28 % of the time
// in sgemm_incopy for a 3-row product); these kernels take the weights packed
// once per call. Each has an AVX2+FMA version chosen at run time when the CPU
// has it, and a portable one.

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

/// 1 when the AVX2+FMA versions are in use.
int vp_recurrent_kernels_vectorized(void);

/// Forces the portable versions (0) or restores the automatic choice (1), for tests.
void vp_recurrent_kernels_allow_vector(int allow);

#endif
