/* Runs in the scheduler loop, with the VM paused: the vCPU's state as a
 * byte blob, for migration (and any later snapshot). Everything VT-x keeps
 * in the VMCS guest-state area (SDM Vol. 3C 25.4), the controls that depend
 * on guest mode, the GPRs, XCR0 and the XSAVE area (x87, SSE, AVX) and the
 * MSRs VT-x does not switch. The blob is a list of {u32 field, u64 value} pairs plus fixed
 * sections, so a reader can check every length. */
#include "lib/lib.h"
#include "snapshot/snapshot.h"
#include "vmx/exits.h"
#include "x86/x86.h"

static const uint32_t saved_fields[] = {
    VMCS_GUEST_ES_SEL,
    VMCS_GUEST_CS_SEL,
    VMCS_GUEST_SS_SEL,
    VMCS_GUEST_DS_SEL,
    VMCS_GUEST_FS_SEL,
    VMCS_GUEST_GS_SEL,
    VMCS_GUEST_LDTR_SEL,
    VMCS_GUEST_TR_SEL,
    VMCS_GUEST_ES_LIMIT,
    VMCS_GUEST_CS_LIMIT,
    VMCS_GUEST_SS_LIMIT,
    VMCS_GUEST_DS_LIMIT,
    VMCS_GUEST_FS_LIMIT,
    VMCS_GUEST_GS_LIMIT,
    VMCS_GUEST_LDTR_LIMIT,
    VMCS_GUEST_TR_LIMIT,
    VMCS_GUEST_GDTR_LIMIT,
    VMCS_GUEST_IDTR_LIMIT,
    VMCS_GUEST_ES_AR,
    VMCS_GUEST_CS_AR,
    VMCS_GUEST_SS_AR,
    VMCS_GUEST_DS_AR,
    VMCS_GUEST_FS_AR,
    VMCS_GUEST_GS_AR,
    VMCS_GUEST_LDTR_AR,
    VMCS_GUEST_TR_AR,
    VMCS_GUEST_INTERRUPTIBILITY,
    VMCS_GUEST_ACTIVITY_STATE,
    VMCS_GUEST_SYSENTER_CS,
    VMCS_GUEST_CR0,
    VMCS_GUEST_CR3,
    VMCS_GUEST_CR4,
    VMCS_GUEST_ES_BASE,
    VMCS_GUEST_CS_BASE,
    VMCS_GUEST_SS_BASE,
    VMCS_GUEST_DS_BASE,
    VMCS_GUEST_FS_BASE,
    VMCS_GUEST_GS_BASE,
    VMCS_GUEST_LDTR_BASE,
    VMCS_GUEST_TR_BASE,
    VMCS_GUEST_GDTR_BASE,
    VMCS_GUEST_IDTR_BASE,
    VMCS_GUEST_DR7,
    VMCS_GUEST_RSP,
    VMCS_GUEST_RIP,
    VMCS_GUEST_RFLAGS,
    VMCS_GUEST_PENDING_DBG_EXCEPTIONS,
    VMCS_GUEST_SYSENTER_ESP,
    VMCS_GUEST_SYSENTER_EIP,
    VMCS_GUEST_IA32_EFER,
    VMCS_GUEST_IA32_DEBUGCTL,
    VMCS_GUEST_IA32_PAT,
    /* PAE paging's PDPTEs, loaded by the VM entry (SDM 27.3.2.4) */
    VMCS_GUEST_PDPTE0,
    VMCS_GUEST_PDPTE1,
    VMCS_GUEST_PDPTE2,
    VMCS_GUEST_PDPTE3,
    /* CR0/CR4 as the guest believes them (SDM 25.6.6) */
    VMCS_CR0_READ_SHADOW,
    VMCS_CR4_READ_SHADOW,
    /* an event being delivered (SDM 25.8.3) */
    VMCS_ENTRY_INTR_INFO,
    VMCS_ENTRY_EXCEPTION_ERROR_CODE,
};
#define FIELD_COUNT    ARRAY_SIZE(saved_fields)
#define STATE_MAGIC    0x3356434Au /* "JCV3": JCV2 plus XCR0 and the XSAVE area */
#define STATE_MAGIC_V2 0x3256434Au /* "JCV2": FXSAVE area only, no XCR0 */

struct vcpu_blob {
	uint32_t magic, field_count;
	struct {
		uint32_t field;
		uint32_t pad;
		uint64_t value;
	} fields[FIELD_COUNT];
	uint64_t ia32e_mode; /* the IA-32e-mode-guest entry control (SDM 25.8.1) */
	uint64_t interrupt_window;
	struct guest_regs regs;
	uint64_t swapped_msrs[VCPU_SWAPPED_MSRS];
	uint64_t dr[4], dr6, cr2; /* the rest of the switched state (vcpu.c) */
	uint64_t xcr0;
	uint8_t fpu_area[VCPU_FPU_AREA_SIZE]; /* XSAVE standard format (xsave.c) */
};

