/* vm: the generic side of virtual machines: what a VM and its vCPU are,
 * building one from a multiboot module (config, ELF loader, PVH start
 * info), the devices every guest sees (virtual UART, x2APIC timer), and
 * the scheduler that shares one physical CPU between vCPUs. The VT-x side
 * (VMCS, EPT, exits) is in vmx/; this header is all the core needs of it. */
#ifndef HV_VM_H
#define HV_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/lib.h"

#define VM_MAX          8
#define VM_NAME_MAX     16
#define VM_ARGS_MAX     2304 /* a Linux command line (2 KiB) and what hv adds */
#define VM_EXIT_REASONS 70
/* Guest-physical layout set by hv: start info, command line and memory map
 * live in the first 64 KiB, which no guest segment may use. */
#define VM_BOOT_AREA_END  0x10000u
#define VM_START_INFO_GPA 0x1000u
#define VM_CMDLINE_GPA    0x2000u
#define VM_MEMMAP_GPA     0x3000u
#define VM_MODLIST_GPA    0x4000u
/* The MP table (Intel MultiProcessor Specification 1.4, chapter 4): its
 * floating pointer in the first KiB of memory, where Linux looks first. */
#define VM_MP_FLOATING_GPA 0x200u
#define VM_MP_CONFIG_GPA   0x210u

/* ---- limits.c (pure): what a guest may consume, in one table ---- */
enum vm_limit {
	LIMIT_MEM_MIB,
	LIMIT_CONSOLE_LINES,
	LIMIT_CONSOLE_LINE_BYTES,
	LIMIT_HV_LINES,
	LIMIT_HYPERCALLS,
	LIMIT_PACKETS,
	LIMIT_TIMER_PERIOD_US,
	LIMIT_NO_PROGRESS,
	LIMIT_COUNT
};
/* A rate is a token bucket (value a second, burst deep); a ceiling is a
 * value never exceeded, a floor one never gone under. */
enum limit_kind { LIMIT_RATE, LIMIT_CEILING, LIMIT_FLOOR };
/* What hv does to a guest over the limit. */
enum limit_action {
	LIMIT_HOLD,   /* the vCPU (or its TX ring) waits until the bucket refills */
	LIMIT_DROP,   /* the line is not printed, only counted */
	LIMIT_SPLIT,  /* cut into pieces within the limit */
	LIMIT_RAISE,  /* raised to the floor */
	LIMIT_STOP,   /* the VM is stopped with the reason */
	LIMIT_REFUSE, /* the VM is not started */
};
struct vm_limit_def {
	const char *name, *unit;
	enum limit_kind kind;
	uint64_t value, burst; /* defaults (burst: rates only) */
	uint64_t min, max;     /* what limits= may set value to */
	enum limit_action action;
	const char *exceeded; /* what happens, in words */
};
extern const struct vm_limit_def vm_limit_defs[LIMIT_COUNT];
struct vm_limit_setting {
	uint64_t value, burst;
};
#define VM_LIMITS_SPEC_MAX 200
void vm_limits_defaults(struct vm_limit_setting set[LIMIT_COUNT]);
/* Applies "NAME:N[/BURST],..." (limits= of hv's line or a module line)
 * over set; 0, or -1 with a one-line reason (set may be half changed). */
int vm_limits_parse(const char *spec, struct vm_limit_setting set[LIMIT_COUNT], char *err,
                    size_t err_len);
const char *vm_limit_action_name(enum limit_action a);

/* ---- vm_config.c (pure): "name=vm0 mem=32M -- mvb 512" ---- */
struct vm_config {
	char name[VM_NAME_MAX];
	char initrd[VM_NAME_MAX];        /* initrd=NAME: the module whose line is data=NAME */
	char limits[VM_LIMITS_SPEC_MAX]; /* limits=...: this VM's own, over hv's */
	uint64_t mem_bytes;
	char args[VM_ARGS_MAX]; /* what the guest's main() gets: "mvb 512" */
};
#define VM_MEM_MIN     (2ull << 20)
#define VM_MEM_MAX     (1ull << 30)
#define VM_MEM_DEFAULT (32ull << 20)
/* Returns 0, or -1 with a one-line reason. default_name is used when the
 * line has no name=. */
