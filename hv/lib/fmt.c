/* Runs anywhere in hv (and on the host in unit tests): a small vsnprintf.
 * No floating point: hv is built with -mgeneral-regs-only so that it never
 * touches a guest's FPU/SSE state. */
#include "lib/lib.h"

struct out {
	char *buf;
	size_t size;
	size_t len; /* characters produced so far, written or not */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, bool left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	for (size_t i = 0; i < n; i++)
		put(o, s[i]);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static void put_number(struct out *o, unsigned long long v, bool negative, unsigned base,
                       bool upper, int width, bool left, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (negative) {
		if (pad == '0') {
			put(o, '-');
			width--;
		} else {
			tmp[n++] = '-';
		}
	}
	char rev[24];
	for (size_t i = 0; i < n; i++)
		rev[i] = tmp[n - 1 - i];
	put_padded(o, rev, n, width, left, pad);
}

int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		p++;
		bool left = false;
		char pad = ' ';
		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '0')
				pad = '0';
			else
				break;
		}
		int width = 0;
		if (*p == '*') {
			width = va_arg(ap, int);
			p++;
		} else {
			while (*p >= '0' && *p <= '9')
				width = width * 10 + (*p++ - '0');
		}
		int precision = -1;
		if (*p == '.') {
			p++;
			precision = 0;
			if (*p == '*') {
				precision = va_arg(ap, int);
				p++;
			} else {
				while (*p >= '0' && *p <= '9')
					precision = precision * 10 + (*p++ - '0');
			}
		}
		int longness = 0; /* 0 int, 1 long, 2 long long, -1 short, -2 char */
		for (;; p++) {
			if (*p == 'l')
				longness++;
			else if (*p == 'z')
				longness = 1;
			else if (*p == 'h')
				longness--;
			else
				break;
		}
		if (left)
			pad = ' ';
		switch (*p) {
		case 'd':
		case 'i': {
			long long v = longness >= 2   ? va_arg(ap, long long)
			              : longness == 1 ? va_arg(ap, long)
			                              : va_arg(ap, int);
			if (longness == -1)
				v = (short)v;
			else if (longness <= -2)
				v = (signed char)v;
			unsigned long long mag =
			    v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
			put_number(&o, mag, v < 0, 10, false, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			unsigned long long v = longness >= 2   ? va_arg(ap, unsigned long long)
			                       : longness == 1 ? va_arg(ap, unsigned long)
			                                       : va_arg(ap, unsigned int);
			if (longness == -1)
				v = (unsigned short)v;
			else if (longness <= -2)
				v = (unsigned char)v;
			put_number(&o, v, false, *p == 'u' ? 10 : 16, *p == 'X', width, left, pad);
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			put(&o, '0');
			put(&o, 'x');
			put_number(&o, v, false, 16, false, width > 2 ? width - 2 : 0, left, pad);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			size_t n = precision >= 0 ? strnlen(s, (size_t)precision) : strlen(s);
			put_padded(&o, s, n, width, left, ' ');
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			put_padded(&o, &c, 1, width, left, ' ');
			break;
		}
		case '%': put(&o, '%'); break;
		case '\0':
			p--; /* a lone '%' at the end: stop without reading past NUL */
			break;
		default: /* unknown conversion: print it as it was written */
			put(&o, '%');
			put(&o, *p);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void fmt_json_escape(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	struct out o = {buf, size, 0};
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char seq[6];
		size_t n = 0;
		if (c == '"' || c == '\\') {
			seq[n++] = '\\';
			seq[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Control and non-ASCII bytes as \u00XX: the log stays ASCII. */
			seq[n++] = '\\';
			seq[n++] = 'u';
			seq[n++] = '0';
			seq[n++] = '0';
			seq[n++] = hex[c >> 4];
			seq[n++] = hex[c & 15];
		} else {
			seq[n++] = (char)c;
		}
		/* Cut before a sequence that does not fit whole, never inside
		 * it: a lone backslash at the end would escape the closing quote
		 * of the JSON string the caller puts this in. */
		if (o.len + n >= size)
			break;
		for (size_t i = 0; i < n; i++)
			put(&o, seq[i]);
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
}
