/* Device harness: serves the edgekit wire protocol for one model. */
#ifndef EK_HARNESS_H
#define EK_HARNESS_H

#include <stdint.h>

#include "ek_proto.h"

/* Reset all protocol state (also called at boot). */
void ek_harness_init(void);
/* Send the HELLO frame (seq 0, boot flag set) announcing the device after boot. */
void ek_harness_announce(void);
/* Feed one received byte; complete frames are handled (and answered) immediately. */
void ek_harness_on_byte(uint8_t byte);
/* Handle one already-parsed frame (used by ek_harness_on_byte and by the fuzzer). */
void ek_harness_handle(const ek_frame_t *f);
/* Drop a partial frame (called by the main loop after an inter-byte timeout). */
void ek_harness_rx_timeout(void);
/* Forever: poll the UART, feed bytes, time out partial frames. */
void ek_harness_main(void);

#endif /* EK_HARNESS_H */
