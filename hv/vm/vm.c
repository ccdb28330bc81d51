/* Runs at boot (VM creation) and in VM-exit context (stop, reports): a VM
 * from a multiboot module: its config line, memory from the host frame
 * allocator (nothing shared with hv or other VMs), the guest ELF, the PVH
 * start info, and the vCPU. */
#include "vm/vm.h"
#include "boot/boot.h"
#include "joulevisor/pvh.h"
#include "lib/lib.h"
#include "mm/mm.h"
#include "net/net.h"
#include "power/power.h"
#include "x86/x86.h"

struct vm vms[VM_MAX];
unsigned vm_count;
uint64_t host_tsc_khz;

static void report_error(const char *vm_name, const char *what, const char *err)
{
	char esc[300];
	fmt_json_escape(esc, sizeof esc, err);
	kprintf("hv: %s: %s: %s\n", vm_name, what, err);
	log_event("{\"ev\":\"vm_error\",\"vm\":\"%s\",\"what\":\"%s\",\"message\":\"%s\"}", vm_name,
	          what, esc);
}

void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return (void *)(uintptr_t)(vm->mem_hpa + gpa);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* The MP table (MultiProcessor Specification 1.4, 4.1 and 4.3): one
 * processor entry (the BSP, APIC ID 0) and an ISA bus, no I/O APIC. Linux
 * needs it (or an ACPI MADT) to start its local APIC timer; its floating
 * pointer says PIC mode off, so legacy IRQs come as ExtINT through LVT0
 * (virtual-wire mode). */
static void write_mp_table(struct vm *vm)
{
	uint8_t *fp = vm_gpa_to_host(vm, VM_MP_FLOATING_GPA, 16);
	uint8_t *ct = vm_gpa_to_host(vm, VM_MP_CONFIG_GPA, 44 + 20 + 8);
	memset(fp, 0, 16);
	memcpy(fp, "_MP_", 4);
	uint32_t config = VM_MP_CONFIG_GPA;
	memcpy(fp + 4, &config, 4);
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = 4; /* spec revision 1.4 */
	fp[10] = checksum(fp, 16);
	uint16_t length = 44 + 20 + 8;
	memset(ct, 0, length);
	memcpy(ct, "PCMP", 4);
	memcpy(ct + 4, &length, 2);
	ct[6] = 4;
	memcpy(ct + 8, "JOULEVIS", 8);
	memcpy(ct + 16, "HV          ", 12);
	uint16_t entries = 2;
	memcpy(ct + 34, &entries, 2);
	uint32_t lapic = 0xFEE00000u;
	memcpy(ct + 36, &lapic, 4);
	uint8_t *cpu = ct + 44; /* processor entry (type 0) */
	struct cpuid_regs id = cpuid(1, 0);
	cpu[0] = 0;
	cpu[1] = 0;    /* local APIC ID */
	cpu[2] = 0x14; /* its version */
	cpu[3] = 3;    /* enabled, bootstrap processor */
	memcpy(cpu + 4, &id.eax, 4);
	memcpy(cpu + 8, &id.edx, 4);
	uint8_t *bus = cpu + 20; /* bus entry (type 1) */
	bus[0] = 1;
	bus[1] = 0;
	memcpy(bus + 2, "ISA   ", 6);
	ct[7] = checksum(ct, length);
}

/* Writes the PVH start info, the guest's command line and its memory map
 * into the boot area (Xen docs/misc/pvh.pandoc), and the MP table. */
static void write_start_info(struct vm *vm, uint64_t initrd_gpa, uint64_t initrd_size)
{
	struct hvm_start_info *si = vm_gpa_to_host(vm, VM_START_INFO_GPA, sizeof *si);
	char *cmdline = vm_gpa_to_host(vm, VM_CMDLINE_GPA, VM_ARGS_MAX);
	struct hvm_memmap_table_entry *map = vm_gpa_to_host(vm, VM_MEMMAP_GPA, 2 * sizeof *map);
	memcpy(cmdline, vm->config.args, strlen(vm->config.args) + 1);
	/* The boot area is reserved so the guest does not reuse it before it has
	 * read its start info; RAM is everything after it. */
	map[0] =
	    (struct hvm_memmap_table_entry){0, VM_BOOT_AREA_END, XEN_HVM_MEMMAP_TYPE_RESERVED, 0};
	map[1] = (struct hvm_memmap_table_entry){VM_BOOT_AREA_END, vm->mem_size - VM_BOOT_AREA_END,
	                                         XEN_HVM_MEMMAP_TYPE_RAM, 0};
	*si = (struct hvm_start_info){
	    .magic = XEN_HVM_START_MAGIC_VALUE,
	    .version = 1,
	    .cmdline_paddr = VM_CMDLINE_GPA,
	    .memmap_paddr = VM_MEMMAP_GPA,
	    .memmap_entries = 2,
	};
	if (initrd_size) {
		struct hvm_modlist_entry *mod =
		    vm_gpa_to_host(vm, VM_MODLIST_GPA, sizeof(struct hvm_modlist_entry));
		*mod = (struct hvm_modlist_entry){initrd_gpa, initrd_size, 0, 0};
		si->nr_modules = 1;
		si->modlist_paddr = VM_MODLIST_GPA;
	}
	write_mp_table(vm);
}