int vm_config_parse(const char *line, const char *default_name, struct vm_config *out, char *err,
                    size_t err_len);
/* A module that is not a VM but data a VM names (a Linux initrd): its line
 * is "data=NAME". True and its name if so; false for a VM's line. A bad
 * NAME still makes it a data module, with name "" (refused when used). */
bool vm_module_is_data(const char *line, char *name, size_t name_len);

/* ---- elf_loader.c (pure): validate and load a guest ELF ---- */
/* The ELF64 headers the loader reads (System V gABI chapter 4; the unit
 * tests build images with them). */
struct elf64_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

#define PT_LOAD   1
#define PT_NOTE   4
#define EM_X86_64 62
#define ET_EXEC   2

enum guest_boot_protocol {
	GUEST_BOOT_PVH,        /* EBX = hvm_start_info (Xen docs/misc/pvh.pandoc) */
	GUEST_BOOT_MULTIBOOT1, /* EAX = 0x2BADB002, EBX = multiboot info */
};
struct elf_image_info {
	enum guest_boot_protocol protocol;
	uint32_t pvh_entry;  /* the entry: XEN_ELFNOTE_PHYS32_ENTRY, or e_entry for multiboot1 */
	uint64_t load_start; /* lowest guest-physical byte loaded */
	uint64_t load_end;   /* one past the highest */
	unsigned segments;
};
/* Copies the PT_LOAD segments of image into guest memory through
 * guest_mem (a host pointer to guest-physical 0, mem_size bytes) after
 * checking everything: ELF class, machine, program headers inside the
 * file, segments inside the file and inside guest memory above
 * VM_BOOT_AREA_END, no overlaps, and the PVH entry note. With guest_mem
 * NULL it only validates. Returns 0 or -1 with a one-line reason. */
int elf_load_guest(const uint8_t *image, size_t size, uint8_t *guest_mem, uint64_t mem_size,
                   struct elf_image_info *info, char *err, size_t err_len);

/* ---- devices every guest sees ---- */
struct vuart { /* 16550 at 0x3F8 (vuart.c) */
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool thre_pending; /* the THR-empty interrupt, until IIR is read or THR written */
	bool used;         /* written to: port 0xE9 is then a copy of the same text */
	/* One guest line; a longer one is cut in two. Room for a tool's whole
	 * JSON event, which a parser can only read in one piece. */
	char line[512];
	unsigned line_len;
};

struct vpic_chip { /* one 8259A (vpic.c) */
	uint8_t irr, isr, imr, vector_base, line;
	uint8_t icw_step; /* 0: initialised; 2, 3, 4: the ICW expected next */
	bool need_icw4, single, auto_eoi, read_isr;
};
struct vpic { /* the PIC pair, ELCR and the CMOS RTC's index (vpic.c) */
	struct vpic_chip chip[2];
	uint8_t elcr[2];
	uint8_t rtc_index;
};

/* The emulated devices' register bits, shared by the devices and the
 * checks of their saved state (hv/snapshot/device_state.c). */
#define VUART_IER_BITS 0x0Fu /* 16550: IER bits 3:0 exist */
#define VUART_MCR_BITS 0x1Fu /* MCR bits 4:0 (loop, OUT2, OUT1, RTS, DTR) */
/* IA32_APIC_BASE (SDM Vol. 3A 11.12.5, figure 11-27) */
#define VLAPIC_BASE_BSP      (1ull << 8)
#define VLAPIC_BASE_X2APIC   (1ull << 10)
#define VLAPIC_BASE_ENABLE   (1ull << 11)
#define VLAPIC_BASE_RESERVED 0x2FFull /* bits 7:0 and 9; those above MAXPHYADDR too */
/* LVT entries and the SVR (SDM Vol. 3A figures 11-8 and 11-23) */
#define VLAPIC_LVT_MASKED     (1u << 16)
#define VLAPIC_LVT_MODE(l)    (((l) >> 17) & 3) /* 0 one-shot, 1 periodic, 2 TSC-deadline */
#define VLAPIC_LVT_TIMER_BITS (0xFFu | VLAPIC_LVT_MASKED | (3u << 17))
#define VLAPIC_LVT_LINT0_BITS 0x1A7FFu
#define VLAPIC_SVR_BITS       0x1FFu
#define VLAPIC_DIVIDE_BITS    0xBu /* bits 3, 1, 0 (SDM figure 11-10) */

