/* Runs at boot, on the boot CPU and (ap_entry) on each other CPU: finds
 * the processors, starts them one at a time with INIT-SIPI-SIPI (SDM Vol.
 * 3A 9.4.4.1 and 9.4.4.2: INIT, 10 ms, SIPI, 200 us, SIPI), gives each its
 * own GDT, TSS and stacks, checks it can run VMX as the boot CPU does, and
 * parks it. One CPU is started at a time and the boot CPU waits for its
 * answer, so the frame allocator and these tables are never used by two
 * CPUs at once. */
#include "smp/smp.h"
#include "console/console.h"
#include "lib/lib.h"
#include "mm/mm.h"
#include "vmx/vmx.h"
#include "x86/x86.h"

#define MSR_IA32_APIC_BASE 0x1B
#define MSR_X2APIC_ID      0x802
#define MSR_X2APIC_ICR     0x830
#define APIC_BASE_EN       (1u << 11)
#define APIC_BASE_EXTD     (1u << 10) /* x2APIC mode (SDM Vol. 3A 11.12.1) */
/* xAPIC registers (SDM Vol. 3A 11.4.1 table 11-1), where there is no x2APIC. */
#define XAPIC_MMIO     0xFEE00000u
#define XAPIC_ID       0x20
#define XAPIC_ICR_LOW  0x300
#define XAPIC_ICR_HIGH 0x310
/* ICR (SDM Vol. 3A 11.6.1): delivery mode INIT (101b) or start-up (110b),
 * level assert. */
#define ICR_INIT    0x4500u
#define ICR_STARTUP 0x4600u

#define AP_STACK_PAGES       4
#define AP_DF_STACK_PAGES    2
#define AP_ANSWER_TIMEOUT_MS 200

extern const uint8_t ap_trampoline_start[], ap_trampoline_end[], ap_tramp_gdt_ptr[],
    ap_tramp_far32[], ap_tramp_far64[], ap_tramp_mailbox[];
/* Absolute symbols (trampoline.S): their address is the offset. */
extern const uint8_t ap_tramp_off_pm32[], ap_tramp_off_lm64[], ap_tramp_off_gdt[];
#define TRAMP_OFFSET(sym) ((uint32_t)((uintptr_t)(sym) - (uintptr_t)ap_trampoline_start))

enum cpu_state { CPU_NOT_STARTED, CPU_ONLINE, CPU_LEFT_OUT };

struct cpu {
	uint32_t apic_id;
	volatile enum cpu_state state;
	const char *volatile why_left_out;
	uint64_t stack_top, double_fault_stack_top;
};

static struct cpu cpus[SMP_MAX_CPUS];
static unsigned cpu_count = 1, online_count = 1;
static const struct vmx_caps *boot_vmx;
static uint64_t boot_cr4;
static bool x2apic;

unsigned smp_cpus_online(void)
{
	return online_count;
}

static void delay_us(uint32_t tsc_khz, uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_khz / 1000;
	while (rdtsc() < end)
		cpu_relax();
}

static uint32_t my_apic_id(void)
{
	if (x2apic)
		return (uint32_t)rdmsr(MSR_X2APIC_ID);
	return *(volatile uint32_t *)(uintptr_t)(XAPIC_MMIO + XAPIC_ID) >> 24;
}

static void send_ipi(uint32_t apic_id, uint32_t command)
{
	if (x2apic) {
		wrmsr(MSR_X2APIC_ICR, (uint64_t)apic_id << 32 | command);
		return;
	}
	*(volatile uint32_t *)(uintptr_t)(XAPIC_MMIO + XAPIC_ICR_HIGH) = apic_id << 24;
	*(volatile uint32_t *)(uintptr_t)(XAPIC_MMIO + XAPIC_ICR_LOW) = command;
}

/* On the other CPU, from the trampoline: its own descriptor tables, the
 * boot CPU's CR4 (the trampoline loaded only what 32-bit code may), the
 * VMX check, the answer, then parked. */