/* The data module a VM's initrd= names, or NULL. */
static const struct boot_module *find_data_module(const char *name, const struct boot_module *mods,
                                                  unsigned count)
{
	char data[VM_NAME_MAX];
	for (unsigned i = 0; i < count; i++)
		if (vm_module_is_data(mods[i].cmdline, data, sizeof data) && data[0] &&
		    !strcmp(data, name))
			return &mods[i];
	return NULL;
}

/* The Multiboot 1 information structure (Multiboot 0.6.96 section 3.3) for
 * a guest booted by that protocol: memory (both forms), the command line
 * ("/NAME.elf" in front, as GRUB and QEMU put the kernel's path), the
 * initrd as module 0, a loader name. */
#define VM_MB1_INFO_GPA   0x5000u
#define VM_MB1_MMAP_GPA   0x5100u
#define VM_MB1_MODS_GPA   0x5200u
#define VM_MB1_LOADER_GPA 0x5300u
static void write_multiboot1_info(struct vm *vm, uint64_t initrd_gpa, uint64_t initrd_size)
{
	uint32_t *info = vm_gpa_to_host(vm, VM_MB1_INFO_GPA, 0x100);
	uint8_t *mmap = vm_gpa_to_host(vm, VM_MB1_MMAP_GPA, 48);
	uint32_t *mods = vm_gpa_to_host(vm, VM_MB1_MODS_GPA, 16);
	char *loader = vm_gpa_to_host(vm, VM_MB1_LOADER_GPA, 16);
	char *cmdline = vm_gpa_to_host(vm, VM_CMDLINE_GPA, VM_ARGS_MAX + VM_NAME_MAX + 8);
	fmt_snprintf(cmdline, VM_ARGS_MAX + VM_NAME_MAX + 8, "/%s.elf%s%s", vm->name,
	             vm->config.args[0] ? " " : "", vm->config.args);
	memcpy(loader, "Joulevisor", 11);
	struct {
		uint32_t size;
		uint64_t base, length;
		uint32_t type;
	} __attribute__((packed)) map[2] = {
	    {20, 0, VM_BOOT_AREA_END, 2},
	    {20, VM_BOOT_AREA_END, vm->mem_size - VM_BOOT_AREA_END, 1},
	};
	memcpy(mmap, map, sizeof map);
	memset(info, 0, 0x100);
	info[0] = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9); /* flags */
	info[1] = 0;                                                         /* mem_lower, KiB */
	info[2] = (uint32_t)((vm->mem_size - (1u << 20)) >> 10);             /* mem_upper */
	info[4] = VM_CMDLINE_GPA;
	info[5] = initrd_size ? 1 : 0;
	info[6] = VM_MB1_MODS_GPA;
	info[11] = sizeof map; /* mmap_length */
	info[12] = VM_MB1_MMAP_GPA;
	info[16] = VM_MB1_LOADER_GPA;
	if (initrd_size) {
		mods[0] = (uint32_t)initrd_gpa;
		mods[1] = (uint32_t)(initrd_gpa + initrd_size);
		mods[2] = VM_MB1_LOADER_GPA + 10; /* "": the module's string */
		mods[3] = 0;
	}
}

