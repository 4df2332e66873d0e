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

/* Naming: a kernel is ek_<op>_<input type>[_<output type>][_<variant>] (ek_conv2d_s8_gemm,
 * ek_dequantize_s8_f32), in the spirit of CMSIS-NN's arm_<op>_<type>[_variant]; its parameter
 * struct is ek_<op>[_<variant>]_params_t. Each struct has a dataclass of the same fields in
 * edgekit/ops/params.py, checked against this header when a library is generated. */

/* ---- shared sub-structs ------------------------------------------------------------------ */

/* A quantized multiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (or 0);
 * shift > 0 is a left shift (TFLM's QuantizeMultiplier). */
typedef struct {
    int32_t multiplier;
    int32_t shift;
} ek_mult_t;

/* The geometry of a 2-D convolution or pooling window over an NHWC batch (pooling: in_c ==
 * out_c, k = the filter, no dilation). pad_* are TFLM's leading pads (the odd extra pad of
 * SAME padding goes after). */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
} ek_conv_geom_t;

/* Per-channel requantization of int32 accumulators to int8: TFLM's double-rounding
 * MultiplyByQuantizedMultiplier by mult[c] and shift[c], + output_offset (zp_out), then the
 * fused activation clamp [act_min, act_max]. */
typedef struct {
    int32_t output_offset;
    int32_t act_min, act_max;
    const int32_t *mult;  /* [channels] */
    const int32_t *shift; /* [channels] */
} ek_requant_t;

/* How the optimised convolutions requantize (edgekit.ops.params.RequantMode; the fields holding
 * it are int32_t). Bit 0 set: the activation range is [-128, 127] (SSAT); >= 3: one triple. */
typedef enum {
    EK_RQ_GENERIC = 0,       /* rq.mult/rq.shift with TFLM's rounding (SMMULR when requant_small) */
    EK_RQ_TRIPLES_SSAT = 1,  /* per-channel triples {m, r, 2^(r-1) + output_offset * 2^r}, SSAT */
    EK_RQ_TRIPLES_CLAMP = 2, /* per-channel triples, clamp to act_min/act_max */
    EK_RQ_UNIFORM_SSAT = 3,  /* one triple for every channel, SSAT */
    EK_RQ_UNIFORM_CLAMP = 4  /* one triple for every channel, clamp */
} ek_rq_mode_t;

/* The operands of a binary elementwise op: the output is iterated over `rank` dims (out_dims);
 * in1_strides/in2_strides give each input's element stride per output dim (0 along broadcast
 * dims). A constant operand is not an arena input: it comes from constN and the activation
 * operands are taken from inputs[] in order. */
typedef struct {
    int32_t rank;
    int32_t size;                 /* output elements */
    int32_t broadcast;            /* 0: same shapes, flat loop */
    const int32_t *out_dims;      /* [rank] */
    const int32_t *in1_strides;   /* [rank] */
    const int32_t *in2_strides;   /* [rank] */
    int32_t in1_const, in2_const; /* 1: that operand is the constant array const1/const2 */
    const int8_t *const1;
    const int8_t *const2;
} ek_broadcast_t;

/* TFLM's int8 ADD/SUB arithmetic: both inputs (+ offsets) shifted left by left_shift, rescaled
 * by multipliers < 1, summed, rescaled to the output, + output_offset, clamped. */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    ek_mult_t input1, input2, output; /* shifts <= 0 */
    int32_t act_min, act_max;
} ek_add_arith_t;

/* ---- kernel parameter structs -------------------------------------------------------------- */

/* CONV_2D, int8 activations, int8 per-channel weights (OHWI), int32 bias (always present:
 * an absent bias is lowered to zeros). Grouped convolution when geom.in_c != filter_in_c. */
typedef struct {
    ek_conv_geom_t geom;
    int32_t filter_in_c;
    int32_t input_offset; /* -zp_in */
    ek_requant_t rq;
    const int8_t *weights;
    const int32_t *bias;
} ek_conv2d_params_t;

