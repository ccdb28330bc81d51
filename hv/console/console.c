/* Runs in the scheduler loop: the command console. Commands are a table;
 * adding one is one function and one line. */
#include "console/console.h"
#include "lib/lib.h"
#include "migrate/migrate.h"
#include "migration/migration.h"
#include "mm/mm.h"
#include "net/net.h"
#include "power/power.h"
#include "vm/vm.h"
#include "x86/x86.h"

#define SCRIPT_MAX 32
#define LINE_MAX   160 /* a policy and its knobs fit */
#define COM1       0x3F8

struct command {
	const char *name;
	const char *help;
	void (*run)(const char *args);
};

static void cmd_help(const char *args);

static void cmd_vms(const char *args)
{
	(void)args;
	kprintf("%-16s %-9s %8s %10s %8s %s\n", "vm", "state", "mem MiB", "exits", "limited",
	        "args");
	for (unsigned i = 0; i < vm_count; i++) {
		const struct vm *vm = &vms[i];
		uint64_t exits = vm->exits_other;
		for (unsigned r = 0; r < VM_EXIT_REASONS; r++)
			exits += vm->exits[r];
		const char *state = vm->stopped                        ? "stopped"
		                    : vm->vcpu.state == VCPU_HALTED    ? "halted"
		                    : vm->vcpu.state == VCPU_PAUSED    ? "paused"
		                    : vm->vcpu.state == VCPU_THROTTLED ? "throttled"
		                                                       : "runnable";
		kprintf("%-16s %-9s %8llu %10llu %8llu %s\n", vm->name, state,
		        (unsigned long long)(vm->mem_size >> 20), (unsigned long long)exits,
		        (unsigned long long)vm_limits_refused_total(vm), vm->config.args);
	}
}

/* The limits table, then each VM's values and what it was refused. */
static void cmd_limits(const char *args)
{
	(void)args;
	kprintf("%-20s %-9s %-8s %10s %8s  %s\n", "limit", "unit", "action", "default", "burst",
	        "when exceeded");
	for (unsigned i = 0; i < LIMIT_COUNT; i++) {
		const struct vm_limit_def *d = &vm_limit_defs[i];
		kprintf("%-20s %-9s %-8s %10llu %8llu  %s\n", d->name, d->unit,
		        vm_limit_action_name(d->action), (unsigned long long)d->value,
		        (unsigned long long)d->burst, d->exceeded);
	}
	for (unsigned i = 0; i < vm_count; i++)
		vm_limits_report(&vms[i]);
}

static void cmd_energy(const char *args)
{
	(void)args;
	power_print_table();
	for (unsigned i = 0; i < vm_count; i++)
		power_report_vm(vms[i].id, vms[i].name);
}

static void cmd_net(const char *args)
{
	(void)args;
	for (unsigned i = 0; i < vm_count; i++)
		net_report(&vms[i]);
}

/* A running VM first: a slot whose VM left may share a name with one that
 * arrived later. */
static struct vm *vm_named(const char *name, size_t len)
{
	struct vm *stopped = NULL;
	for (unsigned i = 0; i < vm_count; i++)
		if (strlen(vms[i].name) == len && !strncmp(vms[i].name, name, len)) {
			if (!vms[i].stopped)
				return &vms[i];
			stopped = stopped ? stopped : &vms[i];
		}
	return stopped;
}

/* batch VM policy=fixed-time tbuf=1ms (in a boot script commas stand for
 * spaces: at=500:batch,vm0,policy=fixed-time,tbuf=1ms). */
static void cmd_batch(const char *args)
{
	char line[LINE_MAX];
	size_t n = 0;
	for (; args[n] && n + 1 < sizeof line; n++)
		line[n] = args[n] == ',' ? ' ' : args[n];
	line[n] = '\0';
	size_t name_len = 0;
	while (line[name_len] && line[name_len] != ' ')
		name_len++;
	struct vm *vm = vm_named(line, name_len);
	if (!vm) {
		kprintf(
		    "hv: batch: no VM named '%.*s' (usage: batch VM policy=NAME [knob=value ...]; "
		    "`policies` lists them)\n",
		    (int)name_len, line);
		return;
	}
	const char *params = line[name_len] ? line + name_len + 1 : "";
	if (net_set_batching(vm, params))
		kprintf("hv: batch: %s has no vNIC or the settings were refused\n", vm->name);
}