struct vm *vm_create_from_module(const struct boot_module *mod, const struct boot_module *all,
                                 unsigned all_count)
{
	char err[200], default_name[VM_NAME_MAX];
	fmt_snprintf(default_name, sizeof default_name, "vm%u", vm_count);
	if (vm_count == VM_MAX) {
		report_error(default_name, "not started", "too many VMs (at most 8)");
		return NULL;
	}
	struct vm *vm = &vms[vm_count];
	memset(vm, 0, sizeof *vm);
	vm->id = vm_count;
	if (mod->cmdline_len >= sizeof mod->cmdline) {
		fmt_snprintf(err, sizeof err, "the module line is %zu bytes long; at most %zu",
		             mod->cmdline_len, sizeof mod->cmdline - 1);
		report_error(default_name, "bad module command line", err);
		return NULL;
	}
	if (vm_config_parse(mod->cmdline, default_name, &vm->config, err, sizeof err)) {
		report_error(vm->config.name, "bad module command line", err);
		return NULL;
	}
	memcpy(vm->name, vm->config.name, sizeof vm->name);
	vm_limits_init(vm);
	if (vm->config.mem_bytes > vm_limit(vm, LIMIT_MEM_MIB) << 20) {
		fmt_snprintf(err, sizeof err, "mem=%llu MiB is over its mem_mib limit (%llu MiB)",
		             (unsigned long long)(vm->config.mem_bytes >> 20),
		             (unsigned long long)vm_limit(vm, LIMIT_MEM_MIB));
		report_error(vm->name, "not started", err);
		return NULL;
	}
	for (unsigned i = 0; i < vm_count; i++)
		if (!strcmp(vms[i].name, vm->name)) {
			report_error(vm->name, "not started", "another VM already has this name");
			return NULL;
		}
	const uint8_t *image = (const uint8_t *)(uintptr_t)mod->start;
	size_t image_size = (size_t)(mod->end - mod->start);
	struct elf_image_info elf;
	/* Validate before taking memory: a bad image costs nothing. */
	if (elf_load_guest(image, image_size, NULL, vm->config.mem_bytes, &elf, err, sizeof err)) {
		report_error(vm->name, "bad guest image", err);
		return NULL;
	}
	/* A Linux initrd goes at the top of guest memory, clear of the image. */
	const struct boot_module *initrd = NULL;
	uint64_t initrd_size = 0, initrd_gpa = 0;
	if (vm->config.initrd[0]) {
		initrd = find_data_module(vm->config.initrd, all, all_count);
		if (!initrd) {
			fmt_snprintf(err, sizeof err, "no module has data=%s (its initrd)",
			             vm->config.initrd);
			report_error(vm->name, "not started", err);
			return NULL;
		}
		initrd_size = initrd->end - initrd->start;
		initrd_gpa = (vm->config.mem_bytes - initrd_size) & ~0xFFFull;
		if (initrd_size >= vm->config.mem_bytes || initrd_gpa < elf.load_end) {
			fmt_snprintf(
			    err, sizeof err,
			    "mem=%llu MiB holds the image (to %llu MiB) but not its %llu KiB "
			    "initrd too",
			    (unsigned long long)(vm->config.mem_bytes >> 20),
			    (unsigned long long)(elf.load_end >> 20),
			    (unsigned long long)(initrd_size >> 10));
			report_error(vm->name, "not started", err);
			return NULL;
		}
	}
	vm->mem_size = vm->config.mem_bytes;
	vm->mem_hpa = frames_alloc_contig(&host_frames, vm->mem_size / PAGE_SIZE, 512);
	if (!vm->mem_hpa) {
		fmt_snprintf(err, sizeof err,
		             "cannot allocate %llu MiB of guest memory (%llu MiB free)",
		             (unsigned long long)(vm->mem_size >> 20),
		             (unsigned long long)(host_frames.free_count >> 8));
		report_error(vm->name, "not started", err);
		return NULL;
	}
	uint8_t *guest_mem = (uint8_t *)(uintptr_t)vm->mem_hpa;
	/* Building the VM is work done for it. */
	power_switch_to(ACCOUNT_HV(vm->id));
	memset(guest_mem, 0, vm->mem_size);
	elf_load_guest(image, image_size, guest_mem, vm->mem_size, &elf, err, sizeof err);
	if (initrd)
		memcpy(guest_mem + initrd_gpa, (const void *)(uintptr_t)initrd->start, initrd_size);
	write_start_info(vm, initrd_gpa, initrd_size);
	bool multiboot1 = elf.protocol == GUEST_BOOT_MULTIBOOT1;
	if (multiboot1)
		write_multiboot1_info(vm, initrd_gpa, initrd_size);
	vuart_reset(&vm->uart);
	vpic_reset(&vm->pic);
	vm->vcpu.vm = vm;
	vm->vcpu.state = VCPU_RUNNABLE;
	vlapic_reset(&vm->vcpu.lapic);
	if (!arch_vm_init(vm) ||
	    !arch_vcpu_init(&vm->vcpu, elf.pvh_entry,
	                    multiboot1 ? VM_MB1_INFO_GPA : VM_START_INFO_GPA)) {
		power_switch_to(ACCOUNT_HV_OTHER_ID);
		report_error(vm->name, "not started",
		             "out of memory for EPT or VMCS, or VMCS set-up failed");
		frames_free_range(&host_frames, vm->mem_hpa, vm->mem_size);
		return NULL;
	}
	if (multiboot1)
		vm->vcpu.regs.rax = 0x2BADB002u; /* the loader's magic (Multiboot 3.2) */
	vm_count++;
	power_switch_to(ACCOUNT_HV_OTHER_ID);
	static char args[2 * VM_ARGS_MAX]; /* boot time, one VM at a time */
	fmt_json_escape(args, sizeof args, vm->config.args);
	const char *protocol = multiboot1 ? "multiboot1" : "pvh";
	kprintf("hv: %s: %llu MiB at host 0x%llx, image 0x%llx..0x%llx, %s entry 0x%x%s%s, args "
	        "\"%s\"\n",
	        vm->name, (unsigned long long)(vm->mem_size >> 20), (unsigned long long)vm->mem_hpa,
	        (unsigned long long)elf.load_start, (unsigned long long)elf.load_end, protocol,
	        elf.pvh_entry, initrd ? ", initrd " : "", initrd ? vm->config.initrd : "", args);
	log_event("{\"ev\":\"vm_start\",\"vm\":\"%s\",\"id\":%u,\"mem_mib\":%llu,\"protocol\":"
	          "\"%s\",\"entry\":\"0x%x\",\"initrd_bytes\":%llu,\"args\":\"%s\"}",
	          vm->name, vm->id, (unsigned long long)(vm->mem_size >> 20), protocol,
	          elf.pvh_entry, (unsigned long long)initrd_size, args);
	return vm;
}

