/* edgekit runtime: AVERAGE_POOL_2D and MAX_POOL_2D int8, bit-exact with TFLM reference. */
#include "ek_runtime.h"

static void ek_pool_s8(const ek_pool_params_t *p, const int8_t *in, int8_t *out, int is_max)
{
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->geom.batches; ++b) {
        for (oy = 0; oy < p->geom.out_h; ++oy) {
            const int32_t iy0 = oy * p->geom.stride_h - p->geom.pad_h;
            const int32_t fy0 = ek_max32(0, -iy0);
            const int32_t fy1 = ek_min32(p->geom.k_h, p->geom.in_h - iy0);
            for (ox = 0; ox < p->geom.out_w; ++ox) {
                const int32_t ix0 = ox * p->geom.stride_w - p->geom.pad_w;
                const int32_t fx0 = ek_max32(0, -ix0);
                const int32_t fx1 = ek_min32(p->geom.k_w, p->geom.in_w - ix0);
                int8_t *o = out + (((int64_t)b * p->geom.out_h + oy) * p->geom.out_w + ox) * p->geom.in_c;
                for (c = 0; c < p->geom.in_c; ++c) {
                    int32_t acc = is_max ? -128 : 0;
                    int32_t count = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        for (fx = fx0; fx < fx1; ++fx) {
                            const int32_t v =
                                in[(((int64_t)b * p->geom.in_h + iy0 + fy) * p->geom.in_w + ix0 + fx) * p->geom.in_c + c];
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
