/* Runs at VM creation (VMCS set-up) and in the scheduler loop (entering the
 * guest and dispatching its exits). The VMCS is set up area by area as SDM
 * Vol. 3C chapter 25 lays it out; every control goes through one helper
 * that honours the capability MSRs. */
#include "lib/lib.h"
#include "mm/mm.h"
#include "power/power.h"
#include "vmx/exits.h"
#include "x86/x86.h"

struct vmx_caps vmx_host_caps;
static uint64_t vmxon_region;
static bool host_has_tsc_aux;  /* RDTSCP exists, so IA32_TSC_AUX does */
static struct vcpu *fpu_owner; /* whose FPU/SSE state is in the registers */

int vmx_enter(struct guest_regs *regs, int launched);
extern char vmx_exit_stub[];
extern uint64_t boot_gdt[];

/* CR0_* and CR4_VMXE: vmx.h */
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)

uint64_t vmcs_read(uint64_t field)
{
	uint64_t v = 0;
	if (vmread(field, &v) != VMX_OK)
		return 0;
	return v;
}

/* A VMWRITE that fails is a bug in hv (a field this CPU lacks): say which. */
void vmcs_write(uint64_t field, uint64_t value)
{
	enum vmx_result r = vmwrite(field, value);
	if (r != VMX_OK)
		kprintf("hv: BUG: VMWRITE field 0x%llx = 0x%llx failed (%s, error %llu)\n",
		        (unsigned long long)field, (unsigned long long)value,
		        r == VMX_FAIL_VALID ? "valid" : "invalid",
		        (unsigned long long)(r == VMX_FAIL_VALID
		                                 ? vmcs_read(VMCS_VM_INSTRUCTION_ERROR)
		                                 : 0));
}

/* Allowed-0 bits (low dword) must be 1, allowed-1 bits (high dword) may be
 * 1 (SDM Vol. 3D A.3.1-A.5). Fails if something we need is not allowed. */
static bool control_value(const char *name, uint64_t cap, uint32_t wanted, uint32_t *out)
{
	uint32_t v = (wanted | (uint32_t)cap) & (uint32_t)(cap >> 32);
	if ((v & wanted) != wanted) {
		kprintf("hv: this CPU cannot set %s control bits 0x%x (allowed-1 0x%x)\n", name,
		        wanted & ~v, (uint32_t)(cap >> 32));
		return false;
	}
	*out = v;
	return true;
}

bool arch_enable(void)
{
	struct vmx_caps *c = &vmx_host_caps;
	vmx_probe(c);
	if (!c->usable || !c->ept || !c->unrestricted_guest || !c->preemption_timer ||
	    !c->ept_4level || !c->ept_wb) {
		kprintf("hv: running VMs needs VMX with EPT (4-level, write-back), unrestricted "
		        "guest and the preemption timer; this CPU lacks one of them\n");
		return false;
	}
	if (!(c->feature_control & 1))
		wrmsr(MSR_IA32_FEATURE_CONTROL, c->feature_control | 1 | 4);
	host_has_tsc_aux = cpuid(0x80000001, 0).edx & (1u << 27);
	/* CR0/CR4 fixed bits (SDM 24.8); OSFXSR so FXSAVE covers the XMM
	 * registers when we switch guests' FPU state. */
	write_cr0((read_cr0() | c->cr0_fixed0) & c->cr0_fixed1);
	write_cr4((read_cr4() | CR4_VMXE | CR4_OSFXSR | CR4_OSXMMEXCPT | c->cr4_fixed0) &
	          c->cr4_fixed1);
	xsave_init(); /* CR4.OSXSAVE and hv's XCR0, before any VMCS takes CR4 */
	vmxon_region = mm_alloc_zeroed_page();
	if (!vmxon_region)
		return false;
	*(uint32_t *)(uintptr_t)vmxon_region = c->vmcs_revision;
	if (vmxon(vmxon_region) != VMX_OK) {
		kprintf("hv: VMXON failed\n");
		return false;
	}
	return true;
}

static uint64_t ept_alloc_page(void *ctx)
{
	(void)ctx;
	return mm_alloc_zeroed_page();
}

