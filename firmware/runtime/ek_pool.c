/* edgekit runtime: AVERAGE_POOL_2D and MAX_POOL_2D int8, bit-exact with TFLM reference. */
#include "ek_runtime.h"

static void ek_pool_s8(const ek_pool_params_t *p, const int8_t *in, int8_t *out, int is_max)
{
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = ek_max32(0, -iy0);
            const int32_t fy1 = ek_min32(p->filter_h, p->in_h - iy0);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ek_max32(0, -ix0);
                const int32_t fx1 = ek_min32(p->filter_w, p->in_w - ix0);
                int8_t *o = out + (((int64_t)b * p->out_h + oy) * p->out_w + ox) * p->channels;
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = is_max ? -128 : 0;
                    int32_t count = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        for (fx = fx0; fx < fx1; ++fx) {
                            const int32_t v =
                                in[(((int64_t)b * p->in_h + iy0 + fy) * p->in_w + ix0 + fx) * p->channels + c];
                            if (is_max) {
                                acc = ek_max32(acc, v);
                            } else {
                                acc += v;
                            }
                            ++count;
                        }
                    }
                    if (!is_max) {
                        if (count == 0) {
                            acc = 0; /* TFLM fails the op; cannot happen with valid shapes */
                        } else {
                            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                        }
                    }
                    o[c] = (int8_t)ek_clamp32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ek_avgpool_s8(const ek_pool_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_pool_s8(p, (const int8_t *)inputs[0], (int8_t *)outputs[0], 0);
}

void ek_maxpool_s8(const ek_pool_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_pool_s8(p, (const int8_t *)inputs[0], (int8_t *)outputs[0], 1);
}
