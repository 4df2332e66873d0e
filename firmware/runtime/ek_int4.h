/*
 * edgekit runtime: int4 (sub-byte) weights for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.
 * Included by ek_runtime.h. The kernels take the int8 kernels' parameter structs unchanged; only
 * `weights` holds packed int4 values instead of int8 ones (edgekit/ops/_fast.py packs them):
 *
 *   two values per byte, the first in the low nibble (TFLite's / TFLM's INT4 order), each a
 *   two's-complement value in [-8, 7]; an odd count ends with a 0 high nibble.
 *
 * Portable kernels (ek_int4.c) read the weights in the int8 kernel's element order, packed over
 * the whole tensor (ceil(n/2) bytes, exactly the TFLite buffer):
 *   ek_conv2d_s4:          OHWI            (ek_conv2d_params_t)
 *   ek_dwconv2d_s4:        1 x k_h x k_w x out_c (ek_dwconv2d_params_t)
 *   ek_fully_connected_s4: [out_c, accum_depth]  (ek_fully_connected_params_t)
 * Optimised kernels pack the int8 fast layout's values in its own order and unpack a block into
 * scratch before the int8 inner loop runs on it:
 *   ek_conv2d_s4_gemm (ek_conv_dsp.c): the byte stream of ek_conv2d_gemm_params_t.weights
 *       (channel pairs, 4-tap groups, k4 taps per channel), nibble-packed: k4/2 bytes per channel,
 *       a channel pair starts on a word; the words end padded with 0 to a multiple of 4 bytes.
 *       Scratch: the int8 GEMM's + 2*k4 bytes (one channel pair unpacked, per pixel pair).
 *   ek_dwconv2d_s4_fast (ek_dwconv_dsp.c): per group of 4 channels and per tap, w[c..c+3] in 2
 *       bytes (k_h*k_w*out_c/2 bytes, padded with 0 to a multiple of 4). Scratch: 8*k_h*k_w bytes
 *       (one group unpacked into the int8 kernel's int16 lane words; the image is swept per group).
 * The arithmetic is the int8 kernels' on the same values, so the outputs are bit-identical to the
 * int8 kernels (and TFLM) on a filter holding the same values.
 */
#ifndef EK_INT4_H
#define EK_INT4_H

#include <stdint.h>

#include "ek_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* the i-th packed int4 value, sign-extended (v in [0, 15] -> v - 16 when bit 3 is set) */
EK_INLINE int32_t ek_s4_at(const int8_t *packed, int32_t i)
{
    const int32_t b = (int32_t)(uint8_t)packed[i >> 1];
    const int32_t v = (i & 1) ? (b >> 4) : (b & 15);
    return v - ((v & 8) << 1);
}

/* n packed int4 values from src into n int8 values at dst (n even or odd) */
EK_INLINE void ek_s4_unpack(int8_t *dst, const uint8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i + 1 < n; i += 2) {
        const int32_t b = src[i >> 1];
        const int32_t lo = b & 15, hi = b >> 4;
        dst[i] = (int8_t)(lo - ((lo & 8) << 1));
        dst[i + 1] = (int8_t)(hi - ((hi & 8) << 1));
    }
    if (i < n) {
        const int32_t lo = src[i >> 1] & 15;
        dst[i] = (int8_t)(lo - ((lo & 8) << 1));
    }
}

void ek_conv2d_s4(const ek_conv2d_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_dwconv2d_s4(const ek_dwconv2d_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_fully_connected_s4(const ek_fully_connected_params_t *p, const void *const *inputs, void *const *outputs,
                           void *scratch);
void ek_conv2d_s4_gemm(const ek_conv2d_gemm_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
/* bytes of scratch ek_conv2d_s4_gemm needs for p (the planner reserves exactly this) */
int32_t ek_conv2d_s4_gemm_scratch_bytes(const ek_conv2d_gemm_params_t *p);
void ek_dwconv2d_s4_fast(const ek_dwconv2d_fast_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch);
/* bytes of scratch ek_dwconv2d_s4_fast needs for p (the planner reserves exactly this) */
int32_t ek_dwconv2d_s4_fast_scratch_bytes(const ek_dwconv2d_fast_params_t *p);

#ifdef __cplusplus
}
#endif

#endif /* EK_INT4_H */