/* The xAPIC page at 0xFEE00000, read-only: hv emulates the APIC as an
 * x2APIC (MSRs), but Linux reads the APIC ID (offset 0x20) and version
 * (0x30) through the xAPIC page while it parses the MP table, before it
 * turns x2APIC mode on. A page holding those two registers answers the
 * reads without an instruction decoder; a write to it is an EPT violation
 * that stops the VM (SDM Vol. 3A 11.4.1 table 11-1 for the layout). */
#define XAPIC_PAGE_GPA 0xFEE00000ull
static bool map_xapic_page(struct vm *vm)
{
	uint64_t page = mm_alloc_zeroed_page();
	if (!page)
		return false;
	uint32_t *regs = (uint32_t *)(uintptr_t)page;
	regs[0x20 / 4] = 0;          /* APIC ID 0 in bits 31:24 */
	regs[0x30 / 4] = 0x00050014; /* version 0x14, 6 LVT entries */
	regs[0xF0 / 4] = 0xFF;       /* SVR: software-disabled, spurious 0xFF */
	regs[0x350 / 4] = 0x700;     /* LVT0: ExtINT, as vlapic_reset */
	return ept_map_range(vm->ept_root, XAPIC_PAGE_GPA, page, PAGE_SIZE, EPT_READ,
	                     ept_alloc_page, NULL) == 0;
}

bool arch_vm_init(struct vm *vm)
{
	vm->ept_root = mm_alloc_zeroed_page();
	return vm->ept_root &&
	       ept_map_range(vm->ept_root, 0, vm->mem_hpa, vm->mem_size, EPT_RWX, ept_alloc_page,
	                     NULL) == 0 &&
	       map_xapic_page(vm);
}

/* SDM 25.6: execution controls. */
static bool setup_execution_controls(struct vcpu *v)
{
	const struct vmx_caps *c = &vmx_host_caps;
	uint32_t pin, proc, proc2;
	/* External interrupts and NMIs belong to the host; the preemption
	 * timer ends time slices (it fires even when the guest has IF=0,
	 * unlike bochs' external-interrupt exits: PLATFORM.md deviation 1). */
	if (!control_value("pin-based", c->pin,
	                   PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING | PIN_PREEMPTION_TIMER,
	                   &pin))
		return false;
	/* HLT blocks the vCPU; every port access exits (the UART is emulated);
	 * no MSR bitmap, so every RDMSR/WRMSR exits. MOV to/from CR8 exits:
	 * the guest's task priority is its virtual APIC's, never the real TPR
	 * (which would mask hv's own interrupts, SDM Vol. 3A 11.8.6). */
	if (!control_value("processor-based", c->proc,
	                   PROC_HLT_EXITING | PROC_UNCONDITIONAL_IO_EXITING |
	                       PROC_SECONDARY_CONTROLS | PROC_USE_TSC_OFFSETTING |
	                       PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING,
	                   &proc))
		return false;
	uint32_t want2 = PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST |
	                 (c->vpid ? PROC2_ENABLE_VPID : 0) | PROC2_ENABLE_RDTSCP;
	if (!(c->proc2 >> 32 & PROC2_ENABLE_RDTSCP))
		want2 &= ~PROC2_ENABLE_RDTSCP;
	if (!control_value("secondary processor-based", c->proc2, want2, &proc2))
		return false;
	vmcs_write(VMCS_PIN_BASED_CTLS, pin);
	vmcs_write(VMCS_PROC_BASED_CTLS, proc);
	vmcs_write(VMCS_PROC_BASED_CTLS2, proc2);
	vmcs_write(VMCS_EXCEPTION_BITMAP, 0); /* the guest handles its own faults */
	vmcs_write(VMCS_PF_ERROR_CODE_MASK, 0);
	vmcs_write(VMCS_PF_ERROR_CODE_MATCH, 0);
	vmcs_write(VMCS_CR3_TARGET_COUNT, 0);
	/* SDM 25.6.5: with "use TSC offsetting" (and no RDTSC exiting) RDTSC
	 * and RDTSCP return the host TSC plus this offset; 0 until a migration
	 * moves the guest to another host's clock. */
	vmcs_write(VMCS_TSC_OFFSET, v->tsc_offset);
	/* A/D flags on where the CPU has them: the A/D and PML dirty trackers
	 * need them, and they cost no exits (SDM 29.3.5). */
	vmcs_write(VMCS_EPT_POINTER, ept_pointer(v->vm->ept_root, c->ept_ad));
	if (c->vpid)
		vmcs_write(VMCS_VPID, v->vm->id + 1); /* 0 is the host's */
	/* SDM 25.6.6: hv owns every CR0 and CR4 bit, so each write that
	 * changes one exits to the one validator (cr.c), which raises #GP
	 * where a CPU would and keeps the bits VMX operation needs (CR0.NE,
	 * CR4.VMXE) in the real registers; the guest reads the shadows,
	 * exactly what it wrote. */
	vmcs_write(VMCS_CR0_GUEST_HOST_MASK, ~0ull);
	vmcs_write(VMCS_CR0_READ_SHADOW, CR0_PE | CR0_ET);
	vmcs_write(VMCS_CR4_GUEST_HOST_MASK, ~0ull);
	vmcs_write(VMCS_CR4_READ_SHADOW, 0);
	vmcs_write(VMCS_LINK_POINTER, ~0ull); /* no shadow VMCS (SDM 26.3.1.5) */
	return true;
}

