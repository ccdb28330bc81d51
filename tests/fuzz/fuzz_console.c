/* libFuzzer target: hv's command console (hv/console/console.c): the
 * at= boot script's parser and every command line, as typed on COM1 or
 * scheduled from the boot command line. console.c is built as it is for
 * hv; what it calls in the rest of hv (the VM table, the migration layer,
 * the vNICs, the power report, the printers) is stubbed here, and the
 * stubs check what the console hands them.
 *
 * Input: byte 0, bits 1:0, is how many VMs exist (1-4: vm0, vm1, lx,
 * a second "vm0" that has stopped); the rest is the boot options for
 * console_parse_script (up to the first NUL), then command lines, one per
 * '\n', each given to console_run (the first 8).
 *
 * Asserted besides the sanitizers: console_parse_script's error is
 * terminated printable text; every event console.c logs is one valid JSON
 * object, whatever the line held (a line cannot forge an event); no
 * printed line starts a machine line ("@ "); migration_start and
 * net_set_batching get terminated strings within the console's buffers,
 * a VM from the table that is running if one of that name runs, and
 * options in range; listen's seconds are within its stated bound. */
#include <stdarg.h>

#include "console/console.h"
#include "fuzz_common.h"
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "net/net.h"
#include "power/power.h"
#include "vm/vm.h"

struct vm vms[VM_MAX];
unsigned vm_count;

/* ---- a small JSON checker: one value, the whole text ---- */
static const char *json_value(const char *s, int depth);

