/*
 * edgekit runtime: packed sub-byte (uint4 / uint2) activation maps and the 1x1 convolutions that
 * read them (QuantMCU-style low-bit feature maps). Not included by ek_runtime.h: a generated
 * model that uses these kernels includes this header and compiles ek_lowbit.c.
 *
 * Activations are asymmetric unsigned b-bit values, real = scale * (q - zp), q in [0, 2^b - 1].
 * Weights stay int8 symmetric per output channel, bias int32, output int8 (TFLM's per-channel
 * requantization, + output zero point, activation clamp), exactly like the int8 1x1 conv.
 *
 * Packed layout (ek_pack_u4 / ek_pack_u2 write it, the conv kernels read it). Pixel-major: every
 * pixel starts on a 32-bit word and holds ceil(C/T) little-endian words, T taps per word
 * (T = 8 for u4, T = 16 for u2); taps past C are 0. Inside a word the fields are permuted so that
 * ONE instruction (AND with a shifted register) yields two 16-bit SIMD lanes in the order the
 * int8 weights' SXTB16 / SXTB16 ROR #8 produce them, (w[4g], w[4g+2]) and (w[4g+1], w[4g+3]):
 *   u4: nibble n (bits 4n..4n+3) holds tap  {0, 1, 4, 5, 2, 3, 6, 7}[n]        of the word's 8;
 *       (x >> 4j) & 0x000F000F = lanes (tap t_j, tap t_j + 2), t = {0, 1, 4, 5}.
 *   u2: crumb n (bits 2n..2n+1) holds tap {0,1,4,5,8,9,12,13, 2,3,6,7,10,11,14,15}[n] of 16;
 *       (x >> 2j) & 0x00030003 = lanes (tap t_j, tap t_j + 2), t = {0,1,4,5,8,9,12,13}.
 * Byte b of a u2 word holds crumbs 4b..4b+3, i.e. 4 taps (the LUT kernel's table index).
 *
 * Kernels (bench/lowbit_kernels.py measures them on the emulated Cortex-M4): the SMLAD column
 * kernels ek_conv1x1_u4 / ek_conv1x1_u2 are the fastest; ek_conv1x1_u4_inreg (no scratch), the
 * u2 lookup-table kernel and the two-pixels-per-register MLA kernels are measured alternatives,
 * bit-identical to them; ek_conv1x1_s8_col is the int8 control of the comparison.
 */
#ifndef EK_LOWBIT_H
#define EK_LOWBIT_H

#include <stdint.h>

