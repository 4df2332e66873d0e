/*
 * edgekit generated-model API (contract between generated model libraries, the device
 * harness and host mode). Every generated library `<name>` provides:
 *
 *   int ek_<name>_run(const void *input, void *output);                  0 on success
 *   int ek_<name>_run_timed(const void *input, void *output,
 *                           ek_ticks_fn ticks, uint32_t *layer_ticks);   per-layer tick deltas
 *   const ek_model_info_t *ek_<name>_info(void);
 *
 * `input`/`output` are the model's single input/output tensor in its dtype (int8 for
 * full-integer models), laid out row-major (NHWC) as in the source model.
 * When `ticks` is non-NULL, layer_ticks[i] receives ticks() after layer i minus ticks()
 * before it (num_layers entries). The library uses one static arena, no malloc.
 */
#ifndef EK_MODEL_H
#define EK_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EK_MODEL_API_VERSION 1
#define EK_MAX_RANK 6

typedef uint32_t (*ek_ticks_fn)(void);

typedef enum {
    EK_DTYPE_INT8 = 0,
    EK_DTYPE_UINT8 = 1,
    EK_DTYPE_INT16 = 2,
    EK_DTYPE_INT32 = 3,
    EK_DTYPE_FLOAT32 = 4
} ek_dtype_t;

typedef struct {
    uint8_t dtype;              /* ek_dtype_t */
    uint8_t rank;
    int32_t dims[EK_MAX_RANK];
    uint32_t bytes;             /* total size in bytes */
    uint32_t scale_bits;        /* quantization scale as IEEE-754 binary32 bits (1.0 / 0 when not
                                 * quantized): no float type on the device */
    int32_t zero_point;
} ek_tensor_info_t;

typedef struct {
    uint32_t api_version;       /* EK_MODEL_API_VERSION */
    const char *name;           /* the --name prefix */
    uint32_t model_hash;        /* FNV-1a 32 of the source model file */
    uint32_t arena_bytes;       /* static arena (activations + scratch) */
    uint32_t weights_bytes;     /* const data in flash */
    uint32_t num_layers;        /* entries of layer_names / layer_ticks */
    const char *const *layer_names; /* e.g. "CONV_2D#0" */
    ek_tensor_info_t input;
    ek_tensor_info_t output;
} ek_model_info_t;

#ifdef __cplusplus
}
#endif

#endif /* EK_MODEL_H */
