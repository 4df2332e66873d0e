/* edgekit device harness: the protocol state machine around ONE model (see docs/protocol.md). */
#include "ek_harness.h"

#include <string.h>

#include "ek_binding.h"
#include "ek_board.h"

#define ST_IDLE 0u
#define ST_RECEIVING 1u
#define ST_DONE 2u
#define FLAG_PER_LAYER 0x01u
#define HELLO_EMULATED 0x01u
#define HELLO_BOOT 0x02u

typedef struct {
    uint8_t state;
    uint8_t flags;
    uint16_t xfer;
    uint32_t total;
    uint32_t received;
    int32_t status;
    uint32_t ticks;
    uint32_t input_crc; /* CRC-32 of the input the model ran on, echoed in RESULT */
} ek_session_t;

static ek_parser_t g_parser;
static ek_session_t g_s;

void ek_harness_init(void)
{
    ek_parser_init(&g_parser);
    memset(&g_s, 0, sizeof(g_s));
}

static uint16_t str_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return (uint16_t)(n > 255u ? 255u : n);
}

static void write_tensor(ek_writer_t *w, const ek_tensor_info_t *t)
{
    ek_frame_u8(w, t->dtype);
    ek_frame_u8(w, t->rank);
    ek_frame_u16(w, 0);
    for (int i = 0; i < EK_MAX_RANK; i++) {
        ek_frame_u32(w, (uint32_t)t->dims[i]);
    }
    ek_frame_u32(w, t->bytes);
    ek_frame_u32(w, t->scale_bits);
    ek_frame_u32(w, (uint32_t)t->zero_point);
}

#define TENSOR_BYTES (4u + 4u * EK_MAX_RANK + 12u)

static void send_hello(uint8_t seq, uint8_t boot)
{
    const ek_model_info_t *info = ek_binding_info();
    const char *board = ek_board_name();
    uint16_t blen = str_len(board), mlen = str_len(info->name);
    uint16_t len = (uint16_t)(4u + 20u + 4u + 2u * TENSOR_BYTES + 1u + blen + 1u + mlen);
    ek_writer_t w;
    ek_frame_begin(&w, ek_board_putc, EK_MSG_HELLO, seq, len);
    ek_frame_u8(&w, (uint8_t)EK_PROTO_VERSION);
    ek_frame_u8(&w, (uint8_t)info->api_version);
    ek_frame_u8(&w, (uint8_t)((ek_board_emulated() ? HELLO_EMULATED : 0u) | (boot ? HELLO_BOOT : 0u)));
    ek_frame_u8(&w, ek_board_tick_unit());
    ek_frame_u32(&w, ek_board_clock_hz());
    ek_frame_u32(&w, info->model_hash);
    ek_frame_u32(&w, info->arena_bytes);
    ek_frame_u32(&w, info->weights_bytes);
    ek_frame_u32(&w, info->num_layers);
    ek_frame_u16(&w, (uint16_t)EK_PROTO_MAX_RX_PAYLOAD);
    ek_frame_u16(&w, 0);
    write_tensor(&w, &info->input);
    write_tensor(&w, &info->output);
    ek_frame_u8(&w, (uint8_t)blen);
    ek_frame_write(&w, board, blen);
    ek_frame_u8(&w, (uint8_t)mlen);
    ek_frame_write(&w, info->name, mlen);
    ek_frame_end(&w);
}

static void send_error(uint8_t seq, uint8_t code, uint32_t detail, const char *msg)
{
    uint16_t mlen = str_len(msg);
    ek_writer_t w;
    ek_frame_begin(&w, ek_board_putc, EK_MSG_ERROR, seq, (uint16_t)(8u + mlen));
    ek_frame_u8(&w, code);
    ek_frame_u8(&w, 0);
    ek_frame_u16(&w, 0);
    ek_frame_u32(&w, detail);
    ek_frame_write(&w, msg, mlen);
    ek_frame_end(&w);
}