struct vlapic { /* x2APIC with the TSC-deadline timer (vlapic.c) */
	uint64_t apic_base;
	uint32_t svr, tpr, lvt_timer, lvt_lint0, divide_config, initial_count;
	uint64_t timer_deadline;       /* host TSC value; 0 = not armed */
	uint64_t timer_period;         /* periodic mode: TSC ticks between interrupts */
	uint64_t tsc_deadline_written; /* IA32_TSC_DEADLINE as the guest wrote it */
	uint64_t irr[4], isr[4];       /* requested / in-service vectors */
};

/* PAUSED: held by hv (a migration's stop-and-copy, or not yet resumed). */
/* THROTTLED: runnable, but held out until throttled_until_tsc (sched.c). */
enum vcpu_state { VCPU_RUNNABLE, VCPU_HALTED, VCPU_STOPPED, VCPU_PAUSED, VCPU_THROTTLED };

/* The guest's general registers, in the order vmx/entry.S saves them. */
struct guest_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

/* MSRs VT-x does not switch and hv does not use, so they are swapped on a
 * vCPU switch (syscall MSRs, KERNEL_GS_BASE, TSC_AUX where RDTSCP exists):
 * part of the switched guest state listed in hv/vmx/vcpu.c. */
enum {
	VCPU_MSR_STAR,
	VCPU_MSR_LSTAR,
	VCPU_MSR_CSTAR,
	VCPU_MSR_SFMASK,
	VCPU_MSR_KERNEL_GS,
	VCPU_MSR_TSC_AUX,
	VCPU_SWAPPED_MSRS
};

/* The vCPU's XSAVE area: 512 (legacy) + 64 (header) + 256 (AVX), the size
 * CPUID.(EAX=0DH,ECX=0):ECX gives for XCR0 = x87|SSE|AVX (hv/vmx/xsave.c). */
#define VCPU_FPU_AREA_SIZE 832

/* One limit of one VM at run time (limits_vm.c). */
struct vm_limit_state {
	struct vm_limit_setting set;
	struct token_bucket bucket;
	uint64_t refused;        /* uses refused, held, dropped, cut or raised */
	uint64_t reported;       /* refused as of the last report line */
	uint64_t last_report_ns; /* at most one report a second */
};

struct vm;
struct vcpu {
	struct vm *vm;
	struct guest_regs regs;
	/* x87, SSE and AVX state in the XSAVE standard format (SDM Vol. 1
	 * 13.4: the legacy FXSAVE region, the 64-byte header, then the AVX
	 * upper halves of YMM0-15 at 576); where hv has no XSAVE only the first
	 * 512 bytes are used, by FXSAVE. */
	uint8_t fpu_area[VCPU_FPU_AREA_SIZE] __attribute__((aligned(64)));
	uint64_t xcr0; /* the guest's XCR0: in the real XCR0 only while it runs */
	uint64_t swapped_msrs[VCPU_SWAPPED_MSRS];
	/* Debug registers and CR2: no VMCS field holds them (vcpu.c). */
	uint64_t dr[4], dr6, cr2;
	/* Entries in a row that could not run one guest instruction (a timer
	 * due at every entry): bounded, see arch_vcpu_run. */
	uint32_t entries_without_progress;
	enum vcpu_state state;
	struct vlapic lapic;
	/* The guest's TSC is the host's plus this (mod 2^64): 0 from boot, set
	 * by a migration so the guest's clock goes on from where it paused on
	 * another host (SDM Vol. 3C 25.6.5, "use TSC offsetting"). */
	uint64_t tsc_offset;
	/* Set by a migration's policy (auto-converge): after running for t the
	 * vCPU sits out t * p / (100 - p), so it gets (100 - p)% of the CPU
	 * time it wants (sched.c). 0 = not throttled. */
	unsigned throttle_percent;
	uint64_t throttled_until_tsc;
	uint64_t throttled_ticks; /* total time held out, for the reports */
	bool limit_held;          /* held out by a limit (limits_vm.c), not the policy */
	/* VT-x state (vmx/vcpu.c) */
	uint64_t vmcs_pa;
	bool launched;
	bool fpu_saved; /* fpu_area holds the live state */
};

