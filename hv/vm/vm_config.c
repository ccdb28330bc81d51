/* Runs at boot (and on the host in unit tests): a guest module's command
 * line, "name=vm0 mem=32M -- mvb 512". Options first; the guest's own
 * arguments after "--", which may be left out (a guest ELF holds one
 * program: "name=a" runs it with no arguments). */
#include "lib/lib.h"
#include "vm/vm.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

/* "32M", "65536K", "1G" or plain bytes; false on junk or overflow. */
static bool parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t v;
	size_t i = parse_decimal(s, len, &v);
	if (i == 0)
		return false;
	unsigned shift = 0;
	if (i < len) {
		switch (s[i]) {
		case 'K':
		case 'k': shift = 10; break;
		case 'M':
		case 'm': shift = 20; break;
		case 'G':
		case 'g': shift = 30; break;
		default: return false;
		}
		if (++i != len)
			return false;
	}
	if (shift && v > (~0ull >> shift))
		return false;
	*out = v << shift;
	return true;
}

static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len >= VM_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* The name= a refused line gave, so its error names the VM the user meant:
 * the first well-formed name= among the options, else default_name. */
static void name_of_refused_line(const char *p, const char *default_name, struct vm_config *out)
{
	fmt_snprintf(out->name, sizeof out->name, "%s", default_name);
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *word = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		size_t len = (size_t)(p - word);
		if (len == 0 || (len == 2 && word[0] == '-' && word[1] == '-'))
			return;
		if (len > 5 && !strncmp(word, "name=", 5) && valid_name(word + 5, len - 5)) {
			memcpy(out->name, word + 5, len - 5);
			out->name[len - 5] = '\0';
			return;
		}
	}
}

static int parse_line(const char *line, struct vm_config *out, char *err, size_t err_len)
{
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return 0; /* no "--": the program runs with no arguments */
		const char *word = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		size_t len = (size_t)(p - word);
		if (len == 2 && word[0] == '-' && word[1] == '-')
			break;
		const char *eq = memchr(word, '=', len);
		size_t klen = eq ? (size_t)(eq - word) : len;
		const char *value = eq ? eq + 1 : "";
		size_t vlen = eq ? len - klen - 1 : 0;
		if (klen == 4 && !strncmp(word, "name", 4) && eq) {
			if (!valid_name(value, vlen))
				FAIL("bad VM name '%.*s' (1-%d of a-z A-Z 0-9 - _)", (int)vlen,
				     value, VM_NAME_MAX - 1);
			memcpy(out->name, value, vlen);
			out->name[vlen] = '\0';
		} else if (klen == 6 && !strncmp(word, "initrd", 6) && eq) {
			if (!valid_name(value, vlen))
				FAIL("bad initrd name '%.*s' (the data=NAME of another module)",
				     (int)vlen, value);
			memcpy(out->initrd, value, vlen);
			out->initrd[vlen] = '\0';
		} else if (klen == 3 && !strncmp(word, "mem", 3) && eq) {
			uint64_t bytes;
			if (!parse_size(value, vlen, &bytes))
				FAIL("bad memory size '%.*s' (e.g. mem=32M)", (int)vlen, value);
			if (bytes < VM_MEM_MIN || bytes > VM_MEM_MAX || bytes % (2u << 20))
				FAIL("memory size %.*s out of range (2M..1G, a multiple of 2M)",
				     (int)vlen, value);
			out->mem_bytes = bytes;
		} else if (klen == 6 && !strncmp(word, "limits", 6) && eq) {
			/* Checked here so a bad one refuses the VM; applied at its
			 * start (limits_vm.c). */
			struct vm_limit_setting set[LIMIT_COUNT];
			char why[160];
			vm_limits_defaults(set);
			if (vlen >= sizeof out->limits)
				FAIL("limits= is %zu bytes long; at most %zu", vlen,
				     sizeof out->limits - 1);
			memcpy(out->limits, value, vlen);
			out->limits[vlen] = '\0';
			if (vm_limits_parse(out->limits, set, why, sizeof why))
				FAIL("%s", why);
		} else {
			FAIL("unknown VM option '%.*s' (known: name= mem= initrd= limits=; the "
			     "guest's "
			     "arguments go after --)",
			     (int)len, word);
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	size_t alen = strlen(p);
	if (alen >= sizeof out->args)
		FAIL("guest arguments are %zu bytes long; at most %zu", alen, sizeof out->args - 1);
	memcpy(out->args, p, alen + 1);
	return 0;
}

bool vm_module_is_data(const char *line, char *name, size_t name_len)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (strncmp(line, "data=", 5))
		return false;
	const char *v = line + 5;
	size_t len = 0;
	while (v[len] && v[len] != ' ' && v[len] != '\t')
		len++;
	const char *rest = v + len;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (!valid_name(v, len) || *rest || len >= name_len)
		len = 0;
	memcpy(name, v, len);
	name[len] = '\0';
	return true;
}

int vm_config_parse(const char *line, const char *default_name, struct vm_config *out, char *err,
                    size_t err_len)
{
	memset(out, 0, sizeof *out);
	out->mem_bytes = VM_MEM_DEFAULT;
	fmt_snprintf(out->name, sizeof out->name, "%s", default_name);
	if (parse_line(line, out, err, err_len) == 0)
		return 0;
	name_of_refused_line(line, default_name, out);
	return -1;
}