/* track VM [wp|ad|pml]: start logging dirty pages (default: the best the
 * CPU has); harvest VM: how many pages were written since the last
 * harvest; untrack VM. */
static struct vm *vm_arg(const char *args, const char **rest)
{
	size_t n = 0;
	while (args[n] && args[n] != ' ' && args[n] != ',')
		n++;
	*rest = args[n] ? args + n + 1 : args + n;
	struct vm *vm = vm_named(args, n);
	if (!vm)
		kprintf("hv: no VM named '%.*s'\n", (int)n, args);
	return vm;
}

static void cmd_track(const char *args)
{
	const char *rest;
	struct vm *vm = vm_arg(args, &rest);
	if (!vm)
		return;
	const struct dirty_tracker_ops *t = arch_dirty_tracker(*rest ? rest : NULL);
	if (!t) {
		kprintf("hv: track: no dirty tracker '%s' on this CPU (wp, ad, pml)\n", rest);
		return;
	}
	if (vm->dirty.tracker)
		arch_dirty_tracker(vm->dirty.tracker)->stop(vm);
	t->start(vm);
	kprintf("hv: %s: dirty logging by %s\n", vm->name,
	        vm->dirty.tracker ? t->name : "(failed)");
}

static void cmd_harvest(const char *args)
{
	const char *rest;
	struct vm *vm = vm_arg(args, &rest);
	if (!vm || !vm->dirty.tracker) {
		kprintf("hv: harvest: that VM is not tracked (track VM first)\n");
		return;
	}
	static uint64_t pfns[8192];
	const struct dirty_tracker_ops *t = arch_dirty_tracker(vm->dirty.tracker);
	uint64_t total = 0, cycles_before = vm->dirty.scan_cycles;
	size_t n;
	while ((n = t->harvest(vm, pfns, ARRAY_SIZE(pfns))) > 0) {
		total += n;
		if (n < ARRAY_SIZE(pfns))
			break;
	}
	log_event("{\"ev\":\"dirty_harvest\",\"vm\":\"%s\",\"tracker\":\"%s\",\"pages\":%llu,"
	          "\"exits\":%llu,\"scan_cycles\":%llu}",
	          vm->name, t->name, (unsigned long long)total, (unsigned long long)vm->dirty.exits,
	          (unsigned long long)(vm->dirty.scan_cycles - cycles_before));
}

static void cmd_untrack(const char *args)
{
	const char *rest;
	struct vm *vm = vm_arg(args, &rest);
	if (vm && vm->dirty.tracker)
		arch_dirty_tracker(vm->dirty.tracker)->stop(vm);
}

/* Every policy of a family with its knobs, from the policies' own tables,
 * as human lines and one machine line each (what `make policies` prints
 * from the same tables on the host). */
static void list_policy(const char *family, const char *name, const char *summary,
                        const struct knob *knobs, size_t count)
{
	kprintf("  %-6s %-12s %s\n", family, name, summary);
	char json[LINE_MAX * 4];
	size_t used = 0;
	json[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		char line[LINE_MAX], def[32];
		knob_describe(&knobs[i], line, sizeof line);
		kprintf("           %s\n", line);
		knob_format_value(&knobs[i], knobs[i].def, def, sizeof def);
		used += (size_t)fmt_snprintf(json + MIN(used, sizeof json),
		                             sizeof json - MIN(used, sizeof json), "%s\"%s=%s\"",
		                             i ? "," : "", knobs[i].name, def);
	}
	log_event("{\"ev\":\"policy\",\"family\":\"%s\",\"name\":\"%s\",\"defaults\":[%s]}", family,
	          name, json);
}

static void cmd_policies(const char *args)
{
	(void)args;
	for (size_t i = 0; i < batch_policy_count; i++) {
		const struct batch_policy *p = batch_policies[i];
		list_policy("batch", p->name, p->summary, p->knobs, p->knob_count);
	}
	for (size_t i = 0; i < migrate_policy_count; i++) {
		const struct migrate_policy *p = migrate_policies[i];
		list_policy("stop", p->name, p->summary, p->knobs, p->knob_count);
	}
	list_policy("stop", "(engine)", "the migration engine's own knobs, with any policy",
	            migrate_engine_knobs, MIGRATE_ENGINE_KNOBS);
}

/* migrate VM local|peer [TRACKER] [POLICY] [knob=value ...]: the policy
 * by name or as policy=NAME, the knobs of the policy and of the engine,
 * and the link's cut=N and payload=BYTES. */
