/* Pure (built into hv and the host unit tests): the one table of what a
 * guest may consume, and the parser of the "limits=" option that changes
 * it, on hv's command line (every VM) or a module line (that VM; it wins).
 * The mechanism that applies each limit is limits_vm.c; the subsystems call
 * it where the resource is used. docs/isolation.md ("Limits") is this
 * table in prose. Adding a limit: one enum vm_limit entry in vm/vm.h, one
 * row here, one call where the resource is consumed. */
#include "lib/lib.h"
#include "vm/vm.h"

/* Rates are per second of the host's clock, per VM; a rate of 0 turns that
 * limit off. A burst is how many uses may come at once after a quiet spell
 * (a token bucket's depth). */
const struct vm_limit_def vm_limit_defs[LIMIT_COUNT] = {
    [LIMIT_MEM_MIB] = {"mem_mib", "MiB", LIMIT_CEILING, 1024, 0, 2, 1024, LIMIT_REFUSE,
                       "a larger mem= is refused: the VM does not start"},
    /* A Linux boot prints ~300 lines in its first emulated second. */
    [LIMIT_CONSOLE_LINES] = {"console_lines", "lines/s", LIMIT_RATE, 200, 1000, 0, TOKEN_BUCKET_MAX,
                             LIMIT_DROP, "lines over it are dropped and counted"},
    /* What the virtual UART keeps of one line (struct vuart's buffer). */
    [LIMIT_CONSOLE_LINE_BYTES] = {"console_line_bytes", "bytes", LIMIT_CEILING, 511, 0, 64, 511,
                                  LIMIT_SPLIT, "a longer line is cut into lines"},
    /* hv's own lines a guest's hypercalls cause (net_stats on request,
     * batching and attach messages): the log is everyone's. */
    [LIMIT_HV_LINES] = {"hv_lines", "lines/s", LIMIT_RATE, 20, 100, 0, TOKEN_BUCKET_MAX, LIMIT_DROP,
                        "the call is done but hv's line is dropped and counted"},
    /* JV_HC_EXIT is never held. */
    [LIMIT_HYPERCALLS] = {"hypercalls", "calls/s", LIMIT_RATE, 100000, 10000, 0, TOKEN_BUCKET_MAX,
                          LIMIT_HOLD, "the vCPU waits out of the CPU, then the call runs"},
    /* Frames a vNIC sends (to the switch, other VMs, the e1000 uplink). */
    [LIMIT_PACKETS] = {"packets", "frames/s", LIMIT_RATE, 100000, 1024, 0, TOKEN_BUCKET_MAX,
                       LIMIT_HOLD,
                       "frames wait in the guest's TX ring (backpressure), none is lost"},
    /* KVM's min_timer_period_us. */
    [LIMIT_TIMER_PERIOD_US] = {"timer_period_us", "us", LIMIT_FLOOR, 200, 0, 10, 100000,
                               LIMIT_RAISE, "a shorter periodic APIC timer is raised to it"},
    /* VM entries in a row that run no guest instruction (a timer due at
     * every entry). */
    [LIMIT_NO_PROGRESS] = {"no_progress_entries", "entries", LIMIT_CEILING, 100000, 0, 100,
                           10000000, LIMIT_STOP, "the VM is stopped with that reason"},
};

const char *vm_limit_action_name(enum limit_action a)
{
	static const char *const names[] = {
	    [LIMIT_HOLD] = "hold",   [LIMIT_DROP] = "drop", [LIMIT_SPLIT] = "split",
	    [LIMIT_RAISE] = "raise", [LIMIT_STOP] = "stop", [LIMIT_REFUSE] = "refuse",
	};
	return a < ARRAY_SIZE(names) ? names[a] : "?";
}

void vm_limits_defaults(struct vm_limit_setting set[LIMIT_COUNT])
{
	for (unsigned i = 0; i < LIMIT_COUNT; i++)
		set[i] = (struct vm_limit_setting){vm_limit_defs[i].value, vm_limit_defs[i].burst};
}

static int find_limit(const char *name, size_t len)
{
	for (unsigned i = 0; i < LIMIT_COUNT; i++)
		if (strlen(vm_limit_defs[i].name) == len &&
		    !strncmp(vm_limit_defs[i].name, name, len))
			return (int)i;
	return -1;
}

static void list_names(char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < LIMIT_COUNT && used < cap; i++)
		used += (size_t)fmt_snprintf(out + used, cap - used, "%s%s", i ? " " : "",
		                             vm_limit_defs[i].name);
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

/* One "name:value[/burst]" of [item, item+len). */
static int parse_item(const char *item, size_t len, struct vm_limit_setting set[LIMIT_COUNT],
                      char *err, size_t err_len)
{
	const char *colon = memchr(item, ':', len);
	size_t nlen = colon ? (size_t)(colon - item) : len;
	int id = find_limit(item, nlen);
	if (id < 0) {
		char names[200];
		list_names(names, sizeof names);
		FAIL("unknown limit '%.*s' (known: %s)", (int)nlen, item, names);
	}
	const struct vm_limit_def *d = &vm_limit_defs[id];
	const char *v = colon ? colon + 1 : item + len;
	size_t vlen = (size_t)(item + len - v);
	uint64_t value, burst = set[id].burst;
	size_t digits = parse_decimal(v, vlen, &value);
	if (!colon || !digits)
		FAIL("limit %s needs a number: %s:N%s", d->name, d->name,
		     d->kind == LIMIT_RATE ? "[/BURST]" : "");
	if (digits < vlen) {
		size_t bdigits = 0;
		if (d->kind == LIMIT_RATE && v[digits] == '/')
			bdigits = parse_decimal(v + digits + 1, vlen - digits - 1, &burst);
		if (!bdigits || digits + 1 + bdigits != vlen)
			FAIL("bad value '%.*s' for limit %s (%s:N%s)", (int)vlen, v, d->name,
			     d->name, d->kind == LIMIT_RATE ? "[/BURST]" : "");
		if (burst < 1 || burst > TOKEN_BUCKET_MAX)
			FAIL("burst %llu of limit %s out of range (1..%llu)",
			     (unsigned long long)burst, d->name, TOKEN_BUCKET_MAX);
	}
	if (value < d->min || value > d->max)
		FAIL("limit %s:%llu out of range (%llu..%llu %s%s)", d->name,
		     (unsigned long long)value, (unsigned long long)d->min,
		     (unsigned long long)d->max, d->unit, d->kind == LIMIT_RATE ? ", 0: none" : "");
	set[id].value = value;
	set[id].burst = burst;
	return 0;
}

int vm_limits_parse(const char *spec, struct vm_limit_setting set[LIMIT_COUNT], char *err,
                    size_t err_len)
{
	if (!*spec)
		FAIL("limits= is empty (limits=NAME:N[/BURST],...)");
	for (const char *p = spec;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (!len)
			FAIL("limits=%s has an empty item", spec);
		if (parse_item(p, len, set, err, err_len))
			return -1;
		if (!end)
			return 0;
		p = end + 1;
	}
}
