/* Runs at boot: hv's boot sequence, from the first C instruction to the
 * point where VMs would be started. Order matters: the console first (so
 * every later failure can be told), then exceptions, then the boot table
 * (everything else depends on the memory map), then the CPU. */
#include "boot/boot.h"
#include "console/console.h"
#include "core/core.h"
#include "dev/dev.h"
#include "lib/lib.h"
#include "migration/migration.h"
#include "mm/mm.h"
#include "power/power.h"
#include "smp/smp.h"
#include "vm/vm.h"
#include "vmx/vmx.h"
#include "x86/x86.h"

/* Boot options. inject= exists for the test suite: it provokes the failure
 * paths (a CPU exception in hv, a broken multiboot table) on a real boot so
 * that their messages and exit statuses are tested end to end. */
static const char *const inject_choices[] = {"ud",   "pf",          "gp", "badmb",
                                             "hang", "triplefault", NULL};
static const char *const onoff[] = {"on", "off", NULL};
static const char *const power_choices[] = {"auto", "model", NULL};
static const struct cmdline_option hv_options[] = {
    {"inject", inject_choices, "provoke a failure path (test suite)"},
    {"at", NULL, "at=MS:COMMAND runs a console command MS after the VMs start"},
    {"listen", NULL, "listen=S: while no VM runs here, wait S s for an incoming migration"},
    {"power", power_choices, "model: use the power model even where RAPL answers"},
    {"power_idle_mw", NULL, "power model: idle power in mW (default 50000)"},
    {"power_busy_mw", NULL, "power model: power with one busy core in mW (default 72000)"},
    {"power_sample_ms", NULL, "a power_sample event every N ms (0: none)"},
    {"vmx", onoff, "off: skip VMX even where it exists"},
    {"pci", onoff, "off: skip PCI enumeration"},
    {"linktest", NULL, "send:N[:SIZE[:WINDOW]] or recv:N[:DROP]: e1000 link test, then stop"},
    {"sched", NULL, "policy=NAME,knob=value,...: the scheduler (round-robin; slice=2ms)"},
    {"cpus", NULL, "cpus=N: bring up at most N CPUs, the boot CPU included (default: all)"},
    {"limits", NULL, "NAME:N[/BURST],...: every VM's limits (docs/isolation.md, Limits)"},
    {"linkfault", NULL,
     "drop:P,dup:P,reorder:P[,seed:S]: per mille of the migration frames sent (soak tests)"},
    {"send_back", NULL,
     "MS[:N]: a VM that arrives by migration goes back to the peer MS ms "
     "after it resumed, N times at most (soak tests)"},
    {"trace", NULL, "batch,migrate: print what the policies see (trace_* events, make sim-*)"},
};

static struct boot_info boot_info;

/* GRUB and QEMU put the kernel's own path first on a multiboot command
 * line; drop it so only options remain. */
static const char *options_of(const char *cmdline)
{
	while (*cmdline == ' ')
		cmdline++;
	const char *end = cmdline;
	bool has_eq = false, has_slash = false;
	while (*end && *end != ' ') {
		has_eq |= *end == '=';
		has_slash |= *end == '/';
		end++;
	}
	bool is_path = has_slash && !has_eq;
	if (!is_path && end - cmdline > 4 && !strncmp(end - 4, ".elf", 4))
		is_path = !has_eq;
	if (!is_path)
		return cmdline;
	while (*end == ' ')
		end++;
	return end;
}

static void parse_boot_info(uint32_t magic, uint32_t info_phys, const char **options)
{
	char err[200];
	if (boot_parse(magic, info_phys, mm_identity_map, NULL, &boot_info, err, sizeof err)) {
		kprintf("hv: bad boot information: %s\n", err);
		char esc[240];
		fmt_json_escape(esc, sizeof esc, err);
		log_event("{\"ev\":\"error\",\"what\":\"boot_info\",\"message\":\"%s\"}", esc);
		hv_stop(HV_STATUS_BAD_BOOT, "bad multiboot information");
	}
	*options = options_of(boot_info.cmdline);

	char inject[16] = "";
	cmdline_get(*options, "inject", inject, sizeof inject);
	if (!strcmp(inject, "badmb")) {
		/* Corrupt the loader's table in place, then parse it again: the
		 * same path a broken loader would take. */
		kprintf(
		    "hv: inject=badmb: corrupting the multiboot table before parsing it again\n");
		if (magic == MB2_BOOTLOADER_MAGIC)
			*(volatile uint32_t *)(uintptr_t)(info_phys + 12) =
			    0xFFFF; /* first tag's size */
		else
			*(volatile uint32_t *)(uintptr_t)info_phys &=
			    ~((1u << 6) | 1u); /* no memory info */
		parse_boot_info(magic, info_phys, options);
	}
}