void vm_stop(struct vm *vm, int status, const char *fmt, ...)
{
	if (vm->stopped)
		return;
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(vm->stop_reason, sizeof vm->stop_reason, fmt, ap);
	va_end(ap);
	vm_console_flush(vm);
	/* From here hv works for nobody in particular: the reports below are
	 * not charged to the VM that just stopped. */
	power_switch_to(ACCOUNT_HV_OTHER_ID);
	vm->stopped = true;
	vm->exit_status = status;
	vm->vcpu.state = VCPU_STOPPED;
	vm_report_exit(vm);
	vm_limits_report(vm);
	net_report(vm);
	net_vm_stopped(vm);
	power_report_vm(vm->id, vm->name);
}

/* TSC ticks to nanoseconds without overflowing 64 bits. */
static uint64_t ticks_to_ns(uint64_t ticks)
{
	if (!host_tsc_khz)
		return 0;
	return ticks / host_tsc_khz * 1000000ull + ticks % host_tsc_khz * 1000000ull / host_tsc_khz;
}

uint64_t vm_time_ns(const struct vm *vm)
{
	return ticks_to_ns(rdtsc() + vm->vcpu.tsc_offset - vm->start_tsc);
}

uint64_t host_ticks_to_ns(uint64_t ticks)
{
	return ticks_to_ns(ticks);
}

uint64_t host_now_ns(void)
{
	return ticks_to_ns(rdtsc());
}