/* DEPTHWISE_CONV_2D: weights 1 x k_h x k_w x out_c, out_c = in_c * depth_multiplier */
typedef struct {
    ek_conv_geom_t geom;
    int32_t depth_multiplier;
    int32_t input_offset;
    ek_requant_t rq;
    const int8_t *weights;
    const int32_t *bias;
} ek_dwconv2d_params_t;

/* Optimised CONV_2D / 1x1 / FULLY_CONNECTED as an int8 GEMM over int16 im2col columns
 * (ek_conv_dsp.c). The generator packs the weights and folds the input zero point into the bias:
 *   weights: for each pair of output channels (c, c+1) and each group g of 4 taps, the words
 *            w[c][4g..4g+3], w[c+1][4g..4g+3]; an odd last channel alone; taps padded to k4 with 0
 *   bias:    bias[c] + input_offset * sum_k w[c][k] (int32, wrapping, which is exact)
 * Padding pixels read as the input zero point (pad_value; they then contribute 0).
 * requant_small: 1 when every |acc| < 2^30 and every shift <= -1 (then rq.shift holds the
 * right shift r = -shift), else rq.shift is TFLM's shift. rq_mode (an ek_rq_mode_t) > 0: the
 * requantization uses `triples` (rq.mult/rq.shift are then NULL).
 * fuse_add = 1: a residual ADD is fused: out = ADD(conv result, inputs[1]) with TFLM's int8 ADD
 * arithmetic `add` (input 1 of the ADD is the conv result); the output may overwrite inputs[1].
 * Scratch: ek_conv2d_s8_gemm_scratch_bytes(). */
typedef struct {
    ek_conv_geom_t geom;
    int32_t k4;
    int32_t pad_value;
    int32_t requant_small;
    int32_t rq_mode;
    ek_requant_t rq;
    const int32_t *triples;
    const int32_t *weights;
    const int32_t *bias;
    int32_t fuse_add;
    ek_add_arith_t add;
} ek_conv2d_gemm_params_t;

/* Optimised DEPTHWISE_CONV_2D, depth multiplier 1, channels a multiple of 4 (ek_dwconv_dsp.c).
 * weights: for each group of 4 channels and each tap, two words of int16 lanes:
 *   (w[c], w[c+2]) and (w[c+1], w[c+3]). Bias not folded (border taps are skipped).
 * requant_small, rq_mode (EK_RQ_GENERIC or EK_RQ_TRIPLES_*) and triples as for the GEMM. */
typedef struct {
    ek_conv_geom_t geom;
    int32_t input_offset;
    int32_t requant_small;
    int32_t rq_mode;
    ek_requant_t rq;
    const int32_t *triples;
    const int32_t *weights;
    const int32_t *bias;
} ek_dwconv2d_fast_params_t;

/* FULLY_CONNECTED: weights [out_c, accum_depth]; per-tensor when per_channel == 0 (then
 * rq.mult/rq.shift have one entry). */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_c;
    int32_t per_channel;
    int32_t input_offset;
    ek_requant_t rq;
    const int8_t *weights;
    const int32_t *bias;
} ek_fully_connected_params_t;

/* ADD / SUB (int8) */
typedef struct {
    ek_broadcast_t bc;
    ek_add_arith_t arith;
} ek_add_params_t;

/* MUL (int8): (x + input1_offset) * (y + input2_offset) requantized by `output` */
typedef struct {
    ek_broadcast_t bc;
    int32_t input1_offset, input2_offset, output_offset;
    ek_mult_t output;
    int32_t act_min, act_max;
} ek_mul_params_t;

/* AVERAGE_POOL_2D / MAX_POOL_2D (int8, same quantization in and out) */
typedef struct {
    ek_conv_geom_t geom;
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
    ek_mult_t rescale;         /* already divided by num_elements as TFLM does */
} ek_mean_params_t;

/* PAD int8 (constant value), any rank <= 6 */
typedef struct {
    int32_t rank;
    const int32_t *in_dims;
    const int32_t *out_dims;
    const int32_t *pad_before;
    int32_t pad_value;
} ek_pad_params_t;

/* CONCATENATION (byte copies; inputs share the output's quantization). Operand i is constant
 * when const_offset[i] >= 0: its bytes are consts + const_offset[i] (flash); the others are
 * inputs[] in order. */
