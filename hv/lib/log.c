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
 * output is immediate, as before. The debug port never waits.
 *
 * Only log_event starts a machine line. Everything else (kprintf: hv's own
 * lines, which quote guest text: console lines, hypercall arguments, bad
 * commands) is made unable to: a line it starts with '@' gets a '\'
 * before it, and control bytes other than newline and tab become '?'. An
 * event's own text can hold no newline either. So a guest can never write
 * a line that a tool reads as hv's event, whatever text it hands hv. */
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

static bool at_line_start = true;

static void console_putc(char c)
{
	if (c == '\n')
		out_put('\r');
	out_put(c);
	debugcon_putc(c);
	log_drain();
	at_line_start = c == '\n';
}

/* A human line's byte: never the '@' that opens a machine line, never a
 * control byte that could fake a line break on some terminal. */
static void human_putc(char c)
{
	if (c != '\n' && c != '\t' && ((unsigned char)c < 0x20 || c == 0x7f))
		c = '?';
	if (at_line_start && c == '@')
		console_putc('\\');
	console_putc(c);
}

void kvprintf(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = fmt_vsnprintf(buf, sizeof buf, fmt, ap);
	for (const char *p = buf; *p; p++)
		human_putc(*p);
	if (n >= (int)sizeof buf)
		for (const char *p = "...[truncated]\n"; *p; p++)
			human_putc(*p);
}

static void event_line(const char *json)
{
	if (!at_line_start)
		console_putc('\n'); /* an event always starts its own line */
	console_putc('@');
	console_putc(' ');
	for (const char *p = json; *p; p++)
		console_putc((unsigned char)*p < 0x20 ? '?' : *p);
	console_putc('\n');
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
		fmt_snprintf(buf, sizeof buf, "{\"ev\":\"event_too_long\",\"bytes\":%d}", n);
	}
	event_line(buf);
}

bool trace_batch_on, trace_migrate_on;

bool trace_parse(const char *text)
{
	bool batch = false, migrate = false;
	for (const char *p = text; *p;) {
		const char *end = p;
		while (*end && *end != ',')
			end++;
		size_t len = (size_t)(end - p);
		if (len == 5 && !strncmp(p, "batch", 5))
			batch = true;
		else if (len == 7 && !strncmp(p, "migrate", 7))
			migrate = true;
		else
			return false;
		p = *end ? end + 1 : end;
	}
	if (!batch && !migrate)
		return false;
	trace_batch_on = batch;
	trace_migrate_on = migrate;
	return true;
}
