/* Board support interface used by the harness (implemented in firmware/boards/). */
#ifndef EK_BOARD_H
#define EK_BOARD_H

#include <stdint.h>

#define EK_TICK_CYCLES 0u
#define EK_TICK_INSTRUCTIONS 1u

void ek_board_init(void);
int ek_board_getc(void);          /* next received byte, or -1 when none is waiting */
void ek_board_putc(uint8_t c);
uint32_t ek_ticks(void);          /* free-running 32-bit counter (wraps) */
uint32_t ek_board_ticks_per_second(void); /* rough, for the inter-byte timeout */
void ek_board_reset(void);        /* system reset; does not return on a board */
void ek_board_exit(int code);     /* emulator: end QEMU with `code`; board: reset */
const char *ek_board_name(void);
uint32_t ek_board_clock_hz(void);
uint8_t ek_board_tick_unit(void); /* EK_TICK_CYCLES or EK_TICK_INSTRUCTIONS */
int ek_board_emulated(void);

#endif /* EK_BOARD_H */