static void cmd_migrate(const char *args)
{
	const char *rest;
	struct vm *vm = vm_arg(args, &rest);
	if (!vm)
		return;
	char words[3][24] = {"", "", ""}; /* dest, tracker, policy: the words without '=' */
	char knobs[LINE_MAX] = "";
	size_t knobs_used = 0;
	uint64_t cut = 0, payload = 0;
	for (int w = 0; *rest;) { /* w: the positional words so far */
		size_t n = 0;
		while (rest[n] && rest[n] != ' ' && rest[n] != ',')
			n++;
		const char *word = rest;
		rest += n + (rest[n] ? 1 : 0);
		if (!n)
			continue;
		const char *eq = memchr(word, '=', n);
		if (!eq) {
			if (w >= 3 || words[2][0]) {
				kprintf("hv: migrate: too many words at '%.*s': not started\n",
				        (int)n, word);
				return;
			}
			if (n >= sizeof words[w]) {
				kprintf("hv: migrate: '%.*s' is too long: not started\n", (int)n,
				        word);
				return;
			}
			fmt_snprintf(words[w], sizeof words[w], "%.*s", (int)n, word);
			if (w == 2) /* the policy by name: the same as policy=NAME */
				knobs_used += (size_t)fmt_snprintf(knobs + knobs_used,
				                                   sizeof knobs - knobs_used,
				                                   " policy=%.*s", (int)n, word);
			w++;
			continue;
		}
		/* cut=N (fault injection: the link dies after N frames each way) and
		 * payload=BYTES (the seeds compare 1500, 1000 and 32-byte packets)
		 * are the link's; every other knob=value goes to the policy and the
		 * engine, which refuse what they do not know. */
		size_t klen = (size_t)(eq - word), vlen = n - klen - 1;
		uint64_t *target = klen == 3 && !strncmp(word, "cut", 3)       ? &cut
		                   : klen == 7 && !strncmp(word, "payload", 7) ? &payload
		                                                               : NULL;
		if (target) {
			if (!vlen || parse_decimal(eq + 1, vlen, target) != vlen ||
			    *target > UINT32_MAX) {
				/* Refused whole: a migration with an option ignored is not
				 * the one that was asked for. */
				kprintf(
				    "hv: migrate: bad option '%.*s' (cut=FRAMES, payload=BYTES, "
				    "decimal): not started\n",
				    (int)n, word);
				return;
			}
			continue;
		}
		if (knobs_used + n + 2 >= sizeof knobs) {
			kprintf("hv: migrate: too many knobs at '%.*s': not started\n", (int)n,
			        word);
			return;
		}
		knobs_used += (size_t)fmt_snprintf(knobs + knobs_used, sizeof knobs - knobs_used,
		                                   " %.*s", (int)n, word);
	}
	if (!words[0][0]) {
		kprintf("hv: usage: migrate VM local|peer [wp|ad|pml] [POLICY] [knob=value ...] "
		        "(`policies` lists the policies and their knobs)\n");
		return;
	}
	migration_start(vm, words[0], words[1], knobs, cut, (unsigned)payload);
}

/* listen S: wait up to S s for incoming migrations whenever no VM runs
 * here (the same as listen=S on the boot line, from now on). */
static void cmd_listen(const char *args)
{
	uint64_t seconds = 0;
	size_t n = strlen(args);
	if (!n || parse_decimal(args, n, &seconds) != n || seconds > 10000000) {
		kprintf("hv: usage: listen SECONDS (0..10000000)\n");
		return;
	}
	sched_listen(seconds);
	kprintf("hv: listening %llu s for an incoming migration (again each time a VM leaves)\n",
	        (unsigned long long)seconds);
}

static const struct command commands[] = {
    {"listen", "listen S: while no VM runs here, wait S s for an incoming migration", cmd_listen},
    {"migrate",
     "migrate VM local|peer [TRACKER] [POLICY] [knob=value] [cut=N] [payload=B]: live-migrate",
     cmd_migrate},
    {"track", "track VM [wp|ad|pml]: log the pages it writes", cmd_track},
    {"harvest", "harvest VM: pages written since the last harvest", cmd_harvest},
    {"untrack", "untrack VM: stop logging", cmd_untrack},
    {"net", "net_stats of every vNIC", cmd_net},
    {"batch", "batch VM policy=NAME [knob=value ...]: set a vNIC's batching", cmd_batch},
    {"policies", "the batching and migration policies, their knobs and defaults", cmd_policies},
    {"help", "list the commands", cmd_help},
    {"vms", "the VMs, their state and exit counts", cmd_vms},
    {"limits", "the limits table; each VM's limits and what went over them", cmd_limits},
    {"energy", "energy per VM and account, and an energy event per VM", cmd_energy},
};