static void send_ack(uint8_t seq, uint16_t xfer, uint32_t next)
{
    ek_writer_t w;
    ek_frame_begin(&w, ek_board_putc, EK_MSG_ACK, seq, 8);
    ek_frame_u16(&w, xfer);
    ek_frame_u16(&w, 0);
    ek_frame_u32(&w, next);
    ek_frame_end(&w);
}

static void send_result(uint8_t seq)
{
    const ek_model_info_t *info = ek_binding_info();
    uint32_t out_bytes = info->output.bytes;
    uint16_t nl = (g_s.flags & FLAG_PER_LAYER) ? (uint16_t)info->num_layers : 0u;
    uint32_t len = 20u + out_bytes + 4u * nl;
    if (len > 0xFFFFu) {
        send_error(seq, EK_ERR_UNSUPPORTED, len, "result does not fit one frame");
        return;
    }
    ek_writer_t w;
    ek_frame_begin(&w, ek_board_putc, EK_MSG_RESULT, seq, (uint16_t)len);
    ek_frame_u16(&w, g_s.xfer);
    ek_frame_u16(&w, nl);
    ek_frame_u32(&w, (uint32_t)g_s.status);
    ek_frame_u32(&w, g_s.ticks);
    ek_frame_u32(&w, g_s.input_crc);
    ek_frame_u32(&w, out_bytes);
    ek_frame_write(&w, ek_binding_output(), out_bytes);
    const uint32_t *lt = ek_binding_layer_ticks();
    for (uint16_t i = 0; i < nl; i++) {
        ek_frame_u32(&w, lt[i]);
    }
    ek_frame_end(&w);
}

static void send_layers(uint8_t seq)
{
    const ek_model_info_t *info = ek_binding_info();
    uint32_t len = 2u;
    for (uint32_t i = 0; i < info->num_layers; i++) {
        len += (uint32_t)str_len(info->layer_names[i]) + 1u;
    }
    if (len > 0xFFFFu) {
        send_error(seq, EK_ERR_UNSUPPORTED, len, "layer names do not fit one frame");
        return;
    }
    ek_writer_t w;
    ek_frame_begin(&w, ek_board_putc, EK_MSG_LAYERS, seq, (uint16_t)len);
    ek_frame_u16(&w, (uint16_t)info->num_layers);
    for (uint32_t i = 0; i < info->num_layers; i++) {
        ek_frame_write(&w, info->layer_names[i], str_len(info->layer_names[i]));
        ek_frame_u8(&w, 0);
    }
    ek_frame_end(&w);
}

static void run_model(void)
{
    const ek_model_info_t *info = ek_binding_info();
    uint32_t t0, t1;
    g_s.input_crc = ek_crc32(ek_binding_input(), info->input.bytes);
    if (g_s.flags & FLAG_PER_LAYER) {
        uint32_t *lt = ek_binding_layer_ticks();
        memset(lt, 0, 4u * info->num_layers);
        t0 = ek_ticks();
        g_s.status = ek_binding_run_timed(ek_binding_input(), ek_binding_output(), ek_ticks, lt);
        t1 = ek_ticks();
    } else {
        t0 = ek_ticks();
        g_s.status = ek_binding_run(ek_binding_input(), ek_binding_output());
        t1 = ek_ticks();
    }
    g_s.ticks = t1 - t0;
    g_s.state = ST_DONE;
}

static void on_begin(const ek_frame_t *f)
{
    const ek_model_info_t *info = ek_binding_info();
    if (f->len != 8u) {
        send_error(f->seq, EK_ERR_BAD_PAYLOAD, f->len, "INFER_BEGIN payload must be 8 bytes");
        return;
    }
    uint32_t total = ek_get_u32(f->payload + 4);
    if (total != info->input.bytes) {
        g_s.state = ST_IDLE;
        send_error(f->seq, EK_ERR_BAD_SIZE, info->input.bytes, "input size differs from model input");
        return;
    }
    g_s.xfer = ek_get_u16(f->payload);
    g_s.flags = f->payload[2];
    g_s.total = total;
    g_s.received = 0;
    g_s.state = ST_RECEIVING;
    send_ack(f->seq, g_s.xfer, 0);
}

