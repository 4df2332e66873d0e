/*
 * Board support for STM32 Nucleo boards and QEMU's netduinoplus2 (register level, no HAL).
 *
 * Selected by build flags (generated from targets/boards/<board>.json):
 *   EK_BOARD_NAME      "nucleo-f446re"               board reported in HELLO
 *   EK_CLOCK_HZ        core clock the firmware runs at
 *   EK_EMULATOR        1 for QEMU netduinoplus2 builds (USART1, TIM2 icount, semihosting)
 *   EK_BOARD_F446RE / EK_BOARD_L4R5ZI / EK_BOARD_H743ZI   real-board console pins + clocks
 */
#include <stdint.h>

#include "ek_board.h"

#ifndef EK_BOARD_NAME
#define EK_BOARD_NAME "unknown"
#endif
#ifndef EK_CLOCK_HZ
#define EK_CLOCK_HZ 16000000u
#endif
#ifndef EK_CONSOLE_BAUD
#define EK_CONSOLE_BAUD 115200u
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* ---- console UART ---------------------------------------------------------------------- */
#if defined(EK_EMULATOR) || defined(EK_BOARD_F446RE)
/* STM32F4 USART: SR 0x00, DR 0x04, BRR 0x08, CR1 0x0C */
#if defined(EK_EMULATOR)
#define UART_BASE 0x40011000u /* netduinoplus2 USART1 */
#else
#define UART_BASE 0x40004400u /* NUCLEO-F446RE USART2 on PA2/PA3 (ST-LINK VCP) */
#endif
#define UART_RX_READY() (REG(UART_BASE + 0x00u) & (1u << 5))
#define UART_TX_READY() (REG(UART_BASE + 0x00u) & (1u << 7))
#define UART_OVERRUN() (REG(UART_BASE + 0x00u) & (1u << 3))
#define UART_READ() (REG(UART_BASE + 0x04u) & 0xFFu)
#define UART_WRITE(c) (REG(UART_BASE + 0x04u) = (c))
#define UART_CLEAR_OVERRUN() ((void)REG(UART_BASE + 0x04u))

static void uart_init(void)
{
#if defined(EK_BOARD_F446RE) && !defined(EK_EMULATOR)
    REG(0x40023800u + 0x30u) |= 1u;         /* RCC_AHB1ENR: GPIOA */
    REG(0x40023800u + 0x40u) |= 1u << 17;   /* RCC_APB1ENR: USART2 */
    uint32_t moder = REG(0x40020000u);
    moder &= ~((3u << 4) | (3u << 6));
    REG(0x40020000u) = moder | (2u << 4) | (2u << 6);           /* PA2/PA3 alternate */
    uint32_t afrl = REG(0x40020000u + 0x20u) & ~((0xFu << 8) | (0xFu << 12));
    REG(0x40020000u + 0x20u) = afrl | (7u << 8) | (7u << 12);   /* AF7 = USART2 */
#endif
    REG(UART_BASE + 0x08u) = (EK_CLOCK_HZ + EK_CONSOLE_BAUD / 2u) / EK_CONSOLE_BAUD;
    REG(UART_BASE + 0x0Cu) = (1u << 13) | (1u << 3) | (1u << 2); /* UE | TE | RE */
}
#else
/* STM32L4/H7 USART v2 (and LPUART): CR1 0x00, BRR 0x0C, ISR 0x1C, ICR 0x20, RDR 0x24, TDR 0x28 */
#if defined(EK_BOARD_L4R5ZI)
#define UART_BASE 0x40008000u /* LPUART1 on PG7/PG8 (ST-LINK VCP) */
#elif defined(EK_BOARD_H743ZI)
#define UART_BASE 0x40004800u /* USART3 on PD8/PD9 (ST-LINK VCP) */
#else
#error "no console UART for this board: define EK_EMULATOR or EK_BOARD_*"
#endif
#define UART_RX_READY() (REG(UART_BASE + 0x1Cu) & (1u << 5))
#define UART_TX_READY() (REG(UART_BASE + 0x1Cu) & (1u << 7))
#define UART_OVERRUN() (REG(UART_BASE + 0x1Cu) & (1u << 3))
#define UART_READ() (REG(UART_BASE + 0x24u) & 0xFFu)
#define UART_WRITE(c) (REG(UART_BASE + 0x28u) = (c))
#define UART_CLEAR_OVERRUN() (REG(UART_BASE + 0x20u) = (1u << 3))

static void gpio_af(uint32_t port, uint32_t pin, uint32_t af)
{
    REG(port) = (REG(port) & ~(3u << (2u * pin))) | (2u << (2u * pin));
    uint32_t afr = port + (pin < 8u ? 0x20u : 0x24u);
    uint32_t sh = 4u * (pin & 7u);
    REG(afr) = (REG(afr) & ~(0xFu << sh)) | (af << sh);
}

