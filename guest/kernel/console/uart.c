/* Runs in the guest: a polled driver for the 16550 UART at COM1 (0x3F8),
 * 115200 baud, 8 data bits, no parity, 1 stop bit. Register map: the
 * National Semiconductor PC16550D data sheet. */
#include "console/console.h"

#include <stdbool.h>

#include "x86/x86.h"

#define COM1 0x3F8
/* Register offsets from the base port. */
#define UART_DATA          0 /* THR on write; with DLAB=1, divisor low byte */
#define UART_INTERRUPTS    1 /* IER; with DLAB=1, divisor high byte */
#define UART_FIFO_CONTROL  2
#define UART_LINE_CONTROL  3
#define UART_MODEM_CONTROL 4
#define UART_LINE_STATUS   5
#define UART_SCRATCH       7

#define LINE_CONTROL_DLAB             0x80 /* the next two registers are the divisor */
#define LINE_CONTROL_8N1              0x03
#define LINE_STATUS_THR_EMPTY         0x20
#define LINE_STATUS_TRANSMITTER_EMPTY 0x40 /* FIFO and shift register */
#define BAUD_DIVISOR_115200           1    /* 1.8432 MHz / 16 / 115200 */

/* No UART (scratch register does not hold a value), or one that never
 * drains: write nothing rather than hang. */
static bool uart_present;

void uart_init(void)
{
	outb(COM1 + UART_SCRATCH, 0x5A);
	if (inb(COM1 + UART_SCRATCH) != 0x5A)
		return;
	outb(COM1 + UART_INTERRUPTS, 0x00); /* polled: no interrupts */
	outb(COM1 + UART_LINE_CONTROL, LINE_CONTROL_DLAB);
	outb(COM1 + UART_DATA, BAUD_DIVISOR_115200 & 0xFF);
	outb(COM1 + UART_INTERRUPTS, BAUD_DIVISOR_115200 >> 8);
	outb(COM1 + UART_LINE_CONTROL, LINE_CONTROL_8N1);
	/* FIFOs off: QEMU drops what is still queued in the FIFO when
	 * isa-debug-exit ends the run, losing the end of the last line. */
	outb(COM1 + UART_FIFO_CONTROL, 0x00);
	outb(COM1 + UART_MODEM_CONTROL, 0x03); /* DTR, RTS */
	uart_present = true;
}

/* Waits until the line status shows `bits`; false if it never does. */
static bool wait_for_line_status(uint8_t bits)
{
	for (unsigned spins = 0; (inb(COM1 + UART_LINE_STATUS) & bits) != bits; spins++) {
		if (spins > 1000000) {
			uart_present = false; /* stuck: give up on it for good */
			return false;
		}
		cpu_relax();
	}
	return true;
}

void uart_write_byte(uint8_t byte)
{
	if (uart_present && wait_for_line_status(LINE_STATUS_THR_EMPTY))
		outb(COM1 + UART_DATA, byte);
}

void uart_flush(void)
{
	if (uart_present)
		wait_for_line_status(LINE_STATUS_TRANSMITTER_EMPTY);
}