/* A bad boot option stops hv with status 5 and says why, in both forms. */
__attribute__((noreturn)) static void bad_cmdline(const char *prefix, const char *err)
{
	kprintf("hv: bad command line: %s%s\n", prefix, err);
	char esc[360];
	fmt_json_escape(esc, sizeof esc, err);
	log_event("{\"ev\":\"error\",\"what\":\"cmdline\",\"message\":\"%s\"}", esc);
	hv_stop(HV_STATUS_BAD_CMDLINE, "bad command line");
}

static void check_options(const char *options)
{
	char err[300];
	if (cmdline_validate(options, hv_options, ARRAY_SIZE(hv_options), err, sizeof err))
		bad_cmdline("", err);
	char cpus[16];
	unsigned n;
	if (cmdline_get(options, "cpus", cpus, sizeof cpus) && !smp_parse_cpus(cpus, &n))
		bad_cmdline("cpus=",
		            "wants a whole number from 1 to 64 (CPUs to bring up, the boot "
		            "CPU included)");
	char sched[BOOT_CMDLINE_MAX];
	if (cmdline_get(options, "sched", sched, sizeof sched) &&
	    sched_configure(sched, err, sizeof err))
		bad_cmdline("sched=: ", err);
	char limits[BOOT_CMDLINE_MAX]; /* as long as the line: never cut */
	if (cmdline_get(options, "limits", limits, sizeof limits) &&
	    vm_limits_set_boot(limits, err, sizeof err))
		bad_cmdline("limits=: ", err);
	char value[64];
	if (cmdline_get(options, "linkfault", value, sizeof value) &&
	    !migration_set_linkfault(value, err, sizeof err))
		bad_cmdline("", err);
	if (cmdline_get(options, "send_back", value, sizeof value) &&
	    !migration_set_send_back(value, err, sizeof err))
		bad_cmdline("send_back=: ", err);
	if (console_parse_script(options, err, sizeof err))
		bad_cmdline("", err);
	char trace[64];
	if (cmdline_get(options, "trace", trace, sizeof trace) && !trace_parse(trace))
		bad_cmdline("trace=", "wants batch, migrate or batch,migrate (what to record for "
		                      "make sim-batch and make sim-migrate)");
}

struct cpu_report {
	char vendor[13];
	char brand[49];
	unsigned family, model, stepping;
	bool invariant_tsc;
	bool rapl;
	uint64_t rapl_power_unit;
	struct tsc_info tsc;
};

static void probe_cpu(struct cpu_report *r)
{
	struct cpuid_regs v = cpuid(0, 0);
	memcpy(r->vendor, &v.ebx, 4);
	memcpy(r->vendor + 4, &v.edx, 4);
	memcpy(r->vendor + 8, &v.ecx, 4);
	r->vendor[12] = '\0';
	uint32_t sig = cpuid(1, 0).eax;
	r->family = (sig >> 8) & 0xf;
	r->model = (sig >> 4) & 0xf;
	if (r->family == 6 || r->family == 15)
		r->model |= (sig >> 12) & 0xf0; /* extended model (SDM Vol. 2A CPUID) */
	if (r->family == 15)
		r->family += (sig >> 20) & 0xff;
	r->stepping = sig & 0xf;
	uint32_t max_ext = cpuid(0x80000000, 0).eax;
	r->brand[0] = '\0';
	if (max_ext >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			struct cpuid_regs b = cpuid(0x80000002 + i, 0);
			memcpy(r->brand + 16 * i, &b, 16);
		}
		r->brand[48] = '\0';
	}
	/* CPUID.80000007H:EDX[8]: TSC runs at a constant rate in all states. */
	r->invariant_tsc = max_ext >= 0x80000007 && (cpuid(0x80000007, 0).edx >> 8 & 1);
	/* RAPL answers if the unit MSR reads without #GP and gives nonzero
	 * units (emulators either fault or return zero). */
	uint64_t energy;
	r->rapl = rdmsr_safe(MSR_RAPL_POWER_UNIT, &r->rapl_power_unit) &&
	          (r->rapl_power_unit & 0x1f1f0f) != 0 &&
	          rdmsr_safe(MSR_PKG_ENERGY_STATUS, &energy);
	r->tsc = tsc_calibrate();
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