void vm_report_exit(struct vm *vm)
{
	char counts[1024] = "";
	size_t used = 0;
	uint64_t total = vm->exits_other;
	for (unsigned r = 0; r < VM_EXIT_REASONS; r++) {
		if (!vm->exits[r])
			continue;
		total += vm->exits[r];
		const char *name = arch_exit_name(r);
		char unnamed[16];
		if (!name) {
			fmt_snprintf(unnamed, sizeof unnamed, "reason_%u", r);
			name = unnamed;
		}
		if (used < sizeof counts)
			used += (size_t)fmt_snprintf(counts + used, sizeof counts - used,
			                             "%s\"%s\":%llu", used ? "," : "", name,
			                             (unsigned long long)vm->exits[r]);
	}
	if (vm->exits_other && used < sizeof counts)
		fmt_snprintf(counts + used, sizeof counts - used, "%s\"other\":%llu",
		             used ? "," : "", (unsigned long long)vm->exits_other);
	char reason[240];
	fmt_json_escape(reason, sizeof reason, vm->stop_reason);
	kprintf("hv: %s stopped, status %d: %s (%llu exits; guest %llu, hv %llu TSC ticks)\n",
	        vm->name, vm->exit_status, vm->stop_reason, (unsigned long long)total,
	        (unsigned long long)vm->guest_tsc, (unsigned long long)vm->hv_tsc);
	log_event("{\"ev\":\"vm_exit\",\"vm\":\"%s\",\"status\":%d,\"reason\":\"%s\","
	          "\"exits_total\":%llu,\"exits\":{%s},\"guest_tsc\":%llu,\"hv_tsc\":%llu,"
	          "\"tsc_khz\":%llu,\"switched_in\":%llu}",
	          vm->name, vm->exit_status, reason, (unsigned long long)total, counts,
	          (unsigned long long)vm->guest_tsc, (unsigned long long)vm->hv_tsc,
	          (unsigned long long)host_tsc_khz, (unsigned long long)vm->switched_in);
}

void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (!vm->dirty.bitmap || !len || gpa >= vm->mem_size)
		return;
	for (uint64_t p = gpa / PAGE_SIZE; p <= (gpa + len - 1) / PAGE_SIZE; p++)
		if (p < vm->mem_size / PAGE_SIZE)
			vm->dirty.bitmap[p / 64] |= 1ull << (p % 64);
}

/* A slot an incoming migration may take again: vacated, same memory size.
 * Its memory, EPT (which maps exactly that memory) and VMCS page are kept
 * and reset, so moving a VM back and forth never runs out of slots or
 * frames. */
static struct vm *vacated_slot(uint64_t mem_bytes)
{
	for (unsigned i = 0; i < vm_count; i++)
		if (vms[i].stopped && vms[i].vacated && vms[i].mem_size == mem_bytes)
			return &vms[i];
	return NULL;
}

struct vm *vm_create_empty(const struct vm_config *config, const char *name)
{
	struct vm *vm = vacated_slot(config->mem_bytes);
	bool reused = vm != NULL;
	if (!reused && vm_count == VM_MAX) {
		report_error(name, "not created", "too many VMs (at most 8)");
		return NULL;
	}
	if (!reused)
		vm = &vms[vm_count];
	unsigned id = reused ? vm->id : vm_count;
	uint64_t mem_hpa = reused ? vm->mem_hpa : 0, ept_root = reused ? vm->ept_root : 0;
	uint64_t vmcs_pa = reused ? vm->vcpu.vmcs_pa : 0;
	memset(vm, 0, sizeof *vm);
	vm->id = id;
	vm->config = *config;
	fmt_snprintf(vm->name, sizeof vm->name, "%s", name);
	vm_limits_init(vm);
	vm->mem_size = config->mem_bytes;
	vm->mem_hpa =
	    reused ? mem_hpa : frames_alloc_contig(&host_frames, vm->mem_size / PAGE_SIZE, 512);
	if (!vm->mem_hpa) {
		report_error(name, "not created", "not enough contiguous memory");
		return NULL;
	}
	power_switch_to(ACCOUNT_HV(vm->id));
	memset((void *)(uintptr_t)vm->mem_hpa, 0, vm->mem_size);
	vuart_reset(&vm->uart);
	vpic_reset(&vm->pic);
	vm->vcpu.vm = vm;
	vm->vcpu.state = VCPU_PAUSED;
	vm->vcpu.vmcs_pa = vmcs_pa; /* arch_vcpu_init takes a kept page again */
	vlapic_reset(&vm->vcpu.lapic);
	vm->ept_root = ept_root;
	if ((!reused && !arch_vm_init(vm)) || !arch_vcpu_init(&vm->vcpu, 0, 0)) {
		power_switch_to(ACCOUNT_HV_OTHER_ID);
		report_error(name, "not created", "out of memory for EPT or VMCS");
		if (!reused)
			frames_free_range(&host_frames, vm->mem_hpa, vm->mem_size);
		return NULL;
	}
	if (!reused)
		vm_count++;
	vm->start_tsc = rdtsc();
	power_switch_to(ACCOUNT_HV_OTHER_ID);
	return vm;
}