static void ap_entry(unsigned index) __attribute__((noreturn, used));
static void ap_entry(unsigned index)
{
	struct cpu *c = &cpus[index];
	gdt_init_this_cpu(index, c->double_fault_stack_top);
	idt_load();
	write_cr4(boot_cr4);
	if (x2apic)
		wrmsr(MSR_IA32_APIC_BASE,
		      rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
	const char *why = my_apic_id() != c->apic_id ? "it answered with another APIC ID"
	                                             : vmx_check_this_cpu(boot_vmx);
	c->why_left_out = why;
	__atomic_store_n(&c->state, why ? CPU_LEFT_OUT : CPU_ONLINE, __ATOMIC_RELEASE);
	/* Parked: nothing runs here yet. Interrupts stay off; only INIT or
	 * a reset wakes a CPU from this. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* A page below 1 MiB (a SIPI vector is a page number < 256) that the
 * memory map says is RAM and that holds no boot data. */
static uint64_t trampoline_page(const struct boot_info *boot)
{
	for (uint64_t page = 0x8000; page != 0x7000;
	     page = page == 0x9E000 ? 0x1000 : page + 0x1000) {
		bool ram = false;
		for (unsigned i = 0; i < boot->region_count; i++) {
			const struct boot_mem_region *r = &boot->regions[i];
			if (r->type == BOOT_MEM_AVAILABLE && r->base <= page &&
			    r->base + r->length >= page + PAGE_SIZE)
				ram = true;
		}
		bool busy = page < boot->info_end && boot->info_start < page + PAGE_SIZE;
		for (unsigned i = 0; i < boot->module_count; i++)
			busy |= page < boot->modules[i].end &&
			        boot->modules[i].start < page + PAGE_SIZE;
		if (ram && !busy)
			return page;
	}
	return 0;
}

static bool prepare_trampoline(uint64_t page)
{
	size_t size = (size_t)(ap_trampoline_end - ap_trampoline_start);
	if (size > PAGE_SIZE)
		return false;
	uint8_t *t = (uint8_t *)(uintptr_t)page;
	memcpy(t, ap_trampoline_start, size);
	uint32_t base = (uint32_t)page;
	uint32_t pm32 = base + (uint32_t)(uintptr_t)ap_tramp_off_pm32;
	uint32_t lm64 = base + (uint32_t)(uintptr_t)ap_tramp_off_lm64;
	uint32_t gdt_base = base + (uint32_t)(uintptr_t)ap_tramp_off_gdt;
	memcpy(t + TRAMP_OFFSET(ap_tramp_gdt_ptr) + 2, &gdt_base, 4);
	memcpy(t + TRAMP_OFFSET(ap_tramp_far32), &pm32, 4);
	memcpy(t + TRAMP_OFFSET(ap_tramp_far64), &lm64, 4);
	uint32_t *box = (uint32_t *)(t + TRAMP_OFFSET(ap_tramp_mailbox));
	/* What 32-bit code may load: CR4 without PCIDE and the bits only
	 * IA-32e mode allows (ap_entry loads the rest), EFER's LME and NXE. */
	box[0] = (uint32_t)read_cr0();
	box[1] = (uint32_t)read_cr3();
	box[2] =
	    (uint32_t)(boot_cr4 & ((1u << 4) | (1u << 5) | (1u << 7) | (1u << 9) | (1u << 10)));
	box[3] = (uint32_t)(rdmsr(MSR_IA32_EFER) & ((1u << 8) | (1u << 11)));
	uint64_t entry = (uint64_t)(uintptr_t)ap_entry;
	memcpy(&box[6], &entry, 8);
	return read_cr3() < (4ull << 30);
}

static void set_mailbox(uint64_t page, unsigned index)
{
	uint32_t *box = (uint32_t *)(uintptr_t)(page + TRAMP_OFFSET(ap_tramp_mailbox));
	memcpy(&box[4], &cpus[index].stack_top, 8);
	box[8] = index;
}

/* cpus=N from hv's options (main.c has refused a bad value already). */
static unsigned cpu_limit(const char *options)
{
	char value[16];
	unsigned n;
	if (!cmdline_get(options, "cpus", value, sizeof value) || !smp_parse_cpus(value, &n))
		return SMP_MAX_CPUS;
	return n;
}

static void report(const struct cpu_list *list, unsigned limit)
{
	char ids[SMP_MAX_CPUS * 12] = "", left[SMP_MAX_CPUS * 96] = "";
	size_t il = 0, ll = 0;
	for (unsigned i = 0; i < cpu_count; i++) {
		if (cpus[i].state == CPU_ONLINE)
			il += fmt_snprintf(ids + il, sizeof ids - il, "%s%u", il ? "," : "",
			                   cpus[i].apic_id);
		else
			ll += fmt_snprintf(left + ll, sizeof left - ll,
			                   "%s{\"apic_id\":%u,\"why\":\"%s\"}", ll ? "," : "",
			                   cpus[i].apic_id,
			                   cpus[i].why_left_out ? cpus[i].why_left_out : "?");
	}
	kprintf("hv: CPUs: %u online of %u listed (%s%s)%s\n", online_count,
	        list->count ? list->count : 1, list->source ? list->source : "no table",
	        limit < list->count ? ", cpus= limit" : "",
	        online_count > 1 ? "; the others are parked, VMs run on the boot CPU" : "");
	log_event("{\"ev\":\"cpus\",\"source\":\"%s\",\"listed\":%u,\"limit\":%u,\"online\":%u,"
	          "\"apic_ids\":[%s],\"left_out\":[%s]}",
	          list->source ? list->source : "none", list->count, limit, online_count, ids,
	          left);
}

void smp_init(const struct boot_info *boot, const char *options, const struct vmx_caps *bsp,
              uint32_t tsc_khz)
{
	static struct cpu_list list;
	char err[160];
	unsigned limit = cpu_limit(options);
	boot_vmx = bsp;
	boot_cr4 = read_cr4();
	x2apic = cpuid(1, 0).ecx >> 21 & 1;
	if (x2apic)
		wrmsr(MSR_IA32_APIC_BASE,
		      rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
	cpus[0] = (struct cpu){.apic_id = my_apic_id(), .state = CPU_ONLINE};
	if (cpu_tables_find(boot->acpi_rsdp, mm_identity_map, NULL, &list, err, sizeof err)) {
		kprintf("hv: CPUs: %s; the boot CPU alone\n", err);
		list.count = 0;
		report(&list, limit);
		return;
	}
	uint64_t page = limit > 1 ? trampoline_page(boot) : 0;
	if (limit > 1 && (!page || !prepare_trampoline(page))) {
		kprintf("hv: CPUs: no free page below 1 MiB for the start-up code: the boot CPU "
		        "alone\n");
		limit = 1;
	}
	for (unsigned i = 0; i < list.count; i++) {
		if (list.apic_id[i] == cpus[0].apic_id || cpu_count == SMP_MAX_CPUS)
			continue;
		struct cpu *c = &cpus[cpu_count];
		*c = (struct cpu){.apic_id = list.apic_id[i],
		                  .state = CPU_NOT_STARTED,
		                  .why_left_out = "cpus= limit"};
		unsigned index = cpu_count++;
		if (index >= limit)
			continue;
		uint64_t stack = frames_alloc_contig(&host_frames, AP_STACK_PAGES, 1);
		uint64_t df = frames_alloc_contig(&host_frames, AP_DF_STACK_PAGES, 1);
		if (!stack || !df) {
			c->why_left_out = "out of memory for its stacks";
			continue;
		}
		c->stack_top = stack + AP_STACK_PAGES * PAGE_SIZE;
		c->double_fault_stack_top = df + AP_DF_STACK_PAGES * PAGE_SIZE;
		c->why_left_out = "it did not answer the start-up IPIs";
		set_mailbox(page, index);
		send_ipi(c->apic_id, ICR_INIT);
		delay_us(tsc_khz, 10000);
		for (int sipi = 0; sipi < 2 && c->state == CPU_NOT_STARTED; sipi++) {
			send_ipi(c->apic_id, ICR_STARTUP | (uint32_t)(page >> 12));
			delay_us(tsc_khz, 200);
		}
		uint64_t deadline = rdtsc() + (uint64_t)AP_ANSWER_TIMEOUT_MS * tsc_khz;
		while (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == CPU_NOT_STARTED &&
		       rdtsc() < deadline)
			cpu_relax();
		if (c->state == CPU_ONLINE) {
			online_count++;
			continue;
		}
		kprintf("hv: CPU with APIC ID %u left out: %s\n", c->apic_id, c->why_left_out);
		if (c->state == CPU_NOT_STARTED) {
			/* It may still wake later and read the mailbox: starting
			 * another CPU would give both the same stack. */
			kprintf("hv: CPUs: no more started after one that did not answer\n");
			limit = index + 1;
		}
	}
	report(&list, limit);
}
