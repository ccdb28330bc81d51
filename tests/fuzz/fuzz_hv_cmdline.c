/* libFuzzer target: hv's own boot options (hv/lib/cmdline.c as hv uses it).
 * The input is the option string after the kernel path, up to its first
 * NUL and no longer than boot_parse lets through. It goes where hv sends it
 * (core/main.c, power/power.c, dev/e1000.c): cmdline_validate against hv's
 * option table, the refusal escaped into a JSON event, then cmdline_get of
 * each option into a buffer of the size its reader uses, and parse_decimal
 * of the numbers. Those readers are not host-buildable, so the table and
 * the sizes are copied here; keep them in step with core/main.c. */
#include "boot/boot.h"
#include "fuzz_common.h"
#include "lib/lib.h"
#include "vm/vm.h"

static const char *const inject_choices[] = {"ud",   "pf",          "gp", "badmb",
                                             "hang", "triplefault", NULL};
static const char *const onoff[] = {"on", "off", NULL};
static const char *const power_choices[] = {"auto", "model", NULL};
static const struct cmdline_option hv_options[] = {
    {"inject", inject_choices, "provoke a failure path (test suite)"},
    {"at", NULL, "at=MS:COMMAND runs a console command MS after the VMs start"},
    {"listen", NULL, "listen=S: with no VM of its own, wait S s for an incoming migration"},
    {"power", power_choices, "model: use the power model even where RAPL answers"},
    {"power_idle_mw", NULL, "power model: idle power in mW (default 50000)"},
    {"power_busy_mw", NULL, "power model: power with one busy core in mW (default 72000)"},
    {"power_sample_ms", NULL, "a power_sample event every N ms (0: none)"},
    {"vmx", onoff, "off: skip VMX even where it exists"},
    {"pci", onoff, "off: skip PCI enumeration"},
    {"linktest", NULL, "send:N[:SIZE[:WINDOW]] or recv:N[:DROP]: e1000 link test, then stop"},
    {"limits", NULL, "NAME:N[/BURST],...: every VM's limits (docs/isolation.md, Limits)"},
};

/* The buffer each reader of an option gives cmdline_get. */
static size_t reader_size(const char *key)
{
	if (!strcmp(key, "listen"))
		return 12; /* core/main.c */
	if (!strcmp(key, "power"))
		return 8; /* power/power.c */
	if (!strcmp(key, "linktest"))
		return 48; /* dev/e1000.c */
	if (!strcmp(key, "limits"))
		return BOOT_CMDLINE_MAX; /* core/main.c */
	return 16;
}

static bool in_choices(const char *value, const char *const *choices)
{
	for (; *choices; choices++)
		if (!strcmp(value, *choices))
			return true;
	return false;
}

/* parse_decimal against a slow reference: the count, the value, the
 * refusal of numbers past 2^64 - 1. */
static void check_parse_decimal(const char *s, size_t len)
{
	uint64_t v = 0xDEADBEEF, ref = 0;
	size_t n = parse_decimal(s, len, &v);
	size_t digits = 0;
	bool overflow = false;
	while (digits < len && s[digits] >= '0' && s[digits] <= '9') {
		unsigned d = (unsigned)(s[digits] - '0');
		if (ref > (UINT64_MAX - d) / 10)
			overflow = true;
		ref = ref * 10 + d;
		digits++;
	}
	if (overflow) {
		FUZZ_ASSERT(n == 0);
	} else {
		FUZZ_ASSERT(n == digits);
		FUZZ_ASSERT(v == ref);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= BOOT_CMDLINE_MAX)
		size = BOOT_CMDLINE_MAX - 1; /* boot_parse refuses a longer one */
	char *options = fuzz_cstring(data, size);

	/* The escaped command line of the boot event. */
	char esc_cmdline[BOOT_CMDLINE_MAX * 2];
	fmt_json_escape(esc_cmdline, sizeof esc_cmdline, options);
	FUZZ_ASSERT(fuzz_json_string_ok(esc_cmdline));

	/* inject= is read before the options are checked (badmb). */
	char inject[16] = "";
	cmdline_get(options, "inject", inject, sizeof inject);
	FUZZ_ASSERT(fuzz_terminated(inject, sizeof inject));

	char err[300], esc[360]; /* core/main.c's check_options */
	int rc = cmdline_validate(options, hv_options, ARRAY_SIZE(hv_options), err, sizeof err);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc) {
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
		fmt_json_escape(esc, sizeof esc, err);
		FUZZ_ASSERT(fuzz_json_string_ok(esc));
	}

	for (size_t i = 0; i < ARRAY_SIZE(hv_options); i++) {
		const struct cmdline_option *opt = &hv_options[i];
		size_t cap = reader_size(opt->key);
		char *value = malloc(cap); /* exact size: ASan sees an overrun */
		if (!value)
			abort();
		bool found = cmdline_get(options, opt->key, value, cap);
		FUZZ_ASSERT(found == cmdline_get(options, opt->key, NULL, 0));
		if (!found) {
			free(value);
			continue;
		}
		FUZZ_ASSERT(fuzz_terminated(value, cap));
		/* A line that passed the check holds only allowed values: the
		 * last one, which cmdline_get returns, among them. */
		if (rc == 0 && opt->choices)
			FUZZ_ASSERT(in_choices(value, opt->choices));
		check_parse_decimal(value, strlen(value));
		if (!strcmp(opt->key, "limits")) { /* vm/limits.c, as check_options */
			struct vm_limit_setting set[LIMIT_COUNT];
			char why[160];
			vm_limits_defaults(set);
			if (vm_limits_parse(value, set, why, sizeof why)) {
				FUZZ_ASSERT(fuzz_terminated(why, sizeof why) && why[0]);
			} else {
				for (unsigned l = 0; l < LIMIT_COUNT; l++)
					FUZZ_ASSERT(set[l].value >= vm_limit_defs[l].min &&
					            set[l].value <= vm_limit_defs[l].max &&
					            set[l].burst <= TOKEN_BUCKET_MAX);
			}
		}
		free(value);
	}

	/* Any length of output buffer, the key being the input's first word. */
	size_t cap = size ? 1 + data[0] % 24 : 1;
	char *out = malloc(cap);
	if (!out)
		abort();
	const char *space = strchr(options, ' ');
	size_t klen = space ? (size_t)(space - options) : strlen(options);
	char key[32];
	fmt_snprintf(key, sizeof key, "%.*s", (int)MIN(klen, sizeof key - 1), options);
	char *eq = strchr(key, '=');
	if (eq)
		*eq = '\0';
	if (cmdline_get(options, key, out, cap))
		FUZZ_ASSERT(fuzz_terminated(out, cap));
	free(out);

	check_parse_decimal(options, strlen(options));
	free(options);
	return 0;
}
