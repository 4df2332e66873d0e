/* edgekit runtime: ADD, SUB, MUL (with broadcasting) for int8, bit-exact with TFLM. */
#include "ek_runtime.h"

static int8_t ek_add_one(const ek_add_arith_t *p, int32_t x, int32_t y, int sub)
{
    const int32_t s1 = (x + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t s2 = (y + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t v1 = ek_mbqm_lt1(s1, p->input1.multiplier, p->input1.shift);
    const int32_t v2 = ek_mbqm_lt1(s2, p->input2.multiplier, p->input2.shift);
    const int32_t raw = sub ? ek_wrap_sub(v1, v2) : ek_wrap_add(v1, v2);
    const int32_t o = ek_mbqm_lt1(raw, p->output.multiplier, p->output.shift) + p->output_offset;
    return (int8_t)ek_clamp32(o, p->act_min, p->act_max);
}

static int8_t ek_mul_one(const ek_mul_params_t *p, int32_t x, int32_t y)
{
    const int32_t prod = (x + p->input1_offset) * (y + p->input2_offset);
    const int32_t o = p->output_offset + ek_mbqm(prod, p->output.multiplier, p->output.shift);
    return (int8_t)ek_clamp32(o, p->act_min, p->act_max);
}

/* Iterate a broadcast over rank dims: calls back with element offsets into both inputs. */
#define EK_BCAST_LOOP(P, BODY)                                                            \
    do {                                                                                  \
        int32_t idx_[EK_RT_MAX_RANK];                                                     \
        int32_t off1_ = 0, off2_ = 0, n_, d_;                                             \
        for (d_ = 0; d_ < (P)->rank; ++d_) {                                              \
            idx_[d_] = 0;                                                                 \
        }                                                                                 \
        for (n_ = 0; n_ < (P)->size; ++n_) {                                              \
            const int32_t i1 = off1_, i2 = off2_, io = n_;                                \
            BODY;                                                                         \
            for (d_ = (P)->rank - 1; d_ >= 0; --d_) {                                     \
                ++idx_[d_];                                                               \
                off1_ += (P)->in1_strides[d_];                                            \
                off2_ += (P)->in2_strides[d_];                                            \
                if (idx_[d_] < (P)->out_dims[d_]) {                                       \
                    break;                                                                \
                }                                                                         \
                off1_ -= (P)->in1_strides[d_] * (P)->out_dims[d_];                        \
                off2_ -= (P)->in2_strides[d_] * (P)->out_dims[d_];                        \
                idx_[d_] = 0;                                                             \
            }                                                                             \
        }                                                                                 \
    } while (0)

static void ek_add_sub(const ek_add_params_t *p, const void *const *inputs, void *const *outputs, int sub)
{
    const int8_t *a = p->bc.in1_const ? p->bc.const1 : (const int8_t *)inputs[0];
    const int8_t *b = p->bc.in2_const ? p->bc.const2 : (const int8_t *)inputs[p->bc.in1_const ? 0 : 1];
    int8_t *out = (int8_t *)outputs[0];
    if (!p->bc.broadcast) {
        int32_t i;
        for (i = 0; i < p->bc.size; ++i) {
            out[i] = ek_add_one(&p->arith, a[i], b[i], sub);
        }
        return;
    }
    EK_BCAST_LOOP(&p->bc, out[io] = ek_add_one(&p->arith, a[i1], b[i2], sub));
}

void ek_add_s8(const ek_add_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_add_sub(p, inputs, outputs, 0);
}

void ek_sub_s8(const ek_add_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_add_sub(p, inputs, outputs, 1);
}

void ek_mul_s8(const ek_mul_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *a = p->bc.in1_const ? p->bc.const1 : (const int8_t *)inputs[0];
    const int8_t *b = p->bc.in2_const ? p->bc.const2 : (const int8_t *)inputs[p->bc.in1_const ? 0 : 1];
    int8_t *out = (int8_t *)outputs[0];
    (void)scratch;
    if (!p->bc.broadcast) {
        int32_t i;
        for (i = 0; i < p->bc.size; ++i) {
            out[i] = ek_mul_one(p, a[i], b[i]);
        }
        return;
    }
    EK_BCAST_LOOP(&p->bc, out[io] = ek_mul_one(p, a[i1], b[i2]));
}