static void report_boot(const struct cpu_report *r, const struct vmx_caps *c, const char *options)
{
	uint64_t mem_mib = boot_available_bytes(&boot_info) >> 20;
	const char *firmware = boot_info.efi ? "uefi" : "bios";
	const char *brand = r->brand;
	while (*brand == ' ')
		brand++;
	kprintf("hv: booted by %s (multiboot%d, %s firmware), %llu MiB available in %u regions\n",
	        boot_info.loader_name[0] ? boot_info.loader_name : "an unnamed loader",
	        boot_info.multiboot_version, firmware, (unsigned long long)mem_mib,
	        boot_info.region_count);
	kprintf("hv: options: '%s'\n", options);
	kprintf("hv: CPU %s family %u model 0x%x stepping %u: %s\n", r->vendor, r->family, r->model,
	        r->stepping, brand);
	kprintf("hv: TSC %llu kHz (from %s), invariant TSC %s; RAPL %s\n",
	        (unsigned long long)r->tsc.khz, r->tsc.source, r->invariant_tsc ? "yes" : "no",
	        r->rapl ? "answers" : "absent (MSR 0x606 faults or reads zero)");
	if (c->vmx && c->usable)
		kprintf(
		    "hv: VT-x: VMCS revision 0x%x, EPT %s (4-level %s, WB %s, 2M %s, 1G %s, A/D "
		    "%s, "
		    "INVEPT single %s all %s), PML %s, VPID %s, preemption timer %s (rate 2^%u), "
		    "unrestricted guest %s\n",
		    c->vmcs_revision, tf(c->ept), tf(c->ept_4level), tf(c->ept_wb), tf(c->ept_2m),
		    tf(c->ept_1g), tf(c->ept_ad), tf(c->invept_single), tf(c->invept_all),
		    tf(c->pml), tf(c->vpid), tf(c->preemption_timer), c->preemption_timer_rate,
		    tf(c->unrestricted_guest));

	char esc_cmdline[BOOT_CMDLINE_MAX * 2], esc_brand[100], esc_loader[128];
	fmt_json_escape(esc_cmdline, sizeof esc_cmdline, options);
	fmt_json_escape(esc_brand, sizeof esc_brand, brand);
	fmt_json_escape(esc_loader, sizeof esc_loader, boot_info.loader_name);
	log_event("{\"ev\":\"boot\",\"version\":\"%s\",\"loader\":\"%s\",\"multiboot\":%d,"
	          "\"firmware\":\"%s\",\"mem_mib\":%llu,\"cmdline\":\"%s\",\"modules\":%u,"
	          "\"cpu\":{\"vendor\":\"%s\",\"family\":%u,\"model\":%u,\"brand\":\"%s\","
	          "\"tsc_khz\":%llu,\"tsc_source\":\"%s\",\"invariant_tsc\":%s,\"rapl\":%s,"
	          "\"vmx\":%s,\"vmx_usable\":%s,\"ept\":%s,\"ept_4level\":%s,\"ept_wb\":%s,"
	          "\"ept_2m\":%s,\"ept_1g\":%s,\"ept_ad\":%s,\"pml\":%s,\"invept\":%s,"
	          "\"invept_single\":%s,\"invept_all\":%s,\"vpid\":%s,\"invvpid\":%s,"
	          "\"preemption_timer\":%s,\"unrestricted_guest\":%s,\"vmcs_revision\":%u}}",
	          HV_VERSION, esc_loader, boot_info.multiboot_version, firmware,
	          (unsigned long long)mem_mib, esc_cmdline, boot_info.module_count, r->vendor,
	          r->family, r->model, esc_brand, (unsigned long long)r->tsc.khz, r->tsc.source,
	          tf(r->invariant_tsc), tf(r->rapl), tf(c->vmx), tf(c->usable), tf(c->ept),
	          tf(c->ept_4level), tf(c->ept_wb), tf(c->ept_2m), tf(c->ept_1g), tf(c->ept_ad),
	          tf(c->pml), tf(c->invept), tf(c->invept_single), tf(c->invept_all), tf(c->vpid),
	          tf(c->invvpid), tf(c->preemption_timer), tf(c->unrestricted_guest),
	          c->vmcs_revision);
}

