/* edgekit wire protocol: frame parser and writer. See ek_proto.h and docs/protocol.md. */
#include "ek_proto.h"

#include <string.h>

static const uint32_t crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint8_t ek_crc8(const uint8_t *data, size_t n)
{
    uint8_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) {
            crc = (uint8_t)((crc & 0x80u) ? (uint8_t)((crc << 1) ^ 0x07u) : (uint8_t)(crc << 1));
        }
    }
    return crc;
}

uint32_t ek_crc32_update(uint32_t crc, const uint8_t *data, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc32_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc32_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

uint32_t ek_crc32(const uint8_t *data, size_t n) { return ek_crc32_update(0, data, n); }

uint16_t ek_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t ek_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void ek_parser_init(ek_parser_t *p) { memset(p, 0, sizeof(*p)); }

void ek_parser_reset(ek_parser_t *p)
{
    p->dropped += p->n;
    p->n = 0;
    p->consume = 0;
}

static void drop(ek_parser_t *p, uint16_t k)
{
    if (k >= p->n) {
        p->n = 0;
    } else {
        memmove(p->buf, p->buf + k, (size_t)(p->n - k));
        p->n = (uint16_t)(p->n - k);
    }
}

void ek_parser_push(ek_parser_t *p, uint8_t byte)
{
    if (p->consume) {
        drop(p, p->consume);
        p->consume = 0;
    }
    if (p->n >= sizeof(p->buf)) {
        /* cannot happen with a valid header check, but never write out of bounds */
        drop(p, 1);
        p->dropped++;
    }
    p->buf[p->n++] = byte;
}

int ek_parser_next(ek_parser_t *p, ek_frame_t *out)
{
    if (p->consume) {
        drop(p, p->consume);
        p->consume = 0;
    }
    for (;;) {
        /* skip to a sync pair */
        uint16_t i = 0;
        while (i < p->n && !(p->buf[i] == EK_SYNC0 && (i + 1 >= p->n || p->buf[i + 1] == EK_SYNC1))) {
            i++;
        }
        if (i) {
            p->dropped += i;
            drop(p, i);
        }
        if (p->n < EK_HDR_BYTES) {
            return 0;
        }
        uint16_t len = ek_get_u16(&p->buf[4]);
        if (ek_crc8(&p->buf[2], 4) != p->buf[6] || len > EK_PROTO_MAX_RX_PAYLOAD) {
            p->dropped++;
            drop(p, 1);
            continue;
        }
        uint16_t total = (uint16_t)(EK_HDR_BYTES + len + EK_CRC_BYTES);
        if (p->n < total) {
            return 0;
        }
        uint32_t want = ek_get_u32(&p->buf[EK_HDR_BYTES + len]);
        if (ek_crc32_update(ek_crc32(&p->buf[2], 4), &p->buf[EK_HDR_BYTES], len) != want) {
            p->crc_errors++;
            p->dropped++;
            drop(p, 1);
            continue;
        }
        out->type = p->buf[2];
        out->seq = p->buf[3];
        out->len = len;
        out->payload = &p->buf[EK_HDR_BYTES];
        p->consume = total;
        return 1;
    }
}

static void put_crc(ek_writer_t *w, uint8_t c)
{
    w->crc = ek_crc32_update(w->crc, &c, 1);
    w->putc(c);
}

void ek_frame_begin(ek_writer_t *w, ek_putc_fn putc, uint8_t type, uint8_t seq, uint16_t len)
{
    uint8_t hdr[4] = {type, seq, (uint8_t)(len & 0xFFu), (uint8_t)(len >> 8)};
    w->putc = putc;
    w->crc = 0;
    w->left = len;
    putc(EK_SYNC0);
    putc(EK_SYNC1);
    for (int i = 0; i < 4; i++) {
        put_crc(w, hdr[i]);
    }
    putc(ek_crc8(hdr, 4));
}

void ek_frame_write(ek_writer_t *w, const void *data, size_t n)
{
    const uint8_t *d = (const uint8_t *)data;
    for (size_t i = 0; i < n && w->left; i++) {
        put_crc(w, d[i]);
        w->left--;
    }
}

void ek_frame_u8(ek_writer_t *w, uint8_t v) { ek_frame_write(w, &v, 1); }

void ek_frame_u16(ek_writer_t *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    ek_frame_write(w, b, 2);
}

void ek_frame_u32(ek_writer_t *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ek_frame_write(w, b, 4);
}

void ek_frame_end(ek_writer_t *w)
{
    while (w->left) { /* pad a short frame so the length stays truthful */
        put_crc(w, 0);
        w->left--;
    }
    uint32_t crc = w->crc;
    for (int i = 0; i < 4; i++) {
        w->putc((uint8_t)(crc >> (8 * i)));
    }
}
