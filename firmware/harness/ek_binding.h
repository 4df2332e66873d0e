/* The harness's view of the ONE model it runs. A generated binding (from
 * codegen/platformio/ek_binding.c.j2) maps these to the model's prefixed functions and owns
 * the static input/output/layer-tick buffers sized at generation time. */
#ifndef EK_BINDING_H
#define EK_BINDING_H

#include <stdint.h>

#include "ek_model.h"

const ek_model_info_t *ek_binding_info(void);
int ek_binding_run(const void *input, void *output);
int ek_binding_run_timed(const void *input, void *output, ek_ticks_fn ticks, uint32_t *layer_ticks);
uint8_t *ek_binding_input(void);      /* info()->input.bytes bytes */
uint8_t *ek_binding_output(void);     /* info()->output.bytes bytes */
uint32_t *ek_binding_layer_ticks(void); /* info()->num_layers entries */

#endif /* EK_BINDING_H */
