/*
 * edgekit runtime: kernel parameter structs and prototypes.
 *
 * Every kernel has the signature
 *     void f(const P *p, const void *const *inputs, void *const *outputs, void *scratch);
 * The generated model code fills the parameter structs with designated initializers
 * (field names are the contract with the edgekit.ops modules). Integer parameters are
 * precomputed at generation time exactly as TFLite Micro's Prepare() computes them; the
 * kernels are bit-exact with TFLM's reference int8 kernels.
 * Arrays (weights, bias, multipliers, shapes) live in flash as const data.
 */
#ifndef EK_RUNTIME_H
#define EK_RUNTIME_H

#include <stdint.h>

#include "ek_requant.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EK_RT_MAX_RANK 6

/* CONV_2D, int8 activations, int8 per-channel weights (OHWI), int32 bias (always present:
 * an absent bias is lowered to zeros). Grouped convolution when in_c != filter_in_c. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, filter_in_c;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;   /* -zp_in */
    int32_t output_offset;  /* zp_out */
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *out_mult;  /* [out_c] */
    const int32_t *out_shift; /* [out_c] */
} ek_conv_params_t;

/* DEPTHWISE_CONV_2D: weights 1 x k_h x k_w x out_c, out_c = in_c * depth_multiplier */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t depth_multiplier;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *out_mult;
    const int32_t *out_shift;
} ek_dwconv_params_t;


/* Optimised CONV_2D / 1x1 / FULLY_CONNECTED as an int8 GEMM over int16 im2col columns
 * (ek_conv_dsp.c). The generator packs the weights and folds the input zero point into the bias:
 *   weights: for each pair of output channels (c, c+1) and each group g of 4 taps, the words
 *            w[c][4g..4g+3], w[c+1][4g..4g+3]; an odd last channel alone; taps padded to k4 with 0
 *   bias:    bias[c] + input_offset * sum_k w[c][k] (int32, wrapping, which is exact)
 * Padding pixels read as the input zero point (they then contribute 0).
 * requant_small: 1 when every |acc| < 2^30 and every shift <= -1 (then out_shift holds the
 * right shift r = -shift), else out_shift is TFLM's shift. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t k4;
    int32_t pad_value;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t requant_small;
    const int32_t *weights;
    const int32_t *bias;
    const int32_t *out_mult;
    const int32_t *out_shift;
    /* rq_mode 1/2: rq holds per channel {m, r, 2^(r-1) + output_offset * 2^r} (requant_small holds and
     * the offset folds without overflow; then out_mult/out_shift are not emitted); 1: act range is [-128, 127] (SSAT), 2: clamp to act_min/max;
     * 3, 4: as 1, 2 with a single triple for every channel */
    int32_t rq_mode;
    const int32_t *rq;
    /* fused residual ADD (fuse_add = 1): out = ADD(conv result, inputs[1]) with TFLM's int8 ADD
     * arithmetic; input 1 of the ADD is the conv result. The output may overwrite inputs[1]. */
    int32_t fuse_add;
    int32_t add_input1_offset, add_input2_offset, add_left_shift;
    int32_t add_input1_multiplier, add_input1_shift;
    int32_t add_input2_multiplier, add_input2_shift;
    int32_t add_output_multiplier, add_output_shift, add_output_offset;
    int32_t add_act_min, add_act_max;
} ek_convf_params_t;

/* Optimised DEPTHWISE_CONV_2D, depth multiplier 1, channels a multiple of 4 (ek_dwconv_dsp.c).
 * weights: for each group of 4 channels and each tap, two words of int16 lanes:
 *   (w[c], w[c+2]) and (w[c+1], w[c+3]). Bias not folded (border taps are skipped). */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t requant_small;
    const int32_t *weights;
    const int32_t *bias;
    const int32_t *out_mult;
    const int32_t *out_shift;
    int32_t rq_mode; /* 1/2: rq triples as in ek_convf_params_t (out_mult/out_shift not emitted) */
    const int32_t *rq;
} ek_dwconvf_params_t;

/* FULLY_CONNECTED: weights [out_c, accum_depth]; per-tensor when per_channel == 0 (then
 * out_mult/out_shift have one entry). */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_c;
    int32_t per_channel;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *out_mult;
    const int32_t *out_shift;
} ek_fc_params_t;

/* Broadcast shape description shared by the binary elementwise ops: the output is
 * iterated over `rank` dims (out_dims); in1_strides/in2_strides give each input's element
 * stride per output dim (0 along broadcast dims). */