static void list_pci(void)
{
	static struct pci_device devs[PCI_MAX_DEVICES];
	unsigned n = pci_enumerate(devs, PCI_MAX_DEVICES);
	kprintf("hv: PCI: %u device%s\n", n, n == 1 ? "" : "s");
	char json[900];
	size_t used = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct pci_device *d = &devs[i];
		kprintf("  pci %02x:%02x.%x %04x:%04x class %02x.%02x %s\n", d->bus, d->slot,
		        d->func, d->vendor, d->device, d->class_code, d->subclass,
		        pci_class_name(d->class_code, d->subclass));
		if (used < sizeof json)
			used +=
			    (size_t)fmt_snprintf(json + used, sizeof json - used,
			                         "%s{\"bdf\":\"%02x:%02x.%x\",\"id\":\"%04x:%04x\","
			                         "\"class\":\"%02x%02x\"}",
			                         i ? "," : "", d->bus, d->slot, d->func, d->vendor,
			                         d->device, d->class_code, d->subclass);
	}
	if (used >= sizeof json)
		json[0] = '\0', n = 0; /* too many to fit one event: the human lines have them */
	log_event("{\"ev\":\"pci\",\"count\":%u,\"devices\":[%s]}", n, json);
}

static void inject_fault(const char *what)
{
	kprintf("hv: inject=%s: provoking a failure on purpose\n", what);
	if (!strcmp(what, "ud"))
		__asm__ volatile("ud2");
	else if (!strcmp(what, "pf"))
		*(volatile uint64_t *)(uintptr_t)(64ull << 30) = 1; /* beyond the 4 GiB map */
	else if (!strcmp(what, "gp"))
		/* A non-canonical address raises #GP on every x86-64 CPU (SDM Vol.
		 * 3A 3.3.7.1); an unknown MSR would not: QEMU TCG reads it as 0. */
		*(volatile uint64_t *)(uintptr_t)0x8000000000000000ull = 1;
	else if (!strcmp(what, "hang"))
		for (log_flush();;) /* never stops: the runner must call this a failure */
			__asm__ volatile("cli; hlt");
	else if (!strcmp(what, "triplefault")) {
		/* An empty IDT turns any exception into a triple fault: the
		 * emulator ends with no result line (a crash, not a pass). */
		struct {
			uint16_t limit;
			uint64_t base;
		} __attribute__((packed)) empty = {0, 0};
		__asm__ volatile("lidt %0; ud2" ::"m"(empty));
	}
}

/* Builds a VM from every module (a bad one is refused with a reason; the
 * others still run), runs them all to the end, and stops hv: ok if every
 * VM exited with status 0. */