static const char *json_ws(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

static const char *json_string(const char *s)
{
	if (*s != '"')
		return NULL;
	const char *end = s + 1;
	while (*end && *end != '"') {
		if ((unsigned char)*end < 0x20)
			return NULL;
		end += *end == '\\' && end[1] ? 2 : 1;
	}
	if (*end != '"')
		return NULL;
	char inner[2048];
	size_t n = (size_t)(end - s - 1);
	if (n >= sizeof inner)
		return NULL;
	memcpy(inner, s + 1, n);
	inner[n] = '\0';
	return fuzz_json_string_ok(inner) ? end + 1 : NULL;
}

static const char *json_value(const char *s, int depth)
{
	s = json_ws(s);
	if (depth > 8)
		return NULL;
	if (*s == '"')
		return json_string(s);
	if (*s == '-' || (*s >= '0' && *s <= '9')) {
		s += *s == '-';
		if (!(*s >= '0' && *s <= '9'))
			return NULL;
		while ((*s >= '0' && *s <= '9') || *s == '.')
			s++;
		return s;
	}
	if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	char close = *s == '{' ? '}' : *s == '[' ? ']' : 0;
	if (!close)
		return NULL;
	s = json_ws(s + 1);
	if (*s == close)
		return s + 1;
	for (;;) {
		if (close == '}') {
			s = json_string(json_ws(s));
			if (!s || *(s = json_ws(s)) != ':')
				return NULL;
			s++;
		}
		s = json_value(s, depth + 1);
		if (!s)
			return NULL;
		s = json_ws(s);
		if (*s == close)
			return s + 1;
		if (*s != ',')
			return NULL;
		s++;
	}
}

/* ---- what console.c calls in the rest of hv ---- */

void kprintf(const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	FUZZ_ASSERT(fuzz_terminated(text, sizeof text));
	FUZZ_ASSERT(strncmp(text, "@ ", 2) != 0);
}

void log_event(const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = fmt_vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	FUZZ_ASSERT(n >= 0 && (size_t)n < sizeof text);
	FUZZ_ASSERT(text[0] == '{');
	const char *end = json_value(text, 0);
	if (!end || *end)
		fprintf(stderr, "not one JSON object: %s\n", text);
	FUZZ_ASSERT(end && *end == '\0');
}

static void check_vm(const struct vm *vm)
{
	FUZZ_ASSERT(vm >= vms && vm < vms + vm_count);
}

/* A VM a command named: a stopped one only where none of its name runs. */
static void check_named_vm(const struct vm *vm)
{
	check_vm(vm);
	if (vm->stopped)
		for (unsigned i = 0; i < vm_count; i++)
			FUZZ_ASSERT(vms[i].stopped || strcmp(vms[i].name, vm->name));
}

bool migration_start(struct vm *vm, const char *dest, const char *tracker, const char *knobs,
                     uint64_t cut_after_frames, unsigned payload_size)
{
	check_named_vm(vm);
	FUZZ_ASSERT(dest && tracker && knobs);
	FUZZ_ASSERT(strlen(dest) < 24 && strlen(tracker) < 24 && strlen(knobs) < 160);
	FUZZ_ASSERT(cut_after_frames <= UINT32_MAX);
	(void)payload_size;
	/* What migration_start does first with the knobs (pure). */
	const struct migrate_policy *policy;
	struct migrate_params p = {.state_bytes = 8192};
	char err[200];
	if (migrate_params_parse(knobs, &policy, &p, err, sizeof err))
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
	return true;
}

int64_t net_set_batching(struct vm *vm, const char *text)
{
	check_named_vm(vm);
	FUZZ_ASSERT(strlen(text) < 160);
	struct batch_params p;
	char err[160];
	return batch_params_parse(text, &p, err, sizeof err);
}

void sched_listen(uint64_t seconds)
{
	FUZZ_ASSERT(seconds <= 10000000);
}

static void fake_start(void *ctx)
{
	((struct vm *)ctx)->dirty.tracker = "wp";
}
static void fake_stop(void *ctx)
{
	((struct vm *)ctx)->dirty.tracker = NULL;
}
static size_t fake_harvest(void *ctx, uint64_t *pfns, size_t max)
{
	(void)ctx;
	FUZZ_ASSERT(max > 0);
	pfns[0] = 1;
	return 1;
}
static const struct dirty_tracker_ops fake_tracker = {
    .name = "wp", .start = fake_start, .harvest = fake_harvest, .stop = fake_stop};

const struct dirty_tracker_ops *arch_dirty_tracker(const char *name)
{
	if (!name || !strcmp(name, "wp") || !strcmp(name, "ad") || !strcmp(name, "pml"))
		return &fake_tracker;
	return NULL;
}

uint64_t vm_limits_refused_total(const struct vm *vm)
{
	check_vm(vm);
	return 0;
}
void vm_limits_report(const struct vm *vm)
{
	check_vm(vm);
}
void power_print_table(void) {}
void power_report_vm(unsigned vm_id, const char *vm_name)
{
	FUZZ_ASSERT(vm_id < vm_count && vm_name);
}
void net_report(struct vm *vm)
{
	check_vm(vm);
}

static void make_vms(unsigned count)
{
	static const char *const names[] = {"vm0", "vm1", "lx", "vm0"};
	memset(vms, 0, sizeof vms);
	vm_count = count;
	for (unsigned i = 0; i < count; i++) {
		vms[i].id = i;
		fmt_snprintf(vms[i].name, sizeof vms[i].name, "%s", names[i]);
		fmt_snprintf(vms[i].config.args, sizeof vms[i].config.args, "dirty --ws %u", i);
	}
	if (count == 4) { /* the first vm0 left: the one that arrived runs */
		vms[0].stopped = true;
		vms[0].vacated = true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	make_vms(1 + (data[0] & 3));
	char *text = fuzz_cstring(data + 1, size - 1); /* NUL-terminated copy */
	size_t opts_len = strlen(text);
	char err[200];
	memset(err, 0x55, sizeof err);
	if (console_parse_script(text, err, sizeof err)) {
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
	}
	/* After the options' NUL: command lines. */
	const uint8_t *p = data + 1 + opts_len + 1, *end = data + size;
	/* At most 8 lines an input: `policies` alone prints dozens of lines,
	 * and a few commands per run reach every path (and keep the fuzzer
	 * fast enough for its 10 million runs). */
	for (unsigned lines = 0; p < end && lines < 8; lines++) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[512];
		n = MIN(n, sizeof line - 1);
		memcpy(line, p, n);
		line[n] = '\0';
		console_run(line);
		p = nl ? nl + 1 : end; /* a line longer than 511 bytes is cut */
	}
	free(text);
	return 0;
}