#include "ek_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Requantize an int8 NHWC map (pixels x channels) to b bits and pack it:
 *   q_b = clamp(zp_out + MultiplyByQuantizedMultiplier(q8 + input_offset, mult, shift), 0, 2^b - 1)
 * (input_offset = -zp8; mult/shift TFLM's QuantizeMultiplier of s8 / s_b). inputs[0]: int8 map,
 * outputs[0]: the packed map (pixels * ek_lowbit_words(channels, b) words, word aligned).
 * The formula is evaluated once per call for the 256 int8 values (a 256-byte table on the stack),
 * then each value costs a load, a table load and a shift-or. No scratch. */
typedef struct {
    int32_t pixels;
    int32_t channels;
    int32_t input_offset;
    int32_t output_offset; /* zp_b, in [0, 2^b - 1] */
    int32_t mult, shift;
} ek_pack_lowbit_params_t;

/* Pointwise (1x1, stride 1, no padding) convolution over `pixels` NHWC pixels of in_c packed
 * u4/u2 activations, int8 output:
 *   acc[c] = bias[c] + sum_k w[c][k] * q[k]   (bias already holds b[c] - zp_in * sum_k w[c][k])
 *   out[c] = clamp(MultiplyByQuantizedMultiplier(acc[c], rq.mult[c], rq.shift[c]) + rq.output_offset,
 *                  rq.act_min, rq.act_max)
 * weights: ek_conv2d_gemm_params_t's int8 layout (k4 = in_c rounded up to 4; per channel pair and
 * 4-tap group the words w[c][4g..4g+3], w[c+1][4g..4g+3], an odd last channel alone, 0-padded),
 * i.e. edgekit.ops._fast.pack_gemm_weights.
 * requant_small = 0: rq.shift is TFLM's shift (any sign), the requantization ek_requant_fast;
 * requant_small = 1 (the generator proved every |acc| < 2^30 and every TFLM shift <= -1, as for
 * ek_conv2d_gemm_params_t): rq.shift holds the right shift r = -shift and the requantization is
 * ek_requant_small (SMMULR), bit-identical under those conditions.
 * triples != NULL (only with requant_small = 1; edgekit.ops._fast.rq_triples): per channel
 * {m, r, 2^(r-1) + output_offset * 2^r}, out = clamp((x + d + (x >> 31)) >> r, act_min, act_max)
 * with x = SMMULR(2 acc, m): the int8 GEMM's EK_RQ_TRIPLES_* arithmetic (rq.mult/shift unused). */
typedef struct {
    int32_t pixels;
    int32_t in_c, out_c;
    int32_t k4;
    int32_t requant_small;
    ek_requant_t rq;
    const int32_t *triples;
    const int32_t *weights;
    const int32_t *bias;
} ek_conv1x1_lowbit_params_t;

/* 32-bit words per pixel of a packed map with `channels` values of `bits` (4 or 2) bits */
EK_INLINE int32_t ek_lowbit_words(int32_t channels, int32_t bits)
{
    const int32_t per_word = 32 / bits;
    return (channels + per_word - 1) / per_word;
}

void ek_pack_u4(const ek_pack_lowbit_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_pack_u2(const ek_pack_lowbit_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);

/* SMLAD kernels: per pixel pair, the packed words are unpacked into int16 lane columns (one AND
 * per lane pair), then a 2-channel x 2-pixel SMLAD loop runs over the int8 weights.
 * Scratch: ek_conv1x1_u{4,2}_scratch_bytes(). */
void ek_conv1x1_u4(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch);
void ek_conv1x1_u2(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch);
int32_t ek_conv1x1_u4_scratch_bytes(const ek_conv1x1_lowbit_params_t *p);
int32_t ek_conv1x1_u2_scratch_bytes(const ek_conv1x1_lowbit_params_t *p);

/* The control of the comparison: unpacked int8 activations (in_c per pixel, zp folded into bias
 * like the low-bit kernels) through the same column + 2x2 SMLAD GEMM. Scratch: 4 * k4 bytes. */
void ek_conv1x1_s8_col(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
int32_t ek_conv1x1_s8_col_scratch_bytes(const ek_conv1x1_lowbit_params_t *p);

/* u4 without a column buffer: the lanes are unpacked from the packed words inside the channel
 * loop (a variant kept for the instruction-count comparison; no scratch). */
void ek_conv1x1_u4_inreg(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch);

/* MLA kernels (QuantMCU-style "two activations per lane"): the activations of a pixel pair share
 * one 32-bit register (q_p + 2^16 q_p+1), so one MLA by a 32-bit weight is 2 MACs with no unpacking
 * in the loop; the 16-bit fields are flushed every 16 (u4) / 84 (u2) taps. 1 channel x 4 pixels.
 * Scratch: 4 * k4 * out_c bytes (the weights as int32, expanded once per call) + the column of a
 * pixel quad (8 bytes per tap): ek_conv1x1_u{4,2}_mla_scratch_bytes(). */
void ek_conv1x1_u4_mla(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
void ek_conv1x1_u2_mla(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
int32_t ek_conv1x1_u4_mla_scratch_bytes(const ek_conv1x1_lowbit_params_t *p);
int32_t ek_conv1x1_u2_mla_scratch_bytes(const ek_conv1x1_lowbit_params_t *p);

/* u2 by lookup tables: per channel pair and per byte of packed activations (4 taps), a 256-entry
 * table of the two channels' partial sums (two int16 fields per word) is built in scratch, then
 * every pixel costs one index extraction, one load and one add per 4 taps and 2 channels.
 * Scratch: ek_conv1x1_u2_lut_scratch_bytes() = 1024 * 4 * ek_lowbit_words(in_c, 2) bytes. */
void ek_conv1x1_u2_lut(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
int32_t ek_conv1x1_u2_lut_scratch_bytes(const ek_conv1x1_lowbit_params_t *p);

#ifdef __cplusplus
}
#endif

#endif /* EK_LOWBIT_H */