/* Dirty-page logging for migration (vmx/dirty.c fills it, by EPT
 * write-protection, EPT A/D bits or PML). */
struct dirty_log {
	const char *tracker; /* NULL: not logging */
	uint64_t *bitmap;    /* one bit per guest page */
	uint64_t pml_pa;     /* the PML page (host-physical), 0 if unused */
	uint64_t exits;      /* write-protect violations and PML-full exits */
	uint64_t scan_cycles;
	uint64_t harvested;
};

struct vm {
	unsigned id;
	char name[VM_NAME_MAX];
	struct vm_config config;
	uint64_t mem_hpa, mem_size; /* host frames backing guest-physical 0.. */
	uint64_t ept_root;          /* EPT PML4 (host-physical) */
	struct vcpu vcpu;           /* one vCPU per VM for now */
	struct vuart uart;
	struct vpic pic;
	bool stopped;
	/* Stopped and holding nothing of this host any more: it migrated away,
	 * or an incoming migration into it never resumed. An incoming migration
	 * of the same size takes the slot again (its memory, EPT and VMCS), so a
	 * VM can move back and forth any number of times within VM_MAX. */
	bool vacated;
	int exit_status;
	char stop_reason[120];
	uint64_t exits[VM_EXIT_REASONS];
	uint64_t exits_other;
	uint64_t start_tsc;         /* the guest's TSC when it started */
	uint64_t guest_tsc, hv_tsc; /* host ticks spent in the guest, in hv for it */
	uint64_t switched_in;       /* times the scheduler gave it the CPU from another */
	unsigned unknown_msr_reports;
	struct dirty_log dirty;
	struct vm_limit_state limits[LIMIT_COUNT];
};

extern struct vm vms[VM_MAX];
extern unsigned vm_count;

/* vm.c: builds VM number vm_count from a module; on failure prints why
 * and returns NULL (the other VMs are not affected). */
struct boot_module;
struct vm *vm_create_from_module(const struct boot_module *mod, const struct boot_module *all,
                                 unsigned all_count);
/* A VM with memory (zeroed), EPT and a vCPU, but no image: paused until
 * someone restores a state into it (an incoming migration). */
struct vm *vm_create_empty(const struct vm_config *config, const char *name);
/* Marks the VM stopped with a status and a reason (printed and logged). */
void vm_stop(struct vm *vm, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Guest-physical range -> host pointer, or NULL if not all inside the VM. */
void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len);
/* hv wrote [gpa, gpa+len) of the VM's memory itself (not through EPT):
 * a running dirty log must see it. */
void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len);
/* Emits the vm_exit event with per-reason exit counts. */
void vm_report_exit(struct vm *vm);
uint64_t vm_time_ns(const struct vm *vm);
/* The host TSC in nanoseconds (the clock of the network and migration
 * engines, which take time as an argument). */
uint64_t host_now_ns(void);
uint64_t host_ticks_to_ns(uint64_t ticks); /* host TSC ticks as ns */

/* limits_vm.c: applying the limits table to a running VM. */
/* hv's own limits= (boot): checked at boot, applied to every VM after. */
int vm_limits_set_boot(const char *spec, char *err, size_t err_len);
/* The table, hv's limits= and the VM's own, in that order; buckets full. */
void vm_limits_init(struct vm *vm);
uint64_t vm_limit(const struct vm *vm, enum vm_limit id);
/* A use of a rate limit: true if within it; false if over (counted, and
 * said in one line at first and at most once a second after). */