/* SDM 25.7 and 25.8: exit and entry controls. */
static bool setup_exit_entry_controls(void)
{
	const struct vmx_caps *c = &vmx_host_caps;
	uint32_t exit, entry;
	/* DR7 and IA32_DEBUGCTL, PAT and EFER are switched by the CPU: saved
	 * at exit, loaded at entry (SDM 25.7.1, 25.8.1; without the debug
	 * controls a VM exit sets DR7 to 0x400 and the guest's breakpoints
	 * are lost, SDM 28.5.1). */
	if (!control_value("VM-exit", c->exit,
	                   EXIT_HOST_ADDRESS_SPACE_SIZE | EXIT_ACK_INTERRUPT_ON_EXIT |
	                       EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER |
	                       EXIT_SAVE_DEBUG_CONTROLS | EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT,
	                   &exit) ||
	    !control_value("VM-entry", c->entry,
	                   ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_LOAD_IA32_PAT,
	                   &entry))
		return false;
	vmcs_write(VMCS_EXIT_CTLS, exit);
	vmcs_write(VMCS_ENTRY_CTLS, entry); /* not IA-32e: PVH starts in 32-bit mode */
	vmcs_write(VMCS_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
	return true;
}

/* SDM 25.5: host state, loaded on every exit; checked per SDM 27.2.2-27.2.4. */
static void setup_host_state(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr;
	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	vmcs_write(VMCS_HOST_CR0, read_cr0());
	vmcs_write(VMCS_HOST_CR3, read_cr3());
	vmcs_write(VMCS_HOST_CR4, read_cr4());
	vmcs_write(VMCS_HOST_CS_SEL, GDT_SEL_CODE);
	vmcs_write(VMCS_HOST_SS_SEL, GDT_SEL_DATA);
	vmcs_write(VMCS_HOST_DS_SEL, GDT_SEL_DATA);
	vmcs_write(VMCS_HOST_ES_SEL, GDT_SEL_DATA);
	vmcs_write(VMCS_HOST_FS_SEL, 0);
	vmcs_write(VMCS_HOST_GS_SEL, 0);
	vmcs_write(VMCS_HOST_TR_SEL, GDT_SEL_TSS);
	vmcs_write(VMCS_HOST_FS_BASE, 0);
	vmcs_write(VMCS_HOST_GS_BASE, 0);
	vmcs_write(VMCS_HOST_TR_BASE, gdt_tss_base());
	vmcs_write(VMCS_HOST_GDTR_BASE, gdtr.base);
	vmcs_write(VMCS_HOST_IDTR_BASE, idt_base());
	vmcs_write(VMCS_HOST_SYSENTER_CS, 0);
	vmcs_write(VMCS_HOST_SYSENTER_ESP, 0);
	vmcs_write(VMCS_HOST_SYSENTER_EIP, 0);
	vmcs_write(VMCS_HOST_IA32_EFER, rdmsr(MSR_IA32_EFER));
	vmcs_write(VMCS_HOST_IA32_PAT, rdmsr(0x277));
	vmcs_write(VMCS_HOST_RIP, (uint64_t)(uintptr_t)vmx_exit_stub);
	/* HOST_RSP is written by vmx_enter right before each entry. */
}

/* SDM 25.4 guest state for the PVH entry: 32-bit protected mode, paging
 * off (allowed by unrestricted guest, SDM 26.3.1.1), flat 4 GiB segments. */
static void setup_guest_state(uint32_t entry)
{
	const struct vmx_caps *c = &vmx_host_caps;
	/* PE and PG may be 0 with unrestricted guest; NE (fixed0) must be 1. */
	vmcs_write(VMCS_GUEST_CR0, ((CR0_PE | CR0_ET | c->cr0_fixed0) & ~CR0_PG) & c->cr0_fixed1);
	vmcs_write(VMCS_GUEST_CR3, 0);
	vmcs_write(VMCS_GUEST_CR4, (c->cr4_fixed0 | CR4_VMXE) & c->cr4_fixed1);
	vmcs_write(VMCS_GUEST_DR7, 0x400);
	vmcs_write(VMCS_GUEST_RSP, 0);
	vmcs_write(VMCS_GUEST_RIP, entry);
	vmcs_write(VMCS_GUEST_RFLAGS, 0x2); /* bit 1 is reserved-1 */
	static const struct {
		uint64_t sel, base, limit, ar, value_sel;
	} segs[] = {
	    /* Access rights (SDM 25.4.1, table 25-2): 0xC09B = 32-bit
	     * code, accessed, G; 0xC093 = 32-bit data, accessed, G. */
	    {VMCS_GUEST_CS_SEL, VMCS_GUEST_CS_BASE, VMCS_GUEST_CS_LIMIT, VMCS_GUEST_CS_AR, 0x08},
	    {VMCS_GUEST_SS_SEL, VMCS_GUEST_SS_BASE, VMCS_GUEST_SS_LIMIT, VMCS_GUEST_SS_AR, 0x10},
	    {VMCS_GUEST_DS_SEL, VMCS_GUEST_DS_BASE, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_DS_AR, 0x10},
	    {VMCS_GUEST_ES_SEL, VMCS_GUEST_ES_BASE, VMCS_GUEST_ES_LIMIT, VMCS_GUEST_ES_AR, 0x10},
	    {VMCS_GUEST_FS_SEL, VMCS_GUEST_FS_BASE, VMCS_GUEST_FS_LIMIT, VMCS_GUEST_FS_AR, 0x10},
	    {VMCS_GUEST_GS_SEL, VMCS_GUEST_GS_BASE, VMCS_GUEST_GS_LIMIT, VMCS_GUEST_GS_AR, 0x10},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(segs); i++) {
		vmcs_write(segs[i].sel, segs[i].value_sel);
		vmcs_write(segs[i].base, 0);
		vmcs_write(segs[i].limit, 0xFFFFFFFF);
		vmcs_write(segs[i].ar, i == 0 ? 0xC09B : 0xC093);
	}
	/* TR must be a busy TSS (type 11) even if the guest never uses it;
	 * LDTR is marked unusable (AR bit 16), SDM 26.3.1.2. */
	vmcs_write(VMCS_GUEST_TR_SEL, 0x18);
	vmcs_write(VMCS_GUEST_TR_BASE, 0);
	vmcs_write(VMCS_GUEST_TR_LIMIT, 0x67);
	vmcs_write(VMCS_GUEST_TR_AR, 0x8B);
	vmcs_write(VMCS_GUEST_LDTR_SEL, 0);
	vmcs_write(VMCS_GUEST_LDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_LDTR_LIMIT, 0);
	vmcs_write(VMCS_GUEST_LDTR_AR, 0x10000);
	vmcs_write(VMCS_GUEST_GDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_GDTR_LIMIT, 0);
	vmcs_write(VMCS_GUEST_IDTR_BASE, 0);
	vmcs_write(VMCS_GUEST_IDTR_LIMIT, 0);
	vmcs_write(VMCS_GUEST_IA32_EFER, 0);
	vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(VMCS_GUEST_IA32_PAT, 0x0007040600070406ull); /* power-on (SDM 13.12.4) */
	vmcs_write(VMCS_GUEST_SYSENTER_CS, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_ESP, 0);
	vmcs_write(VMCS_GUEST_SYSENTER_EIP, 0);
	vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmcs_write(VMCS_GUEST_ACTIVITY_STATE, 0);
	vmcs_write(VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
}

bool arch_vcpu_init(struct vcpu *v, uint32_t entry, uint32_t start_info_gpa)
{
	/* A slot taken again (vm.c) brings its VMCS page: VMCLEAR below makes
	 * it clear and not launched again (SDM Vol. 3C 24.1, 24.11.3). */
	if (v->vmcs_pa) {
		/* Flushed first: a VMCS the CPU still caches would be written
		 * back over the cleared page. */
		if (vmclear(v->vmcs_pa) != VMX_OK)
			return false;
		memset((void *)(uintptr_t)v->vmcs_pa, 0, PAGE_SIZE);
	} else
		v->vmcs_pa = mm_alloc_zeroed_page();
	if (!v->vmcs_pa)
		return false;
	*(uint32_t *)(uintptr_t)v->vmcs_pa = vmx_host_caps.vmcs_revision;
	if (vmclear(v->vmcs_pa) != VMX_OK || vmptrld(v->vmcs_pa) != VMX_OK)
		return false;
	if (!setup_execution_controls(v) || !setup_exit_entry_controls())
		return false;
	setup_host_state();
	setup_guest_state(entry);
	memset(&v->regs, 0, sizeof v->regs);
	v->regs.rbx = start_info_gpa; /* PVH: EBX = hvm_start_info */
	/* Power-on values of the switched state (SDM Vol. 3A 9.1.1 table 9-1). */
	memset(v->swapped_msrs, 0, sizeof v->swapped_msrs);
	memset(v->dr, 0, sizeof v->dr);
	v->dr6 = 0xFFFF0FF0;
	v->cr2 = 0;
	v->launched = false;
	xsave_vcpu_reset(v); /* a clean FPU, XCR0 = 1 */
	v->fpu_saved = true;
	return true;
}

void vmx_inject_exception(unsigned vector, bool has_error_code, uint32_t error_code)
{
	vmcs_write(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | vector |
	                                     (has_error_code ? INTR_DELIVER_ERROR_CODE : 0));
	if (has_error_code)
		vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR_CODE, error_code);
}

uint64_t *vcpu_gpr(struct vcpu *v, unsigned n)
{
	static uint64_t rsp_scratch;
	uint64_t *order[16] = {&v->regs.rax, &v->regs.rcx, &v->regs.rdx, &v->regs.rbx,
	                       &rsp_scratch, &v->regs.rbp, &v->regs.rsi, &v->regs.rdi,
	                       &v->regs.r8,  &v->regs.r9,  &v->regs.r10, &v->regs.r11,
	                       &v->regs.r12, &v->regs.r13, &v->regs.r14, &v->regs.r15};
	if (n == 4)
		rsp_scratch = vmcs_read(VMCS_GUEST_RSP);
	return order[n & 15];
}

/* The guest state VT-x does not switch, that a guest reads and writes
 * without an exit (DESIGN.md "Hypervisor core"): loaded when a vCPU takes
 * the CPU, saved when another one does (lazily: hv itself never uses it).
 *   x87, SSE, AVX  the XSAVE area (xsave.c; FXSAVE where the CPU has no
 *                  XSAVE), saved and loaded with hv's XCR0 = x87|SSE|AVX
 *   XCR0           loaded right before each VM entry, hv's put back right
 *                  after the exit (xsave.c: VT-x does not switch it)
 *   DR0-DR3, DR6   MOV DR does not exit
 *   CR2            the last page-fault address
 *   STAR LSTAR CSTAR SFMASK KERNEL_GS_BASE TSC_AUX   vcpu_swapped_msrs[]
 * The rest of what a guest can write is switched by VT-x itself (the VMCS
 * guest-state area: CR0/CR3/CR4 and their shadows, DR7 and DEBUGCTL, EFER,
 * PAT, SYSENTER, FS/GS base, segments; SDM Vol. 3C 25.4, 27.3.2, 28.3),
 * exits (CR8, every MSR, XSETBV) or is refused: PKRU needs CR4.PKE, #GP
 * while PKU is hidden (cr.c), and XCR0 never enables PKRU (xsave.c).
 * tests/guests/hostile: a marker written into each from one VM is never
 * seen by another. */
const uint32_t vcpu_swapped_msrs[VCPU_SWAPPED_MSRS] = {0xC0000081, 0xC0000082, 0xC0000083,
                                                       0xC0000084, 0xC0000102, 0xC0000103};

bool vcpu_msr_is_switched(unsigned i)
{
	return i < VCPU_SWAPPED_MSRS && (i != VCPU_MSR_TSC_AUX || host_has_tsc_aux);
}

static void switch_to(struct vcpu *v)
{
	if (fpu_owner == v)
		return;
	if (fpu_owner)
		arch_vcpu_release_fpu(fpu_owner);
	xsave_load(v);
	v->fpu_saved = false;
	for (unsigned i = 0; i < VCPU_SWAPPED_MSRS; i++)
		if (vcpu_msr_is_switched(i))
			wrmsr(vcpu_swapped_msrs[i], v->swapped_msrs[i]);
	write_dr0(v->dr[0]);
	write_dr1(v->dr[1]);
	write_dr2(v->dr[2]);
	write_dr3(v->dr[3]);
	write_dr6(v->dr6);
	write_cr2(v->cr2);
	fpu_owner = v;
}

void arch_vcpu_release_fpu(struct vcpu *v)
{
	if (fpu_owner != v)
		return;
	xsave_save(v);
	v->fpu_saved = true;
	for (unsigned i = 0; i < VCPU_SWAPPED_MSRS; i++)
		if (vcpu_msr_is_switched(i))
			v->swapped_msrs[i] = rdmsr(vcpu_swapped_msrs[i]);
	v->dr[0] = read_dr0();
	v->dr[1] = read_dr1();
	v->dr[2] = read_dr2();
	v->dr[3] = read_dr3();
	v->dr6 = read_dr6();
	v->cr2 = read_cr2();
	fpu_owner = NULL;
}

/* Delivers the highest pending interrupt if the guest can take it now
 * (RFLAGS.IF=1, no STI/MOV-SS blocking: SDM 26.3.1.5), else asks for an
 * interrupt-window exit (SDM 25.6.2). The x2APIC's come first; then the
 * PIC's, as ExtINT through LVT0 (no priority, no TPR: SDM 11.5.1). */
static void deliver_interrupts(struct vcpu *v)
{
	int vector = vlapic_pending_vector(&v->lapic);
	bool from_pic = false;
	if (vector < 0 && vlapic_extint_enabled(&v->lapic)) {
		vector = vpic_pending_vector(&v->vm->pic);
		from_pic = vector >= 0;
	}
	uint64_t proc = vmcs_read(VMCS_PROC_BASED_CTLS);
	if (vector < 0 || (vmcs_read(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID)) {
		if (proc & PROC_INTERRUPT_WINDOW_EXITING && vector < 0)
			vmcs_write(VMCS_PROC_BASED_CTLS, proc & ~PROC_INTERRUPT_WINDOW_EXITING);
		return;
	}
	bool can_take = (vmcs_read(VMCS_GUEST_RFLAGS) & (1u << 9)) &&
	                !(vmcs_read(VMCS_GUEST_INTERRUPTIBILITY) &
	                  (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
	if (can_take) {
		if (from_pic)
			vpic_ack(&v->vm->pic);
		else
			vlapic_ack(&v->lapic, vector);
		vmcs_write(VMCS_ENTRY_INTR_INFO,
		           INTR_INFO_VALID | INTR_TYPE_EXTERNAL | (uint32_t)vector);
		vmcs_write(VMCS_PROC_BASED_CTLS, proc & ~PROC_INTERRUPT_WINDOW_EXITING);
	} else {
		vmcs_write(VMCS_PROC_BASED_CTLS, proc | PROC_INTERRUPT_WINDOW_EXITING);
	}
}

bool vcpu_interrupt_pending(const struct vcpu *v)
{
	return vlapic_pending_vector(&v->lapic) >= 0 ||
	       (vlapic_extint_enabled(&v->lapic) && vpic_pending_vector(&v->vm->pic) >= 0);
}
/* The RIP after an instruction of length len that hv completed for the
 * guest. In 64-bit mode (IA-32e guest, CS.L) it is the full 64-bit sum;
 * outside it the instruction pointer is 32 bits and wraps (SDM Vol. 1
 * 3.5), and VM entry requires RIP[63:32] clear there (SDM Vol. 3C
 * 27.3.1.4). */
static bool guest_in_64bit_mode(void)
{
	return (vmcs_read(VMCS_ENTRY_CTLS) & ENTRY_IA32E_MODE_GUEST) &&
	       (vmcs_read(VMCS_GUEST_CS_AR) & (1u << 13)); /* CS.L */
}

static uint64_t next_rip(uint32_t len)
{
	uint64_t rip = vmcs_read(VMCS_GUEST_RIP) + len;
	return guest_in_64bit_mode() ? rip : (uint32_t)rip;
}

static bool next_rip_is_legal(uint32_t len)
{
	return !guest_in_64bit_mode() || is_canonical(next_rip(len));
}

extern const exit_handler_fn exit_handlers[VM_EXIT_REASONS];

void arch_vcpu_run(struct vcpu *v, uint64_t slice_end_tsc)
{
	struct vm *vm = v->vm;
	if (vmptrld(v->vmcs_pa) != VMX_OK) {
		vm_stop(vm, 255, "VMPTRLD of its VMCS failed");
		return;
	}
	switch_to(v);
	unsigned guest_account = ACCOUNT_GUEST(vm->id), hv_account = ACCOUNT_HV(vm->id);
	power_switch_to(hv_account);
	while (v->state == VCPU_RUNNABLE && !vm->stopped) {
		power_settle(false); /* the accounting tick: at most 1 ms apart */
		uint64_t now = rdtsc();
		vlapic_tick(v, now);
		if (now >= slice_end_tsc)
			return;
		deliver_interrupts(v);
		/* The slice ends at the earlier of its end and the guest's timer,
		 * so a timer interrupt is never late by more than one exit. */
		uint64_t until = slice_end_tsc;
		if (v->lapic.timer_deadline && v->lapic.timer_deadline < until)
			until = v->lapic.timer_deadline;
		if (power_next_tick_tsc() < until)
			until = power_next_tick_tsc();
		uint64_t ticks =
		    until > now ? (until - now) >> vmx_host_caps.preemption_timer_rate : 0;
		vmcs_write(VMCS_PREEMPTION_TIMER_VALUE,
		           ticks > 0xFFFFFFFFull ? 0xFFFFFFFFull : ticks);

		power_switch_to(guest_account);
		uint64_t entered = rdtsc();
		xsave_enter_guest(v);
		int failed = vmx_enter(&v->regs, v->launched);
		xsave_leave_guest(v);
		uint64_t exited = rdtsc();
		power_switch_to(hv_account);
		vm->guest_tsc += exited - entered;
		if (failed) {
			uint64_t error = vmcs_read(VMCS_VM_INSTRUCTION_ERROR);
			vmx_dump_guest_state(v, "VM entry failed");
			vm_stop(vm, 255,
			        "VM entry failed: VMLAUNCH/VMRESUME VM-instruction error %llu "
			        "(SDM Vol. 3C 31.4)",
			        (unsigned long long)error);
			return;
		}
		v->launched = true;
		struct vmx_exit e = {
		    .reason = (uint32_t)vmcs_read(VMCS_EXIT_REASON),
		    .qualification = vmcs_read(VMCS_EXIT_QUALIFICATION),
		    .instruction_length = (uint32_t)vmcs_read(VMCS_EXIT_INSTRUCTION_LENGTH),
		};
		bool entry_failed = e.reason >> 31; /* SDM 28.2.1: bit 31 = VM-entry failure */
		e.reason &= 0xffff;
		/* An event that was being delivered when the exit came must be
		 * delivered again (SDM 28.2.4 IDT-vectoring information). */
		uint32_t vectoring = (uint32_t)vmcs_read(VMCS_IDT_VECTORING_INFO);
		if (vectoring & INTR_INFO_VALID) {
			vmcs_write(VMCS_ENTRY_INTR_INFO, vectoring & ~(1u << 12));
			if (vectoring & INTR_DELIVER_ERROR_CODE)
				vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR_CODE,
				           vmcs_read(VMCS_IDT_VECTORING_ERROR_CODE));
		}
		/* An entry with the preemption timer at zero exits before the
		 * guest runs an instruction. A guest whose timer is due at every
		 * entry would never run again: vlapic.c bounds timer periods,
		 * and this bounds what is left (SDM 26.7.4). */
		if (ticks == 0 && e.reason == EXIT_PREEMPTION_TIMER && !entry_failed) {
			if (++v->entries_without_progress >= vm_limit(vm, LIMIT_NO_PROGRESS)) {
				vm_limit_exceeded(vm, LIMIT_NO_PROGRESS,
				                  v->entries_without_progress);
				vm_stop(vm, 255,
				        "made no progress in %u entries in a row (its timer is "
				        "due at every entry)",
				        v->entries_without_progress);
				return;
			}
		} else {
			v->entries_without_progress = 0;
		}
		if (e.reason < VM_EXIT_REASONS)
			vm->exits[e.reason]++;
		else
			vm->exits_other++;
		exit_handler_fn handler = entry_failed ? exit_entry_failure
		                          : e.reason < VM_EXIT_REASONS && exit_handlers[e.reason]
		                              ? exit_handlers[e.reason]
		                              : NULL;
		enum exit_action action;
		if (handler) {
			action = handler(v, &e);
		} else {
			vmx_dump_guest_state(v, "unhandled VM exit");
			vm_stop(vm, 255, "unhandled VM exit reason %u (qualification 0x%llx)",
			        e.reason, (unsigned long long)e.qualification);
			action = EXIT_STOP;
		}
		if (action == EXIT_NEXT_INSN && !next_rip_is_legal(e.instruction_length)) {
			/* The instruction ends at the top of the canonical lower half:
			 * a CPU raises #GP(0) rather than run at a non-canonical RIP,
			 * and VM entry would fail on it (SDM Vol. 3C 27.3.1.4). */
			vmx_inject_exception(13, true, 0);
			action = EXIT_RESUME;
		}
		if (action == EXIT_NEXT_INSN) {
			vmcs_write(VMCS_GUEST_RIP, next_rip(e.instruction_length));
			/* An instruction hv completed for the guest single-steps as the
			 * CPU's own would: with RFLAGS.TF set, a #DB trap after it,
			 * queued as a pending single-step (BS) for the entry to deliver
			 * (SDM Vol. 3C 25.4.2 pending debug exceptions, 27.7.3). */
			if (vmcs_read(VMCS_GUEST_RFLAGS) & (1u << 8))
				vmcs_write(VMCS_GUEST_PENDING_DBG_EXCEPTIONS,
				           vmcs_read(VMCS_GUEST_PENDING_DBG_EXCEPTIONS) |
				               (1u << 14));
			/* Past the instruction, STI/MOV-SS blocking is over (SDM 26.3.1.5). */
			uint64_t intr = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);
			if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
				vmcs_write(VMCS_GUEST_INTERRUPTIBILITY,
				           intr & ~(uint64_t)(INTERRUPTIBILITY_STI |
				                              INTERRUPTIBILITY_MOV_SS));
		}
		vm->hv_tsc += rdtsc() - exited;
		if (action == EXIT_STOP || action == EXIT_END_SLICE)
			return;
	}
}

void vmx_dump_guest_state(struct vcpu *v, const char *why)
{
	static const struct {
		const char *name;
		uint32_t field;
	} fields[] = {
	    {"RIP", VMCS_GUEST_RIP},
	    {"RSP", VMCS_GUEST_RSP},
	    {"RFLAGS", VMCS_GUEST_RFLAGS},
	    {"CR0", VMCS_GUEST_CR0},
	    {"CR3", VMCS_GUEST_CR3},
	    {"CR4", VMCS_GUEST_CR4},
	    {"EFER", VMCS_GUEST_IA32_EFER},
	    {"CS", VMCS_GUEST_CS_SEL},
	    {"CS.AR", VMCS_GUEST_CS_AR},
	    {"SS.AR", VMCS_GUEST_SS_AR},
	    {"TR.AR", VMCS_GUEST_TR_AR},
	    {"ENTRY_CTLS", VMCS_ENTRY_CTLS},
	    {"EXIT_REASON", VMCS_EXIT_REASON},
	    {"EXIT_QUAL", VMCS_EXIT_QUALIFICATION},
	    {"INTR_STATE", VMCS_GUEST_INTERRUPTIBILITY},
	    {"GPA", VMCS_GUEST_PHYSICAL_ADDRESS},
	};
	kprintf("hv: %s: %s guest state:\n", v->vm->name, why);
	for (unsigned i = 0; i < ARRAY_SIZE(fields); i++)
		kprintf("  %-12s %016llx%s", fields[i].name,
		        (unsigned long long)vmcs_read(fields[i].field), i % 2 ? "\n" : "");
	const struct guest_regs *r = &v->regs;
	kprintf("  RAX %016llx RBX %016llx RCX %016llx RDX %016llx\n"
	        "  RSI %016llx RDI %016llx RBP %016llx\n",
	        (unsigned long long)r->rax, (unsigned long long)r->rbx, (unsigned long long)r->rcx,
	        (unsigned long long)r->rdx, (unsigned long long)r->rsi, (unsigned long long)r->rdi,
	        (unsigned long long)r->rbp);
}