static void uart_init(void)
{
#if defined(EK_BOARD_L4R5ZI)
    REG(0x40021000u + 0x58u) |= 1u << 28;    /* RCC_APB1ENR1: PWR */
    REG(0x40007000u + 0x04u) |= 1u << 9;     /* PWR_CR2: IOSV (VDDIO2 for port G) */
    REG(0x40021000u + 0x4Cu) |= 1u << 6;     /* RCC_AHB2ENR: GPIOG */
    REG(0x40021000u + 0x5Cu) |= 1u;          /* RCC_APB1ENR2: LPUART1 */
    gpio_af(0x48001800u, 7u, 8u);
    gpio_af(0x48001800u, 8u, 8u);
    REG(UART_BASE + 0x0Cu) = (uint32_t)(((uint64_t)EK_CLOCK_HZ * 256u + EK_CONSOLE_BAUD / 2u) /
                                        EK_CONSOLE_BAUD);
#else
    REG(0x58024400u + 0xE0u) |= 1u << 3;     /* RCC_AHB4ENR: GPIOD */
    REG(0x58024400u + 0xE8u) |= 1u << 18;    /* RCC_APB1LENR: USART3 */
    gpio_af(0x58020C00u, 8u, 7u);
    gpio_af(0x58020C00u, 9u, 7u);
    REG(UART_BASE + 0x0Cu) = (EK_CLOCK_HZ + EK_CONSOLE_BAUD / 2u) / EK_CONSOLE_BAUD;
#endif
    REG(UART_BASE + 0x00u) = 1u | (1u << 2) | (1u << 3); /* UE | RE | TE */
}
#endif

int ek_board_getc(void)
{
    if (UART_OVERRUN()) {
        UART_CLEAR_OVERRUN(); /* a lost byte shows up as a CRC error; the host retries */
    }
    if (!UART_RX_READY()) {
        return -1;
    }
    return (int)UART_READ();
}

void ek_board_putc(uint8_t c)
{
    while (!UART_TX_READY()) {
    }
    UART_WRITE(c);
}

/* ---- ticks ------------------------------------------------------------------------------ */
#if defined(EK_EMULATOR)
/* TIM2 under QEMU -icount shift=0: one count per guest instruction. */
#define TIM2 0x40000000u
static void ticks_init(void)
{
    REG(TIM2 + 0x28u) = 0;           /* PSC */
    REG(TIM2 + 0x2Cu) = 0xFFFFFFFFu; /* ARR */
    REG(TIM2 + 0x14u) = 1u;          /* EGR.UG: load PSC */
    REG(TIM2 + 0x00u) = 1u;          /* CR1.CEN */
}
uint32_t ek_ticks(void) { return REG(TIM2 + 0x24u); }
uint8_t ek_board_tick_unit(void) { return EK_TICK_INSTRUCTIONS; }
int ek_board_emulated(void) { return 1; }
uint32_t ek_board_ticks_per_second(void) { return 150000000u; }
#else
/* DWT cycle counter */
static void ticks_init(void)
{
    REG(0xE000EDFCu) |= 1u << 24; /* DEMCR.TRCENA */
#if defined(EK_BOARD_H743ZI)
    REG(0xE0001FB0u) = 0xC5ACCE55u; /* DWT_LAR unlock (Cortex-M7) */
#endif
    REG(0xE0001004u) = 0;         /* CYCCNT */
    REG(0xE0001000u) |= 1u;       /* CTRL.CYCCNTENA */
}
uint32_t ek_ticks(void) { return REG(0xE0001004u); }
uint8_t ek_board_tick_unit(void) { return EK_TICK_CYCLES; }
int ek_board_emulated(void) { return 0; }
uint32_t ek_board_ticks_per_second(void) { return EK_CLOCK_HZ; }
#endif

/* ---- system ----------------------------------------------------------------------------- */
void ek_board_init(void)
{
    uart_init();
    ticks_init();
}

const char *ek_board_name(void) { return EK_BOARD_NAME; }
uint32_t ek_board_clock_hz(void) { return EK_CLOCK_HZ; }

void ek_board_reset(void)
{
    while (!UART_TX_READY()) {
    }
    __asm__ volatile("dsb" ::: "memory");
    REG(0xE000ED0Cu) = 0x05FA0004u; /* AIRCR: VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}

#if defined(EK_EMULATOR)
static void semihost_exit(int code)
{
    /* SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit: QEMU exits with `code` */
    uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t r1 __asm__("r1") = (uint32_t)(uintptr_t)block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}
#endif

void ek_board_exit(int code)
{
#if defined(EK_EMULATOR)
    semihost_exit(code);
#else
    (void)code;
#endif
    ek_board_reset();
}

void ek_board_fault(void)
{
#if defined(EK_EMULATOR)
    semihost_exit(3);
#endif
    ek_board_reset();
}
