/* Runs anywhere in hv: the COM1 16550 (polled; hv never takes its IRQ). */
#include "dev/dev.h"
#include "x86/x86.h"

#define COM1 0x3F8
enum { THR = 0, IER = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7 };

static bool present;

void uart_init(void)
{
	/* The scratch register tells whether a UART is there at all. */
	outb(COM1 + SCR, 0x5A);
	if (inb(COM1 + SCR) != 0x5A)
		return;
	outb(COM1 + IER, 0x00);
	outb(COM1 + LCR, 0x80); /* DLAB: divisor 1 = 115200 baud */
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	outb(COM1 + LCR, 0x03); /* 8N1 */
	/* FIFOs off: QEMU drops what is still in the FIFO when isa-debug-exit
	 * ends the run, losing the end of the final line. */
	outb(COM1 + FCR, 0x00);
	outb(COM1 + MCR, 0x03); /* DTR, RTS */
	present = true;
}

bool uart_present(void)
{
	return present;
}

bool uart_tx_ready(void)
{
	return present && (inb(COM1 + LSR) & 0x20); /* THR empty */
}

void uart_tx(char c)
{
	outb(COM1 + THR, (uint8_t)c);
}

void uart_putc(char c)
{
	if (!present)
		return;
	for (unsigned spins = 0; !(inb(COM1 + LSR) & 0x20) && spins < 100000; spins++)
		cpu_relax();
	outb(COM1 + THR, (uint8_t)c);
}

void debugcon_putc(char c)
{
	outb(0xE9, (uint8_t)c);
}