bool vm_limit_take(struct vm *vm, enum vm_limit id, uint64_t uses);
/* ns until vm_limit_take would succeed (0: now). */
uint64_t vm_limit_wait_ns(struct vm *vm, enum vm_limit id, uint64_t uses);
/* A ceiling or floor was applied (cut, raised, stopped): counted and said
 * as vm_limit_take says it; seen is the value the guest asked for. */
void vm_limit_exceeded(struct vm *vm, enum vm_limit id, uint64_t seen);
/* A hypercall: true to run it now; false: over the limit, the vCPU is held
 * out of the CPU until a token comes, then runs the same VMCALL again. */
bool vm_limit_hold_vcpu(struct vcpu *v, enum vm_limit id);
/* The vm_limits event and a human line (also the console's limits). */
void vm_limits_report(const struct vm *vm);
uint64_t vm_limits_refused_total(const struct vm *vm);

/* vuart.c */
void vuart_reset(struct vuart *u);
/* Port I/O at 0x3F8..0x3FF (offset 0..7) and the debug port 0xE9. */
uint32_t vuart_read(struct vm *vm, unsigned offset);
void vuart_write(struct vm *vm, unsigned offset, uint32_t value);
void vm_console_putc(struct vm *vm, char c);
void vm_console_flush(struct vm *vm);

/* vpic.c: the 8259A pair and the CMOS RTC. vpic_io handles the ports it
 * owns (true) and leaves the others (false). */
void vpic_reset(struct vpic *p);
bool vpic_io(struct vm *vm, uint16_t port, bool in, uint32_t *value);
void vpic_set_irq(struct vpic *p, unsigned irq, bool level);
/* The vector of the request the PIC would hand the CPU now, or -1; ack
 * moves it from requested to in service (the INTA cycle). */
int vpic_pending_vector(const struct vpic *p);
void vpic_ack(struct vpic *p);

/* vlapic.c */
void vlapic_reset(struct vlapic *l);
/* LVT0 set to ExtINT and unmasked: the PIC's interrupts reach the CPU
 * (the virtual-wire mode Linux uses without an I/O APIC, SDM 11.5.1). */
bool vlapic_extint_enabled(const struct vlapic *l);
/* x2APIC MSR 0x800-0x8FF and IA32_TSC_DEADLINE; false = no such register. */
bool vlapic_read_msr(struct vcpu *v, uint32_t msr, uint64_t *value);
enum vlapic_msr {
	VLAPIC_MSR_NOT_MINE, /* not an APIC MSR (or x2APIC mode is off) */
	VLAPIC_MSR_DONE,
	VLAPIC_MSR_FAULT, /* a value the CPU refuses: #GP */
};
enum vlapic_msr vlapic_write_msr(struct vcpu *v, uint32_t msr, uint64_t value);
/* MOV to CR8: the TPR's priority class; false for reserved bits (#GP). */
bool vlapic_write_cr8(struct vcpu *v, uint64_t value);
/* Raises the timer interrupt if its deadline has passed. */
void vlapic_tick(struct vcpu *v, uint64_t now_tsc);
/* A deadline on the guest's TSC as a host TSC value. The guest writes a
 * deadline on its own TSC (host + tsc_offset); the timer fires once that
 * TSC reaches it (SDM Vol. 3A 11.5.4.1). Taken relative to the guest's
 * now, so a deadline already passed stays due instead of wrapping around
 * to the far future when the offset is large. Inline: the snapshot's pure
 * x2APIC section restores timers with it too. */
static inline uint64_t vlapic_host_deadline(const struct vcpu *v, uint64_t guest_deadline,
                                            uint64_t host_now)
{
	uint64_t guest_now = host_now + v->tsc_offset;
	if (guest_deadline <= guest_now)
		return host_now ? host_now : 1; /* due; 0 would mean disarmed */
	uint64_t ahead = guest_deadline - guest_now;
	return ahead > UINT64_MAX - host_now ? UINT64_MAX : host_now + ahead;
}
/* The shortest periodic x2APIC timer, in TSC ticks, for a bound of min_us
 * (the timer_period_us limit): one formula for the write (vlapic.c) and
 * the check of a migrated timer (snapshot/device_state.c). */
