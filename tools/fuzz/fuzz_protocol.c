/*
 * libFuzzer target: the device-side protocol parser and harness state machine, compiled for
 * the host with ASan/UBSan. Bytes from the fuzzer are fed to ek_harness_on_byte() exactly as
 * the UART would deliver them; board I/O is stubbed and the model is the fake test model.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ek_board.h"
#include "ek_harness.h"
#include "ek_proto.h"

static uint32_t g_ticks;
static size_t g_out;

void ek_board_init(void) {}
int ek_board_getc(void) { return -1; }
void ek_board_putc(uint8_t c) { (void)c; g_out++; }
uint32_t ek_ticks(void) { return g_ticks += 7u; }
uint32_t ek_board_ticks_per_second(void) { return 1000000u; }
void ek_board_reset(void) { ek_harness_init(); }
void ek_board_exit(int code) { (void)code; }
const char *ek_board_name(void) { return "fuzz"; }
uint32_t ek_board_clock_hz(void) { return 1u; }
uint8_t ek_board_tick_unit(void) { return EK_TICK_INSTRUCTIONS; }
int ek_board_emulated(void) { return 1; }

/* standalone parser check: every returned frame is within bounds and CRC-valid */
static void check_parser(const uint8_t *data, size_t size)
{
    static ek_parser_t p;
    ek_frame_t f;
    ek_parser_init(&p);
    for (size_t i = 0; i < size; i++) {
        ek_parser_push(&p, data[i]);
        while (ek_parser_next(&p, &f)) {
            if (f.len > EK_PROTO_MAX_RX_PAYLOAD || f.payload < p.buf ||
                f.payload + f.len + EK_CRC_BYTES > p.buf + sizeof(p.buf)) {
                abort();
            }
        }
        if (p.n > sizeof(p.buf)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parser(data, size);
    ek_harness_init();
    for (size_t i = 0; i < size; i++) {
        ek_harness_on_byte(data[i]);
        if ((data[i] & 0x3Fu) == 0x3Fu) {
            ek_harness_rx_timeout();
        }
    }
    return 0;
}