static void cmd_help(const char *args)
{
	(void)args;
	for (unsigned i = 0; i < ARRAY_SIZE(commands); i++)
		kprintf("  %-8s %s\n", commands[i].name, commands[i].help);
}

static const struct command *find(const char *line, size_t *name_len)
{
	size_t n = 0;
	while (line[n] && line[n] != ' ' && line[n] != ',')
		n++;
	*name_len = n;
	for (unsigned i = 0; i < ARRAY_SIZE(commands); i++)
		if (strlen(commands[i].name) == n && !strncmp(commands[i].name, line, n))
			return &commands[i];
	return NULL;
}

bool console_run(const char *line)
{
	while (*line == ' ')
		line++;
	if (!*line)
		return true;
	size_t n;
	const struct command *c = find(line, &n);
	if (!c) {
		kprintf("hv: unknown command '%.*s' (try help)\n", (int)n, line);
		return false;
	}
	char esc[LINE_MAX * 2];
	fmt_json_escape(esc, sizeof esc, line);
	log_event("{\"ev\":\"command\",\"line\":\"%s\"}", esc);
	c->run(line + n + (line[n] ? 1 : 0));
	return true;
}

/* ---- the boot script ---- */
static struct {
	uint64_t at_ms;
	char line[LINE_MAX];
	bool done;
} script[SCRIPT_MAX];
static unsigned script_count;
static uint64_t start_tsc, khz;

int console_parse_script(const char *options, char *err, size_t err_len)
{
	const char *p = options;
	script_count = 0;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *word = p;
		while (*p && *p != ' ')
			p++;
		size_t len = (size_t)(p - word);
		if (len < 3 || strncmp(word, "at=", 3))
			continue;
		const char *q = word + 3, *end = word + len;
		uint64_t ms = 0;
		const char *digits = q;
		while (q < end && *q >= '0' && *q <= '9' && ms < 100000000)
			ms = ms * 10 + (uint64_t)(*q++ - '0');
		if (q == digits || q == end || *q != ':') {
			fmt_snprintf(err, err_len,
			             "bad script entry '%.*s' (expected at=MS:COMMAND)", (int)len,
			             word);
			return -1;
		}
		q++;
		size_t cmd_len = (size_t)(end - q), name_len;
		if (cmd_len == 0 || cmd_len >= LINE_MAX) {
			fmt_snprintf(err, err_len, "bad command in '%.*s'", (int)len, word);
			return -1;
		}
		char line[LINE_MAX];
		memcpy(line, q, cmd_len);
		line[cmd_len] = '\0';
		if (!find(line, &name_len)) {
			fmt_snprintf(err, err_len, "unknown command in '%.*s' (try help)", (int)len,
			             word);
			return -1;
		}
		if (script_count == SCRIPT_MAX) {
			fmt_snprintf(err, err_len, "more than %d at= entries", SCRIPT_MAX);
			return -1;
		}
		script[script_count].at_ms = ms;
		memcpy(script[script_count].line, line, cmd_len + 1);
		script[script_count].done = false;
		script_count++;
	}
	return 0;
}

void console_start(uint64_t tsc_khz)
{
	khz = tsc_khz ? tsc_khz : 1;
	start_tsc = rdtsc();
}

static char typed[LINE_MAX];
static unsigned typed_len;

void console_poll(void)
{
	uint64_t now_ms = (rdtsc() - start_tsc) / khz;
	for (unsigned i = 0; i < script_count; i++) {
		if (!script[i].done && now_ms >= script[i].at_ms) {
			script[i].done = true;
			kprintf("hv: script at %llu ms: %s\n", (unsigned long long)script[i].at_ms,
			        script[i].line);
			console_run(script[i].line);
		}
	}
	/* Serial input: LSR bit 0 says a byte is waiting (16550). */
	for (int budget = 0; budget < 64 && (inb(COM1 + 5) & 1); budget++) {
		char c = (char)inb(COM1);
		if (c == '\r' || c == '\n') {
			typed[typed_len] = '\0';
			typed_len = 0;
			console_run(typed);
		} else if (typed_len + 1 < LINE_MAX && c >= 0x20 && c < 0x7f) {
			typed[typed_len++] = c;
		}
	}
}