/* ADD / SUB (int8). A constant operand is not an arena input: it comes from constN and
 * the activation operands are taken from inputs[] in order. */
typedef struct {
    int32_t rank;
    int32_t size;                /* output elements */
    int32_t broadcast;           /* 0: same shapes, flat loop */
    const int32_t *out_dims;     /* [rank] */
    const int32_t *in1_strides;  /* [rank] */
    const int32_t *in2_strides;  /* [rank] */
    int32_t in1_const, in2_const; /* 1: that operand is the constant array const1/const2 */
    const int8_t *const1;
    const int8_t *const2;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ek_add_params_t;

/* MUL (int8) */
typedef struct {
    int32_t rank;
    int32_t size;
    int32_t broadcast;
    const int32_t *out_dims;
    const int32_t *in1_strides;
    const int32_t *in2_strides;
    int32_t in1_const, in2_const;
    const int8_t *const1;
    const int8_t *const2;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ek_mul_params_t;

/* AVERAGE_POOL_2D / MAX_POOL_2D (int8, same quantization in and out) */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} ek_pool_params_t;

/* SOFTMAX int8 -> int8 (1/256, -128) over the last dim */
typedef struct {
    int32_t outer;
    int32_t depth;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} ek_softmax_params_t;

/* LOGISTIC int8 -> int8 (1/256, -128) */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} ek_logistic_params_t;

/* MEAN int8: input viewed as [outer..., reduced...] through per-dim strides. The output is
 * iterated over the kept dims (kept_dims/kept_strides, input element strides), the sum
 * over the reduced dims (red_dims/red_strides). */
typedef struct {
    int32_t num_kept;
    int32_t num_red;
    const int32_t *kept_dims;
    const int32_t *kept_strides;
    const int32_t *red_dims;
    const int32_t *red_strides;
    int32_t num_elements;      /* elements summed per output */
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier;        /* already divided by num_elements as TFLM does */
    int32_t shift;
} ek_mean_params_t;

/* PAD int8 (constant value), any rank <= 6 */
typedef struct {
    int32_t rank;
    const int32_t *in_dims;
    const int32_t *out_dims;
    const int32_t *pad_before;
    int32_t pad_value;
} ek_pad_params_t;

/* CONCATENATION (byte copies; inputs share the output's quantization) */
typedef struct {
    int32_t num_inputs;
    int32_t outer;               /* product of dims before the axis */
    int32_t out_row_bytes;       /* output bytes per outer index */
    const int32_t *in_row_bytes; /* [num_inputs] bytes per outer index */
} ek_concat_params_t;

/* QUANTIZE float32 -> int8 */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} ek_quantize_f32_params_t;

/* QUANTIZE int8 -> int8 (requantize) and standalone RELU (requantizing) */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier;
    int32_t shift;
    int32_t act_min, act_max;
} ek_requantize_params_t;

/* DEQUANTIZE int8 -> float32 */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} ek_dequantize_params_t;

/* RELU6 int8 (TFLM: clamp to [zp, q(6)] without requantization) */
typedef struct {
    int32_t size;
    int32_t lower;
    int32_t upper;
} ek_clamp_params_t;

/* kernels */
void ek_conv2d_s8(const ek_conv_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_dwconv2d_s8(const ek_dwconv_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch);
void ek_conv2d_s8_gemm(const ek_convf_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
void ek_dwconv2d_s8_fast(const ek_dwconvf_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch);
void ek_fully_connected_s8(const ek_fc_params_t *p, const void *const *inputs, void *const *outputs,
                           void *scratch);
void ek_add_s8(const ek_add_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_sub_s8(const ek_add_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_mul_s8(const ek_mul_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_avgpool_s8(const ek_pool_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_maxpool_s8(const ek_pool_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_softmax_s8(const ek_softmax_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch);
void ek_logistic_s8(const ek_logistic_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch);
void ek_mean_s8(const ek_mean_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_pad_s8(const ek_pad_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_concat_s8(const ek_concat_params_t *p, const void *const *inputs, void *const *outputs,
                  void *scratch);
void ek_quantize_f32_s8(const ek_quantize_f32_params_t *p, const void *const *inputs, void *const *outputs,
                        void *scratch);
void ek_requantize_s8(const ek_requantize_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch);
void ek_dequantize_s8_f32(const ek_dequantize_params_t *p, const void *const *inputs, void *const *outputs,
                          void *scratch);
void ek_clamp_s8(const ek_clamp_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EK_RUNTIME_H */