typedef struct {
    int32_t num_inputs;
    int32_t outer;               /* product of dims before the axis */
    int32_t out_row_bytes;       /* output bytes per outer index */
    const int32_t *in_row_bytes; /* [num_inputs] bytes per outer index */
    const int32_t *const_offset; /* [num_inputs] byte offset in consts, or -1: an activation */
    const int8_t *consts;        /* the constant operands' bytes, concatenated (NULL: none) */
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
    ek_mult_t rescale;
    int32_t act_min, act_max;
} ek_requantize_params_t;

/* DEQUANTIZE int8 -> float32 */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} ek_dequantize_params_t;

/* LEAKY_RELU int8: x - input_zero_point requantized by `identity` (s_in/s_out) when >= 0, by
 * `alpha` (alpha * s_in/s_out; multiplier < 0 for a negative alpha) below, + output_zero_point */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t output_zero_point;
    ek_mult_t identity;
    ek_mult_t alpha;
} ek_leaky_relu_params_t;

/* RELU6 int8 (TFLM: clamp to [zp, q(6)] without requantization) */
typedef struct {
    int32_t size;
    int32_t lower;
    int32_t upper;
} ek_clamp_params_t;

/* kernels */
void ek_conv2d_s8(const ek_conv2d_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_dwconv2d_s8(const ek_dwconv2d_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch);
/* depth multiplier 1, one channel plane at a time into scratch (out_h*out_w bytes): outputs[0] may
 * be inputs[0] (in-place depthwise) */
void ek_dwconv2d_s8_inplace(const ek_dwconv2d_params_t *p, const void *const *inputs, void *const *outputs,
                            void *scratch);
void ek_conv2d_s8_gemm(const ek_conv2d_gemm_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
/* bytes of scratch ek_conv2d_s8_gemm needs for p (the planner reserves exactly this) */
int32_t ek_conv2d_s8_gemm_scratch_bytes(const ek_conv2d_gemm_params_t *p);
void ek_dwconv2d_s8_fast(const ek_dwconv2d_fast_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch);
void ek_fully_connected_s8(const ek_fully_connected_params_t *p, const void *const *inputs, void *const *outputs,
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
void ek_leaky_relu_s8(const ek_leaky_relu_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch);

/* ---- attention data movement and batched matmul ---------------------------------------- */

/* BATCH_MATMUL int8 (TFLM's reference BatchMatMul): for every output batch index,
 *   out[m][n] = clamp(MBQM(sum_k (lhs[m][k] + lhs_offset) * (rhs[k][n] + rhs_offset), output)
 *                     + output_offset, -128, 127)
 * with rows = M, depth = K, cols = N. As stored, a lhs matrix is [M][K] ([K][M] when adj_x) and
 * a rhs matrix [K][N] ([N][K] when adj_y). The output batch is iterated over num_batch_dims
 * dims (batch_dims); lhs_batch_strides / rhs_batch_strides give each operand's element stride
 * per batch dim (0 along a broadcast dim). A constant operand is lhs_const / rhs_const (flash);
 * NULL: that operand is the next of inputs[] (lhs first).
 * Scratch: ek_batch_matmul_s8_scratch_bytes(). */
typedef struct {
    int32_t num_batch_dims;
    const int32_t *batch_dims;        /* [num_batch_dims] */
    const int32_t *lhs_batch_strides; /* [num_batch_dims] */
    const int32_t *rhs_batch_strides; /* [num_batch_dims] */
    int32_t rows, depth, cols;
    int32_t adj_x, adj_y;
    int32_t lhs_offset, rhs_offset; /* -zp_lhs, -zp_rhs */
    int32_t output_offset;          /* zp_out */
    ek_mult_t output;               /* s_lhs * s_rhs / s_out (TFLM's QuantizeMultiplier) */
    const int8_t *lhs_const;
    const int8_t *rhs_const;
} ek_batch_matmul_params_t;

/* TRANSPOSE and STRIDED_SLICE: a strided copy by element size (elem_bytes 1, 2 or 4):
 *   out[i_0, ..., i_{rank-1}] = in[in_offset + sum_d i_d * in_strides[d]]   (element units)
 * over the output dims out_dims, written in order. Strides may be negative (reversed slices). */
typedef struct {
    int32_t rank;
    int32_t elem_bytes;
    int32_t in_offset;
    const int32_t *out_dims;   /* [rank] */
    const int32_t *in_strides; /* [rank] */
} ek_strided_copy_params_t;

void ek_batch_matmul_s8(const ek_batch_matmul_params_t *p, const void *const *inputs, void *const *outputs,
                        void *scratch);
/* bytes of scratch ek_batch_matmul_s8 needs for p (the planner reserves exactly this) */
int32_t ek_batch_matmul_s8_scratch_bytes(const ek_batch_matmul_params_t *p);
void ek_transpose(const ek_strided_copy_params_t *p, const void *const *inputs, void *const *outputs,
                  void *scratch);
void ek_strided_slice(const ek_strided_copy_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch);

/* EK_PATCH_PASTE (patch-based inference): tile rows into the full stage-1 map,
 *   map[out_offset + r*out_row_stride + j] = tile[r*row_bytes + j]   (bytes, r < rows, j < row_bytes)
 * inputs: [map so far, tile], or [tile] for the first patch; the output is the map (the planner
 * lets it share the input map's buffer; when it does not, the map is copied first). */
typedef struct {
    int32_t has_map; /* 1: inputs[0] is the map so far, inputs[1] the tile; 0: inputs[0] is the tile */
    int32_t map_bytes;
    int32_t rows;
    int32_t row_bytes;
    int32_t out_offset;
    int32_t out_row_stride;
} ek_patch_paste_params_t;

void ek_patch_paste(const ek_patch_paste_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch);

/* ---- float32 kernels ----------------------------------------------------------------------- */

/* The unquantized baseline (ek_float.c, `--precision float32`): float32 activations and
 * constants, TFLite layouts. A fused activation is the clamp [act_min, act_max] (NONE:
 * -FLT_MAX..FLT_MAX, RELU: 0..FLT_MAX, RELU6: 0..6, RELU_N1_TO_1: -1..1). Biases are always
 * present (an absent bias is lowered to zeros). */

/* CONV_2D float32: weights OHWI [out_c, k_h, k_w, filter_in_c]; grouped when geom.in_c !=
 * filter_in_c */
typedef struct {
    ek_conv_geom_t geom;
    int32_t filter_in_c;
    float act_min, act_max;
    const float *weights;
    const float *bias;
} ek_conv2d_f32_params_t;

/* DEPTHWISE_CONV_2D float32: weights [1, k_h, k_w, out_c], out_c = in_c * depth_multiplier */
typedef struct {
    ek_conv_geom_t geom;
    int32_t depth_multiplier;
    float act_min, act_max;
    const float *weights;
    const float *bias;
} ek_dwconv2d_f32_params_t;

/* FULLY_CONNECTED float32: `batches` rows of accum_depth values, weights [out_c, accum_depth] */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_c;
    float act_min, act_max;
    const float *weights;
    const float *bias;
} ek_fully_connected_f32_params_t;

/* BATCH_MATMUL float32: `batches` output matrices m x n (row-major, contiguous); element (i, q)
 * of the t-th x matrix is x[x_offsets[t] + i*x_row + q*x_col] (adj_x swaps the strides; a
 * broadcast batch repeats an offset), element (q, j) of y is y[y_offsets[t] + q*y_row + j*y_col].
 * A constant operand (in1_const/in2_const) is const1/const2, not an arena input. */
typedef struct {
    int32_t batches;
    int32_t m, k, n;
    int32_t x_row, x_col, y_row, y_col;
    const int32_t *x_offsets; /* [batches] */
    const int32_t *y_offsets; /* [batches] */
    int32_t in1_const, in2_const;
    const float *const1;
    const float *const2;
} ek_batch_matmul_f32_params_t;

/* LAYER_NORM float32 over the last axis (`outer` rows of `depth`), gamma/beta [depth] */
typedef struct {
    int32_t outer;
    int32_t depth;
    float epsilon;
    const float *gamma;
    const float *beta;
} ek_layer_norm_f32_params_t;

/* SOFTMAX float32 over the last axis: softmax(beta * x) */
typedef struct {
    int32_t outer;
    int32_t depth;
    float beta;
} ek_softmax_f32_params_t;

/* GELU float32: approximate = 0 the erf form, 1 the tanh form */
typedef struct {
    int32_t size;
    int32_t approximate;
} ek_gelu_f32_params_t;

/* LOGISTIC, TANH, HARD_SWISH float32 */
typedef struct {
    int32_t size;
} ek_unary_f32_params_t;

/* RELU / RELU6 / RELU_N1_TO_1 float32: clamp to [lower, upper] */
typedef struct {
    int32_t size;
    float lower, upper;
} ek_clamp_f32_params_t;

/* ADD / SUB / MUL float32: the broadcast layout of ek_broadcast_t with float constant operands,
 * then the fused activation clamp */
typedef struct {
    int32_t rank;
    int32_t size;
    int32_t broadcast;
    const int32_t *out_dims;
    const int32_t *in1_strides;
    const int32_t *in2_strides;
    int32_t in1_const, in2_const;
    const float *const1;
    const float *const2;
    float act_min, act_max;
} ek_binary_f32_params_t;

/* MEAN float32: the layout of ek_mean_params_t; the sum divided by num_elements */
typedef struct {
    int32_t num_kept;
    int32_t num_red;
    const int32_t *kept_dims;
    const int32_t *kept_strides;
    const int32_t *red_dims;
    const int32_t *red_strides;
    int32_t num_elements;
} ek_mean_f32_params_t;

/* AVERAGE_POOL_2D / MAX_POOL_2D float32 (average: over the in-bounds taps) */
typedef struct {
    ek_conv_geom_t geom;
    float act_min, act_max;
} ek_pool_f32_params_t;

/* PAD float32 (constant value), any rank <= 6 */
typedef struct {
    int32_t rank;
    const int32_t *in_dims;
    const int32_t *out_dims;
    const int32_t *pad_before;
    float pad_value;
} ek_pad_f32_params_t;

/* CONCATENATION float32: per outer index, in_rows[i] values of each input i in order; input i is
 * the next arena input when const_offsets[i] < 0, else the constant at consts + const_offsets[i] */
typedef struct {
    int32_t num_inputs;
    int32_t outer;
    const int32_t *in_rows;       /* [num_inputs] */
    const int32_t *const_offsets; /* [num_inputs] */
    const float *consts;
} ek_concat_f32_params_t;

void ek_conv2d_f32(const ek_conv2d_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_dwconv2d_f32(const ek_dwconv2d_f32_params_t *p, const void *const *inputs, void *const *outputs,
                     void *scratch);
void ek_fully_connected_f32(const ek_fully_connected_f32_params_t *p, const void *const *inputs,
                            void *const *outputs, void *scratch);
void ek_batch_matmul_f32(const ek_batch_matmul_f32_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch);
void ek_layer_norm_f32(const ek_layer_norm_f32_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
void ek_softmax_f32(const ek_softmax_f32_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch);
void ek_gelu_f32(const ek_gelu_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_logistic_f32(const ek_unary_f32_params_t *p, const void *const *inputs, void *const *outputs,
                     void *scratch);
void ek_tanh_f32(const ek_unary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_hard_swish_f32(const ek_unary_f32_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch);
void ek_clamp_f32(const ek_clamp_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_add_f32(const ek_binary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_sub_f32(const ek_binary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_mul_f32(const ek_binary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_mean_f32(const ek_mean_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_avgpool_f32(const ek_pool_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_maxpool_f32(const ek_pool_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_pad_f32(const ek_pad_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_concat_f32(const ek_concat_f32_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch);

#ifdef __cplusplus
}
#endif

/* edgekit's own integer ops (I-ViT: Shiftmax, ShiftGELU, I-LayerNorm, int16 residual add) */
#include "ek_ivit.h"

/* int4 (packed) weights for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED */
#include "ek_int4.h"

#endif /* EK_RUNTIME_H */