static bool save_blob(struct vcpu *v, struct vcpu_blob *b)
{
	if (vmptrld(v->vmcs_pa) != VMX_OK)
		return false;
	arch_vcpu_release_fpu(v);
	b->magic = STATE_MAGIC;
	b->field_count = FIELD_COUNT;
	for (unsigned i = 0; i < FIELD_COUNT; i++) {
		b->fields[i].field = saved_fields[i];
		b->fields[i].pad = 0;
		b->fields[i].value = vmcs_read(saved_fields[i]);
	}
	b->ia32e_mode = !!(vmcs_read(VMCS_ENTRY_CTLS) & ENTRY_IA32E_MODE_GUEST);
	b->interrupt_window = !!(vmcs_read(VMCS_PROC_BASED_CTLS) & PROC_INTERRUPT_WINDOW_EXITING);
	b->regs = v->regs;
	memcpy(b->swapped_msrs, v->swapped_msrs, sizeof b->swapped_msrs);
	memcpy(b->dr, v->dr, sizeof b->dr);
	b->dr6 = v->dr6;
	b->cr2 = v->cr2;
	b->xcr0 = v->xcr0;
	memcpy(b->fpu_area, v->fpu_area, sizeof b->fpu_area);
	return true;
}

bool arch_vcpu_set_tsc_offset(struct vcpu *v, uint64_t offset)
{
	if (vmptrld(v->vmcs_pa) != VMX_OK)
		return false;
	v->tsc_offset = offset;
	vmcs_write(VMCS_TSC_OFFSET, offset); /* SDM 25.6.5 */
	return true;
}

static uint64_t blob_field(const struct vcpu_blob *b, uint32_t field)
{
	for (unsigned i = 0; i < FIELD_COUNT; i++)
		if (saved_fields[i] == field)
			return b->fields[i].value;
	return 0; /* not reached: every field asked for is saved */
}

/* Whether restore_blob would take the blob into v: its layout, an
 * XSAVE state this CPU can load, control registers the guest could have
 * reached and the VM entry takes (cr.c). False with the reason in why. */
static bool vcpu_blob_check(struct vcpu *v, const uint8_t *in, char *why, size_t why_len)
{
	const struct vcpu_blob *b = (const struct vcpu_blob *)in;
	if (b->magic == STATE_MAGIC_V2) {
		/* A JCV2 blob has no XCR0 and no AVX state: restoring it would
		 * lose the guest's YMM upper halves without a word. */
		fmt_snprintf(why, why_len,
		             "JCV2, from an hv without XSAVE switching (no XCR0, no AVX state); "
		             "this hv takes JCV3");
		return false;
	}
	if (b->magic != STATE_MAGIC || b->field_count != FIELD_COUNT) {
		fmt_snprintf(why, why_len, "not a JCV3 vCPU state of %u VMCS fields",
		             (unsigned)FIELD_COUNT);
		return false;
	}
	for (unsigned i = 0; i < FIELD_COUNT; i++)
		if (b->fields[i].field != saved_fields[i] || b->fields[i].pad) {
			fmt_snprintf(why, why_len, "VMCS field %u is 0x%x where this hv saves 0x%x",
			             i, b->fields[i].field, saved_fields[i]);
			return false; /* another layout: refuse rather than guess */
		}
	/* An XCR0 or area this host's XSETBV/XRSTOR would #GP on (a host
	 * without AVX, a corrupt blob) is refused before hv loads it. */
	if (!xsave_area_valid(b->fpu_area, b->xcr0)) {
		fmt_snprintf(why, why_len, "XCR0 0x%llx or its XSAVE area cannot be loaded here",
		             (unsigned long long)b->xcr0);
		return false;
	}
	struct vcpu_control_state c = {
	    .cr0_shadow = blob_field(b, VMCS_CR0_READ_SHADOW),
	    .cr4_shadow = blob_field(b, VMCS_CR4_READ_SHADOW),
	    .cr3 = blob_field(b, VMCS_GUEST_CR3),
	    .efer = blob_field(b, VMCS_GUEST_IA32_EFER),
	    .rflags = blob_field(b, VMCS_GUEST_RFLAGS),
	    .rip = blob_field(b, VMCS_GUEST_RIP),
	    .cs_ar = blob_field(b, VMCS_GUEST_CS_AR),
	    .activity_state = blob_field(b, VMCS_GUEST_ACTIVITY_STATE),
	    .interruptibility = blob_field(b, VMCS_GUEST_INTERRUPTIBILITY),
	    .entry_intr_info = blob_field(b, VMCS_ENTRY_INTR_INFO),
	    .dr7 = blob_field(b, VMCS_GUEST_DR7),
	    .debugctl = blob_field(b, VMCS_GUEST_IA32_DEBUGCTL),
	    .pat = blob_field(b, VMCS_GUEST_IA32_PAT),
	    .sysenter_esp = blob_field(b, VMCS_GUEST_SYSENTER_ESP),
	    .sysenter_eip = blob_field(b, VMCS_GUEST_SYSENTER_EIP),
	    .fs_base = blob_field(b, VMCS_GUEST_FS_BASE),
	    .gs_base = blob_field(b, VMCS_GUEST_GS_BASE),
	    .ia32e = b->ia32e_mode != 0,
	};
	/* hv loads the swapped MSRs into the real ones (vcpu.c): a value the
	 * CPU refuses would fault in hv, not in the guest. */
	bool msrs_ok = true;
	for (unsigned i = 0; i < VCPU_SWAPPED_MSRS; i++)
		if (vcpu_msr_is_switched(i) && !vcpu_swapped_msr_value_ok(i, b->swapped_msrs[i]))
			msrs_ok = false;
	const char *problem = b->ia32e_mode > 1 || b->interrupt_window > 1
	                          ? "a control flag neither 0 nor 1"
	                      : b->dr6 >> 32 ? "DR6 has bits 63:32 set (SDM Vol. 3A 17.2.3)"
	                      : !msrs_ok     ? "a syscall MSR the CPU would refuse (non-canonical, "
	                                       "or upper bits of SFMASK or TSC_AUX)"
	                                     : vcpu_control_state_problem(v, &c);
	if (problem) {
		fmt_snprintf(why, why_len, "%s (CR0 0x%llx, CR4 0x%llx, EFER 0x%llx)", problem,
		             (unsigned long long)c.cr0_shadow, (unsigned long long)c.cr4_shadow,
		             (unsigned long long)c.efer);
		return false;
	}
	return true;
}

