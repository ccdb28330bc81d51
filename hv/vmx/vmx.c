/* Runs at boot: entering and leaving VMX operation (SDM Vol. 3C 24.7
 * "Enabling and Entering VMX Operation", 24.8 "Restrictions on VMX
 * Operation"). */
#include "vmx/vmx.h"
#include "lib/lib.h"
#include "mm/mm.h"
#include "vmx/vmx_insn.h"
#include "x86/x86.h"

#define CR4_VMXE (1ull << 13)

static const char *result_name(enum vmx_result r)
{
	return r == VMX_OK ? "ok" : r == VMX_FAIL_INVALID ? "fail-invalid" : "fail-valid";
}

/* CR0 and CR4 must respect the FIXED0 (must be 1) and FIXED1 (may be 1)
 * MSRs in VMX operation (SDM 24.8). */
static bool fix_control_registers(const struct vmx_caps *c)
{
	uint64_t cr0 = (read_cr0() | c->cr0_fixed0) & c->cr0_fixed1;
	uint64_t cr4 = (read_cr4() | CR4_VMXE | c->cr4_fixed0) & c->cr4_fixed1;
	if (!(cr4 & CR4_VMXE))
		return false;
	write_cr0(cr0);
	write_cr4(cr4);
	return true;
}

/* One VMXON, VMCLEAR, VMPTRLD, VMWRITE/VMREAD, VMPTRST, VMCLEAR, VMXOFF
 * round trip on this CPU (SDM Vol. 3C 24.7); NULL if every step worked,
 * else the step that failed. */
struct vmx_contact {
	enum vmx_result on, ptrld, off;
	uint64_t vmcs_pa, current;
	uint32_t vmcs_rev_read;
};

static const char *vmx_round_trip(const struct vmx_caps *c, struct vmx_contact *r)
{
	const char *failed_step = NULL;
	uint64_t vmxon_pa = 0, rip_back = 0;
	*r = (struct vmx_contact){VMX_FAIL_INVALID, VMX_FAIL_INVALID, VMX_FAIL_INVALID, 0, 0, 0};

	/* Lock IA32_FEATURE_CONTROL with VMX-outside-SMX on, if firmware left it
	 * open (writing a locked MSR raises #GP: PLATFORM.md section 6). */
	if (!(c->feature_control & 1))
		wrmsr(MSR_IA32_FEATURE_CONTROL, c->feature_control | 1 | 4);
	if (!fix_control_registers(c))
		return "CR4.VMXE cannot be set (IA32_VMX_CR4_FIXED1)";
	vmxon_pa = mm_alloc_zeroed_page();
	r->vmcs_pa = mm_alloc_zeroed_page();
	if (!vmxon_pa || !r->vmcs_pa) {
		failed_step = "out of memory for the VMXON region or VMCS";
		goto report;
	}
	/* Both regions start with the VMCS revision identifier (SDM 25.2). */
	*(volatile uint32_t *)(uintptr_t)vmxon_pa = c->vmcs_revision;
	*(volatile uint32_t *)(uintptr_t)r->vmcs_pa = c->vmcs_revision;

	r->on = vmxon(vmxon_pa);
	if (r->on != VMX_OK) {
		failed_step = "VMXON failed";
		goto report;
	}
	if (vmclear(r->vmcs_pa) != VMX_OK) {
		failed_step = "VMCLEAR failed";
		goto off;
	}
	r->ptrld = vmptrld(r->vmcs_pa);
	if (r->ptrld != VMX_OK) {
		failed_step = "VMPTRLD failed";
		goto off;
	}
	r->current = vmptrst();
	r->vmcs_rev_read = *(volatile uint32_t *)(uintptr_t)r->vmcs_pa & 0x7fffffff;
	/* A VMWRITE/VMREAD round trip proves the current VMCS accepts fields. */
	if (vmwrite(VMCS_GUEST_RIP, 0x1000) != VMX_OK ||
	    vmread(VMCS_GUEST_RIP, &rip_back) != VMX_OK || rip_back != 0x1000)
		failed_step = "VMWRITE/VMREAD round trip on GUEST_RIP failed";
	else if (r->current != r->vmcs_pa)
		failed_step = "VMPTRST does not return the VMCS just loaded";
	else if (r->vmcs_rev_read != c->vmcs_revision)
		failed_step = "VMCS revision id read back differs from IA32_VMX_BASIC";
	vmclear(r->vmcs_pa);
off:
	r->off = vmxoff();
	if (r->off != VMX_OK && !failed_step)
		failed_step = "VMXOFF failed";
	write_cr4(read_cr4() & ~CR4_VMXE);
report:
	if (vmxon_pa)
		frame_free(&host_frames, vmxon_pa);
	if (r->vmcs_pa)
		frame_free(&host_frames, r->vmcs_pa);
	return failed_step;
}

const char *vmx_check_this_cpu(const struct vmx_caps *boot_cpu)
{
	struct vmx_caps mine;
	vmx_probe(&mine);
	if (!mine.usable)
		return mine.why_unusable ? mine.why_unusable : "no VMX";
	/* hv runs every VM with one VMCS layout and one set of controls: a CPU
	 * that differs from the boot CPU (revision, EPT, the controls hv
	 * needs) is left out rather than half-used. */
	if (mine.vmcs_revision != boot_cpu->vmcs_revision)
		return "its VMCS revision differs from the boot CPU's";
	if (mine.ept != boot_cpu->ept || mine.unrestricted_guest != boot_cpu->unrestricted_guest ||
	    mine.pml != boot_cpu->pml || mine.preemption_timer != boot_cpu->preemption_timer)
		return "its VMX features differ from the boot CPU's";
	struct vmx_contact r;
	return vmx_round_trip(&mine, &r);
}

bool vmx_selftest(const struct vmx_caps *c)
{
	struct vmx_contact r;
	const char *failed_step = vmx_round_trip(c, &r);
	enum vmx_result r_on = r.on, r_ptrld = r.ptrld, r_off = r.off;
	uint64_t vmcs_pa = r.vmcs_pa, current = r.current;
	uint32_t vmcs_rev_read = r.vmcs_rev_read;
	log_event(
	    "{\"ev\":\"vmx\",\"vmxon\":\"%s\",\"vmptrld\":\"%s\",\"vmcs_revision\":%u,"
	    "\"vmcs_revision_read\":%u,\"vmptrst_matches\":%s,\"vmxoff\":\"%s\",\"ok\":%s%s%s%s}",
	    result_name(r_on), result_name(r_ptrld), c->vmcs_revision, vmcs_rev_read,
	    current == vmcs_pa && vmcs_pa ? "true" : "false", result_name(r_off),
	    failed_step ? "false" : "true", failed_step ? ",\"error\":\"" : "",
	    failed_step ? failed_step : "", failed_step ? "\"" : "");
	if (failed_step)
		kprintf("hv: VMX first contact FAILED: %s\n", failed_step);
	else
		kprintf("hv: VMX first contact ok: VMXON, VMCS revision 0x%x loaded and read back, "
		        "VMXOFF\n",
		        c->vmcs_revision);
	return !failed_step;
}
