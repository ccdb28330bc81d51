/* Runs in the guest: console output. Bare, every byte goes to the 16550
 * UART at 0x3F8 and to the debug port 0xE9 (bochs prints it on stdout,
 * QEMU with -debugcon). Under Joulevisor a whole buffer goes out in one
 * JV_HC_CONSOLE_WRITE hypercall instead of one VM exit per byte. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

/* Call after hyper_detect(): the route depends on it. */
void console_init(void);
void console_write(const char *bytes, size_t length);

/* Small helpers for kernel messages that must not depend on newlib (the
 * exception report, early boot). Workloads use printf. */
void console_print(const char *text);
void console_print_hex(uint64_t value);
void console_print_decimal(uint64_t value);

/* The 16550 driver, used by console.c. */
void uart_init(void);
void uart_write_byte(uint8_t byte);
/* Waits until the last byte has left the UART: an emulator that is told to
 * power off drops whatever is still in the FIFO. */
void uart_flush(void);

#endif
