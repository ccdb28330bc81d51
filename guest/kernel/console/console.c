/* Runs in the guest: routes console output to the hypercall (under
 * Joulevisor) or to the UART and port 0xE9 (bare). */
#include "console/console.h"

#include <stdbool.h>

#include "hyper/hyper.h"
#include "x86/x86.h"

#define DEBUG_PORT 0xE9

static bool use_hypercall;

void console_init(void)
{
	use_hypercall = hyper_is_joulevisor();
	if (!use_hypercall)
		uart_init();
}

static void write_bytes_to_ports(const char *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		uart_write_byte((uint8_t)bytes[i]);
		outb(DEBUG_PORT, (uint8_t)bytes[i]);
	}
}

void console_write(const char *bytes, size_t length)
{
	if (use_hypercall) {
		/* The buffer's virtual address is its guest-physical address:
		 * the kernel maps memory one to one. */
		while (length > 0) {
			size_t chunk = length < JV_HC_CONSOLE_MAX ? length : JV_HC_CONSOLE_MAX;
			long written = hyper_call(JV_HC_CONSOLE_WRITE, (uint64_t)bytes, chunk, 0);
			if (written <= 0) {
				use_hypercall = false; /* refused: fall back to the UART */
				uart_init();
				break;
			}
			bytes += written;
			length -= (size_t)written;
		}
		if (length == 0)
			return;
	}
	write_bytes_to_ports(bytes, length);
}

void console_print(const char *text)
{
	size_t length = 0;
	while (text[length])
		length++;
	console_write(text, length);
}

void console_print_hex(uint64_t value)
{
	char digits[19] = "0x";
	for (int i = 0; i < 16; i++)
		digits[2 + i] = "0123456789abcdef"[(value >> (60 - 4 * i)) & 0xF];
	console_write(digits, 18);
}

void console_print_decimal(uint64_t value)
{
	char digits[20];
	int count = 0;
	do {
		digits[sizeof(digits) - 1 - count++] = (char)('0' + value % 10);
		value /= 10;
	} while (value > 0);
	console_write(digits + sizeof(digits) - count, (size_t)count);
}