__attribute__((noreturn)) static void run_vms(uint64_t tsc_khz, const char *options)
{
	host_tsc_khz = tsc_khz;
	power_init(options, tsc_khz);
	if (!arch_enable())
		hv_stop(HV_STATUS_NO_VMX, "cannot run VMs on this CPU");
	unsigned refused = 0;
	for (unsigned i = 0; i < boot_info.module_count; i++) {
		char data[VM_NAME_MAX];
		if (vm_module_is_data(boot_info.modules[i].cmdline, data, sizeof data)) {
			if (!data[0]) {
				kprintf("hv: module %u: bad data= line '%s' (data=NAME, 1-%d of "
				        "a-z A-Z 0-9 - _)\n",
				        i, boot_info.modules[i].cmdline, VM_NAME_MAX - 1);
				refused++;
			}
			continue; /* a VM's initrd, not a VM */
		}
		if (!vm_create_from_module(&boot_info.modules[i], boot_info.modules,
		                           boot_info.module_count))
			refused++;
	}
	char listen[12] = "";
	bool listening = cmdline_get(options, "listen", listen, sizeof listen);
	if (listening) {
		uint64_t seconds = 0;
		for (const char *p = listen; *p >= '0' && *p <= '9'; p++)
			seconds = seconds * 10 + (uint64_t)(*p - '0');
		sched_listen(seconds > 10000000 ? 10000000 : seconds);
		kprintf("hv: listening %llu s for an incoming migration (again each time a VM "
		        "leaves)\n",
		        (unsigned long long)(seconds > 10000000 ? 10000000 : seconds));
	}
	if (vm_count == 0 && !listening)
		hv_stop(HV_STATUS_FAIL, "no VM could be started");
	sched_run();
	power_report_summary();
	if (e1000_present())
		e1000_log_stats();
	if (vm_count == 0)
		hv_stop(HV_STATUS_FAIL, "listened, but no incoming migration arrived");
	unsigned failed = refused;
	for (unsigned i = 0; i < vm_count; i++)
		failed += vms[i].exit_status != 0;
	log_event("{\"ev\":\"vms_done\",\"started\":%u,\"refused\":%u,\"failed\":%u}", vm_count,
	          refused, failed - refused);
	if (failed)
		hv_stop(HV_STATUS_FAIL, "a VM failed or was refused");
	hv_stop(HV_STATUS_OK, "all VMs exited with status 0");
}

void hv_main(uint32_t magic, uint32_t info_phys);
void hv_main(uint32_t magic, uint32_t info_phys)
{
	uart_init();
	/* hv polls its devices: mask both 8259s so no legacy IRQ arrives as an
	 * external-interrupt exit (PLATFORM.md section 6). */
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
	gdt_init();
	idt_init();
	kprintf("\nJoulevisor %s: a VT-x hypervisor for research on the energy cost of "
	        "virtualization\n",
	        HV_VERSION);

	const char *options;
	parse_boot_info(magic, info_phys, &options);
	check_options(options);
	mm_init(&boot_info);
	kprintf("hv: frame allocator: %llu free 4 KiB frames (%llu MiB)\n",
	        (unsigned long long)host_frames.free_count,
	        (unsigned long long)(host_frames.free_count >> 8));

	struct cpu_report cpu;
	struct vmx_caps vmx;
	probe_cpu(&cpu);
	vmx_probe(&vmx);
	report_boot(&cpu, &vmx, options);

	char value[16];
	if (!cmdline_get(options, "pci", value, sizeof value) || strcmp(value, "off"))
		list_pci();
	e1000_boot(options, cpu.tsc.khz); /* nothing without an 82540EM; linktest= ends here */
	if (cmdline_get(options, "inject", value, sizeof value))
		inject_fault(value);

	if (cmdline_get(options, "vmx", value, sizeof value) && !strcmp(value, "off"))
		hv_stop(HV_STATUS_OK, "boot complete (vmx=off)");
	if (!vmx.usable) {
		kprintf("hv: no VT-x here: %s. Joulevisor needs VMX with EPT: use bochs (make run "
		        "EMU=bochs) or QEMU/KVM with nested VMX (make run EMU=kvm)\n",
		        vmx.why_unusable);
		log_event("{\"ev\":\"vmx\",\"vmxon\":\"unsupported\",\"reason\":\"%s\"}",
		          vmx.vmx ? "disabled by firmware" : "no VMX in CPUID");
		hv_stop(HV_STATUS_NO_VMX, "no VT-x");
	}
	if (!vmx_selftest(&vmx))
		hv_stop(HV_STATUS_FAIL, "VMX first contact failed");
	smp_init(&boot_info, options, &vmx, (uint32_t)cpu.tsc.khz);
	if (boot_info.module_count == 0 && !cmdline_get(options, "listen", NULL, 0))
		hv_stop(HV_STATUS_OK, "boot complete, no VMs to run");
	run_vms(cpu.tsc.khz, options);
}
