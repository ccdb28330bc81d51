/* Runs anywhere in hv: the console. Every line goes to COM1 (the log the
 * runners read) and to the debug port (live on bochs' stdout, QEMU
 * -debugcon). Machine lines are "@ " + one JSON object.
 *
 * COM1 output goes through a ring: a real 16550 at 115200 baud takes ~87 us
 * a byte, and a VM's console line printed from its exit handler would
 * otherwise hold every VM (and the energy figures) for milliseconds. Each
 * write hands the UART what it can take now; the scheduler drains the rest
 * (log_drain) and hv_stop flushes it all (log_flush). A full ring waits for
 * the UART: nothing is lost. Emulated UARTs are always ready, so there the
 * output is immediate, as before. The debug port never waits. */
#include "dev/dev.h"
#include "lib/lib.h"

#define OUT_RING 16384 /* bytes; a power of two */
static char out_ring[OUT_RING];
static unsigned out_head, out_tail; /* free-running */

void log_drain(void)
{
	while (out_tail != out_head && uart_tx_ready())
		uart_tx(out_ring[out_tail++ % OUT_RING]);
	if (!uart_present())
		out_tail = out_head; /* no UART: nothing will ever take them */
}

void log_flush(void)
{
	while (out_tail != out_head)
		uart_putc(out_ring[out_tail++ % OUT_RING]); /* waits, bounded */
}

static void out_put(char c)
{
	if (out_head - out_tail == OUT_RING)
		uart_putc(out_ring[out_tail++ % OUT_RING]); /* full: wait for one */
	out_ring[out_head++ % OUT_RING] = c;
}

static void console_putc(char c)
{
	if (c == '\n')
		out_put('\r');
	out_put(c);
	debugcon_putc(c);
	log_drain();
}

void kvprintf(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = fmt_vsnprintf(buf, sizeof buf, fmt, ap);
	for (const char *p = buf; *p; p++)
		console_putc(*p);
	if (n >= (int)sizeof buf)
		for (const char *p = "...[truncated]\n"; *p; p++)
			console_putc(*p);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

/* Events are longer than console lines (a migration report lists every
 * round), and are written out whole, not through kvprintf's buffer. */
void log_event(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = fmt_vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof buf) {
		/* A cut event is not JSON: say so in one that is. */
		kprintf("@ {\"ev\":\"event_too_long\",\"bytes\":%d}\n", n);
		return;
	}
	for (const char *p = "@ "; *p; p++)
		console_putc(*p);
	for (const char *p = buf; *p; p++)
		console_putc(*p);
	console_putc('\n');
}