static void on_data(const ek_frame_t *f)
{
    if (f->len < 8u) {
        send_error(f->seq, EK_ERR_BAD_PAYLOAD, f->len, "INFER_DATA payload shorter than 8 bytes");
        return;
    }
    uint16_t xfer = ek_get_u16(f->payload);
    uint32_t off = ek_get_u32(f->payload + 4);
    uint32_t n = (uint32_t)f->len - 8u;
    if (g_s.state == ST_DONE && xfer == g_s.xfer && off <= g_s.total && n <= g_s.total - off &&
        off + n == g_s.total) {
        send_result(f->seq); /* the host missed the result: send it again, do not re-run */
        return;
    }
    if (g_s.state != ST_RECEIVING || xfer != g_s.xfer) {
        send_error(f->seq, EK_ERR_BAD_STATE, g_s.state, "INFER_DATA outside a transfer");
        return;
    }
    if (off > g_s.received || off > g_s.total || n > g_s.total - off) {
        send_error(f->seq, EK_ERR_BAD_OFFSET, g_s.received, "INFER_DATA offset out of range");
        return;
    }
    memcpy(ek_binding_input() + off, f->payload + 8, n);
    if (off + n > g_s.received) {
        g_s.received = off + n;
    }
    if (g_s.received < g_s.total) {
        send_ack(f->seq, xfer, g_s.received);
        return;
    }
    run_model();
    send_result(f->seq);
}

void ek_harness_handle(const ek_frame_t *f)
{
    switch (f->type) {
    case EK_MSG_HELLO_REQ:
        g_s.state = ST_IDLE;
        send_hello(f->seq, 0);
        break;
    case EK_MSG_INFER_BEGIN:
        on_begin(f);
        break;
    case EK_MSG_INFER_DATA:
        on_data(f);
        break;
    case EK_MSG_LAYERS_REQ:
        send_layers(f->seq);
        break;
    case EK_MSG_RESET:
        send_ack(f->seq, 0, 0);
        ek_board_reset();
        break;
    case EK_MSG_EXIT:
        if (!ek_board_emulated()) {
            send_error(f->seq, EK_ERR_UNSUPPORTED, 0, "EXIT is only available in the emulator");
            break;
        }
        send_ack(f->seq, 0, 0);
        ek_board_exit(f->len ? f->payload[0] : 0);
        break;
    default:
        send_error(f->seq, EK_ERR_UNKNOWN_TYPE, f->type, "unknown message type");
        break;
    }
}

void ek_harness_on_byte(uint8_t byte)
{
    ek_frame_t f;
    ek_parser_push(&g_parser, byte);
    while (ek_parser_next(&g_parser, &f)) {
        ek_harness_handle(&f);
    }
}

void ek_harness_rx_timeout(void) { ek_parser_reset(&g_parser); }

void ek_harness_announce(void) { send_hello(0, 1); }

void ek_harness_main(void)
{
    uint32_t timeout = ek_board_ticks_per_second() / 4u; /* 250 ms without a byte mid-frame */
    uint32_t last = ek_ticks();
    uint32_t idle = 0;
    ek_harness_init();
    ek_harness_announce();
    for (;;) {
        int c = ek_board_getc();
        if (c >= 0) {
            idle = 0;
            ek_harness_on_byte((uint8_t)c);
        } else if (g_parser.n && (++idle & 0x3FFu) == 1u) {
            /* read the tick counter rarely: under QEMU each read is an expensive MMIO exit */
            if (idle == 1u) {
                last = ek_ticks();
            } else if ((uint32_t)(ek_ticks() - last) > timeout) {
                ek_harness_rx_timeout();
                idle = 0;
            }
        }
    }
}