/* Only after vcpu_blob_check said yes (the snapshot walker checks every
 * section before it restores any). */
static bool restore_blob(struct vcpu *v, const struct vcpu_blob *b)
{
	if (vmptrld(v->vmcs_pa) != VMX_OK)
		return false;
	/* If this vCPU's state is in the registers, park it first: the next
	 * switch_to then loads what the blob brings. */
	arch_vcpu_release_fpu(v);
	for (unsigned i = 0; i < FIELD_COUNT; i++)
		vmcs_write(b->fields[i].field, b->fields[i].value);
	/* The real CR0 and CR4 for this CPU, from what the guest wrote (the
	 * source's carry its VMX fixed bits, which may differ here). */
	vmcs_write(VMCS_GUEST_CR0, vcpu_real_cr0(blob_field(b, VMCS_CR0_READ_SHADOW)));
	vmcs_write(VMCS_GUEST_CR4, vcpu_real_cr4(blob_field(b, VMCS_CR4_READ_SHADOW)));
	uint64_t entry = vmcs_read(VMCS_ENTRY_CTLS);
	vmcs_write(VMCS_ENTRY_CTLS, b->ia32e_mode ? entry | ENTRY_IA32E_MODE_GUEST
	                                          : entry & ~(uint64_t)ENTRY_IA32E_MODE_GUEST);
	uint64_t proc = vmcs_read(VMCS_PROC_BASED_CTLS);
	vmcs_write(VMCS_PROC_BASED_CTLS, b->interrupt_window
	                                     ? proc | PROC_INTERRUPT_WINDOW_EXITING
	                                     : proc & ~(uint64_t)PROC_INTERRUPT_WINDOW_EXITING);
	v->regs = b->regs;
	memcpy(v->swapped_msrs, b->swapped_msrs, sizeof v->swapped_msrs);
	memcpy(v->dr, b->dr, sizeof v->dr);
	v->dr6 = b->dr6;
	v->cr2 = b->cr2;
	v->xcr0 = b->xcr0;
	memcpy(v->fpu_area, b->fpu_area, sizeof v->fpu_area);
	v->fpu_saved = true;
	return true;
}

/* ---- the vCPU's snapshot section (snapshot/snapshot.h) ---- */

static size_t vcpu_section_size(void)
{
	return sizeof(struct vcpu_blob);
}

static bool vcpu_section_save(struct vm *vm, struct snapshot_host *host, void *out)
{
	(void)host;
	return save_blob(&vm->vcpu, out);
}

static bool vcpu_section_check(const struct vm *vm, const struct snapshot_host *host,
                               const void *in, char *why, size_t why_len)
{
	(void)host;
	/* vcpu_cpuid reads the VM's configuration only: v is not changed. */
	return vcpu_blob_check((struct vcpu *)&vm->vcpu, in, why, why_len);
}

static bool vcpu_section_restore(struct vm *vm, struct snapshot_host *host, const void *in)
{
	(void)host;
	return restore_blob(&vm->vcpu, in);
}

const struct snapshot_section snapshot_vcpu_section = {
    .name = "vcpu",
    .tag = SNAPSHOT_TAG('C', 'P', 'U', '3'),
    .size = vcpu_section_size,
    .save = vcpu_section_save,
    .check = vcpu_section_check,
    .restore = vcpu_section_restore,
};