static inline uint64_t vlapic_min_period_ticks(uint64_t tsc_khz, uint64_t min_us)
{
	return tsc_khz * min_us / 1000;
}
/* A device raises an interrupt: the vector becomes pending, a halted vCPU
 * wakes. */
void vlapic_raise(struct vcpu *v, int vector);
/* Highest requested vector above what is in service, or -1. */
int vlapic_pending_vector(const struct vlapic *l);
/* The vector is being delivered: IRR -> ISR. */
void vlapic_ack(struct vlapic *l, int vector);

/* sched.c: a scheduler is a policy table (the reference one is round
 * robin); sched_run() runs every VM until all have stopped. */
/* A scheduling policy, in the shape of the batching and migration ones
 * (docs/policies.md): its knobs as a table (lib.h, struct knob), their
 * values kept by the mechanism and handed to it on every call. Adding one
 * is its functions and one line in SCHED_POLICY_TABLE (sched.c). */
struct sched_policy {
	const char *name;
	const char *summary; /* one line, for refusals and the boot line */
	const struct knob *knobs;
	size_t knob_count;
	/* Next vCPU to run among the runnable ones, or NULL. */
	struct vcpu *(*pick_next)(const uint64_t *knob);
	/* Slice length in TSC ticks for this vCPU. */
	uint64_t (*slice_ticks)(const struct vcpu *v, const uint64_t *knob);
};
/* sched= (hv's boot option): "policy=NAME,knob=value,..." (commas for
 * spaces, as at=); the policy defaults to round-robin, its knobs to their
 * defaults. Refused with a one-line reason naming what is allowed. */
int sched_configure(const char *text, char *err, size_t err_len);
/* Runs the VMs with the policy sched_configure chose. */
void sched_run(void);
/* With no VM running, keep the loop alive until this TSC (an incoming
 * migration may arrive); 0: stop when every VM has stopped. */
/* Listening for incoming migrations (listen=S, the console's `listen S`):
 * while no VM runs here and none ended here by itself, hv waits up to S s
 * for one to arrive; the wait starts again each time a VM leaves. */
void sched_listen(uint64_t seconds);
void sched_listen_restart(void);
bool sched_listening(void);
extern uint64_t host_tsc_khz;

#endif

/* ---- the vendor seam: what vmx/ implements for the core ---- */
/* Enters VMX operation for good (VMXON); false with a reason printed. */
bool arch_enable(void);
/* EPT for the VM's memory; false if out of memory. */
bool arch_vm_init(struct vm *vm);
/* VMCS in the PVH entry state: 32-bit protected mode, paging off, RIP =
 * entry, RBX = start info. */
bool arch_vcpu_init(struct vcpu *v, uint32_t entry, uint32_t start_info_gpa);
/* Runs the vCPU until slice_end_tsc, a block (HLT), a yield or a stop. */
void arch_vcpu_run(struct vcpu *v, uint64_t slice_end_tsc);
/* Dirty-page trackers: "wp", "ad", "pml"; NULL name = the best this CPU
 * has (pml, else ad, else wp). NULL if unknown or unsupported. The ops are
 * migrate/'s struct dirty_tracker_ops; ctx is the struct vm. */
struct dirty_tracker_ops;
const struct dirty_tracker_ops *arch_dirty_tracker(const char *name);
/* The vCPU's architectural state for migration is its snapshot section
 * (snapshot_vcpu_section in vmx/vcpu_state.c; snapshot/snapshot.h). */
/* Sets v->tsc_offset and the VMCS field that applies it. */
bool arch_vcpu_set_tsc_offset(struct vcpu *v, uint64_t offset);
/* Makes sure v's FPU/SSE state and swapped MSRs are in v (not live in the
 * CPU registers), before saving them. */
void arch_vcpu_release_fpu(struct vcpu *v);
/* Name of an exit reason, for reports ("cpuid", "io", ...). */
const char *arch_exit_name(unsigned reason);
