/* Runs anywhere in hv: the console. Every line goes to COM1 (the log the
 * runners read) and to the debug port (live on bochs' stdout, QEMU
 * -debugcon). Machine lines are "@ " + one JSON object. */
#include "dev/dev.h"
#include "lib/lib.h"

static void console_putc(char c)
{
	if (c == '\n')
		uart_putc('\r');
	uart_putc(c);
	debugcon_putc(c);
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
