/*
 * edgekit wire protocol, device side: frame parser and frame writer (no I/O, no malloc).
 * See docs/protocol.md. Frame layout (all integers little endian):
 *
 *   0xEB 0x4B | type u8 | seq u8 | len u16 | hcrc u8 | payload[len] | crc32 u32
 *
 * hcrc = CRC-8 (poly 0x07, init 0) over type..len; crc32 = CRC-32/IEEE (zlib) over
 * type..payload end.
 */
#ifndef EK_PROTO_H
#define EK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define EK_PROTO_VERSION 1u
#define EK_SYNC0 0xEBu
#define EK_SYNC1 0x4Bu
#define EK_HDR_BYTES 7u
#define EK_CRC_BYTES 4u
#ifndef EK_PROTO_MAX_RX_PAYLOAD
#define EK_PROTO_MAX_RX_PAYLOAD 256u
#endif
#define EK_PROTO_RX_BUF (EK_HDR_BYTES + EK_PROTO_MAX_RX_PAYLOAD + EK_CRC_BYTES)

/* host -> device */
#define EK_MSG_HELLO_REQ 0x01u
#define EK_MSG_INFER_BEGIN 0x02u
#define EK_MSG_INFER_DATA 0x03u
#define EK_MSG_RESET 0x04u
#define EK_MSG_EXIT 0x05u
#define EK_MSG_LAYERS_REQ 0x06u
/* device -> host */
#define EK_MSG_HELLO 0x81u
#define EK_MSG_ACK 0x82u
#define EK_MSG_RESULT 0x83u
#define EK_MSG_LAYERS 0x84u
#define EK_MSG_ERROR 0x8Fu

/* ERROR codes */
#define EK_ERR_UNKNOWN_TYPE 1u
#define EK_ERR_BAD_PAYLOAD 2u
#define EK_ERR_BAD_SIZE 3u
#define EK_ERR_BAD_STATE 4u
#define EK_ERR_BAD_OFFSET 5u
#define EK_ERR_MODEL_FAILED 6u
#define EK_ERR_UNSUPPORTED 7u

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t len;
    const uint8_t *payload;
} ek_frame_t;

typedef struct {
    uint8_t buf[EK_PROTO_RX_BUF];
    uint16_t n;        /* bytes held in buf */
    uint16_t consume;  /* bytes of the frame returned last, dropped on the next call */
    uint32_t dropped;  /* garbage bytes skipped (statistics) */
    uint32_t crc_errors;
} ek_parser_t;

uint8_t ek_crc8(const uint8_t *data, size_t n);
uint32_t ek_crc32_update(uint32_t crc, const uint8_t *data, size_t n);
uint32_t ek_crc32(const uint8_t *data, size_t n);

void ek_parser_init(ek_parser_t *p);
/* Append one received byte. */
void ek_parser_push(ek_parser_t *p, uint8_t byte);
/* Return 1 and fill *out with the next complete, CRC-valid frame held in the buffer (its
 * payload stays valid until the next push/next call); 0 when more bytes are needed.
 * Garbage, bad headers and bad CRCs are skipped one byte at a time (resynchronisation). */
int ek_parser_next(ek_parser_t *p, ek_frame_t *out);
/* Drop a partially received frame (inter-byte timeout). */
void ek_parser_reset(ek_parser_t *p);

/* Frame writer: streams a frame to putc while computing the CRC. */
typedef void (*ek_putc_fn)(uint8_t c);
typedef struct {
    ek_putc_fn putc;
    uint32_t crc;
    uint32_t left;
} ek_writer_t;

void ek_frame_begin(ek_writer_t *w, ek_putc_fn putc, uint8_t type, uint8_t seq, uint16_t len);
void ek_frame_write(ek_writer_t *w, const void *data, size_t n);
void ek_frame_u8(ek_writer_t *w, uint8_t v);
void ek_frame_u16(ek_writer_t *w, uint16_t v);
void ek_frame_u32(ek_writer_t *w, uint32_t v);
void ek_frame_end(ek_writer_t *w);

uint16_t ek_get_u16(const uint8_t *p);
uint32_t ek_get_u32(const uint8_t *p);

#endif /* EK_PROTO_H */
