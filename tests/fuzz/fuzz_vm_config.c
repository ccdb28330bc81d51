/* libFuzzer target: a module's command line (hv/vm/vm_config.c), as
 * core/main.c and vm.c take it: first vm_module_is_data ("data=NAME", a
 * Linux initrd), then for a VM's line vm_config_parse ("name=vm0 mem=32M
 * initrd=NAME -- mvb 512"). The input is the line, up to its first NUL, no
 * longer than a line hv passes on (vm.c refuses a longer one before
 * parsing). What hv then does with the result (names, sizes, the
 * arguments escaped into a JSON event) must be safe. */
#include "boot/boot.h"
#include "fuzz_common.h"
#include "lib/lib.h"
#include "vm/vm.h"

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= VM_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= BOOT_MODULE_CMDLINE_MAX)
		size = BOOT_MODULE_CMDLINE_MAX - 1;
	char *line = fuzz_cstring(data, size);

	/* A data module: its name is one a VM can name, or "" (refused). Any
	 * buffer size from 1 byte: an exact-size one, for ASan. */
	size_t name_cap = 1 + (size > 1 ? data[1] % (VM_NAME_MAX + 4) : VM_NAME_MAX);
	char *data_name = malloc(name_cap);
	if (!data_name)
		abort();
	const char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	bool is_data = vm_module_is_data(line, data_name, name_cap);
	FUZZ_ASSERT(is_data == !strncmp(p, "data=", 5));
	if (is_data) {
		FUZZ_ASSERT(fuzz_terminated(data_name, name_cap));
		FUZZ_ASSERT(!data_name[0] || valid_name(data_name));
	}
	free(data_name);
	char main_data[VM_NAME_MAX]; /* core/main.c's size */
	if (vm_module_is_data(line, main_data, sizeof main_data)) {
		FUZZ_ASSERT(fuzz_terminated(main_data, sizeof main_data));
		free(line);
		return 0; /* hv makes no VM of it */
	}

	struct vm_config c;
	char err[200];              /* vm.c's size */
	memset(&c, 0xA5, sizeof c); /* the parser must set every field it reports */
	int rc = vm_config_parse(line, "vm7", &c, err, sizeof err);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	/* Refused or not, the name is one hv can print and compare. */
	FUZZ_ASSERT(fuzz_terminated(c.name, sizeof c.name));
	FUZZ_ASSERT(!strcmp(c.name, "vm7") || valid_name(c.name));
	if (rc == 0) {
		FUZZ_ASSERT(c.mem_bytes >= VM_MEM_MIN && c.mem_bytes <= VM_MEM_MAX);
		FUZZ_ASSERT(c.mem_bytes % (2u << 20) == 0);
		FUZZ_ASSERT(fuzz_terminated(c.args, sizeof c.args));
		FUZZ_ASSERT(fuzz_terminated(c.initrd, sizeof c.initrd));
		FUZZ_ASSERT(!c.initrd[0] || valid_name(c.initrd));
		/* The arguments are the line's tail, unchanged. */
		FUZZ_ASSERT(strstr(line, c.args) != NULL);
		static char args[2 * VM_ARGS_MAX]; /* vm.c's vm_start event */
		fmt_json_escape(args, sizeof args, c.args);
		FUZZ_ASSERT(fuzz_json_string_ok(args));
	} else {
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
		char esc[300]; /* vm.c's report_error */
		fmt_json_escape(esc, sizeof esc, err);
		FUZZ_ASSERT(fuzz_json_string_ok(esc));
	}
	/* A short error buffer gets a cut, terminated reason, nothing more. */
	size_t small = 1 + (size ? data[0] % 32 : 0);
	char *short_err = malloc(small);
	if (!short_err)
		abort();
	FUZZ_ASSERT(vm_config_parse(line, "vm7", &c, short_err, small) == rc);
	if (rc)
		FUZZ_ASSERT(fuzz_terminated(short_err, small));
	free(short_err);
	free(line);
	return 0;
}
