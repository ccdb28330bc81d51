/* Runs in VM-exit context: VMCALL, the hypercall table of
 * include/joulevisor/hypercall.h (VMCALL exits unconditionally, SDM Vol. 3C
 * 25.1.2). Every argument is checked: a hostile guest gets an error code,
 * never a crash of hv or another VM. */
#include "joulevisor/hypercall.h"
#include "lib/lib.h"
#include "net/net.h"
#include "vmx/exits.h"

typedef int64_t (*hypercall_fn)(struct vcpu *v, enum exit_action *action);

static int64_t hc_console_write(struct vcpu *v, enum exit_action *action)
{
	(void)action;
	uint64_t gpa = v->regs.rdi, len = v->regs.rsi;
	if (len > JV_HC_CONSOLE_MAX)
		return -JV_EINVAL;
	const char *buf = vm_gpa_to_host(v->vm, gpa, len);
	if (!buf)
		return -JV_EFAULT;
	for (uint64_t i = 0; i < len; i++)
		vm_console_putc(v->vm, buf[i]);
	return (int64_t)len;
}

static int64_t hc_exit(struct vcpu *v, enum exit_action *action)
{
	vm_stop(v->vm, (int)(int32_t)v->regs.rdi, "exited");
	*action = EXIT_STOP;
	return 0;
}

static int64_t hc_yield(struct vcpu *v, enum exit_action *action)
{
	(void)v;
	*action = EXIT_END_SLICE;
	return 0;
}

static int64_t hc_time_ns(struct vcpu *v, enum exit_action *action)
{
	(void)action;
	return (int64_t)vm_time_ns(v->vm);
}

static int64_t hc_net_attach(struct vcpu *v, enum exit_action *action)
{
	(void)action;
	return net_attach(v->vm, v->regs.rdi, v->regs.rsi);
}

static int64_t hc_net_kick(struct vcpu *v, enum exit_action *action)
{
	(void)action;
	return net_kick(v->vm, v->regs.rdi);
}

static int64_t hc_net_batch(struct vcpu *v, enum exit_action *action)
{
	(void)action;
	uint64_t len = v->regs.rsi;
	char text[160];
	if (len == 0 || len >= sizeof text)
		return -JV_EINVAL;
	const char *src = vm_gpa_to_host(v->vm, v->regs.rdi, len);
	if (!src)
		return -JV_EFAULT;
	memcpy(text, src, len);
	text[len] = '\0';
	return net_set_batching(v->vm, text);
}

static int64_t hc_net_stats(struct vcpu *v, enum exit_action *action)
{
	(void)action;
	if (vm_limit_take(v->vm, LIMIT_HV_LINES, 1)) /* an event per call: bounded */
		net_report(v->vm);
	return 0;
}

static const hypercall_fn hypercalls[JV_HC_COUNT] = {
    [JV_HC_CONSOLE_WRITE] = hc_console_write,
    [JV_HC_EXIT] = hc_exit,
    [JV_HC_YIELD] = hc_yield,
    [JV_HC_TIME_NS] = hc_time_ns,
    [JV_HC_NET_ATTACH] = hc_net_attach,
    [JV_HC_NET_KICK] = hc_net_kick,
    [JV_HC_NET_BATCH] = hc_net_batch,
    [JV_HC_NET_STATS] = hc_net_stats,
};

enum exit_action exit_vmcall(struct vcpu *v, const struct vmx_exit *e)
{
	uint64_t nr = v->regs.rax;
	enum exit_action action = EXIT_NEXT_INSN;
	/* Only the guest kernel (CPL 0: SS.DPL, SDM 25.4.1) may call hv. */
	if ((vmcs_read(VMCS_GUEST_SS_AR) >> 5 & 3) != 0) {
		vmx_inject_exception(6, false, 0);
		return EXIT_RESUME;
	}
	/* Over its hypercalls limit the vCPU sits out until a token comes,
	 * then executes this VMCALL again: the guest-RIP field an exit saves
	 * points at the VMCALL itself (SDM Vol. 3C 28.3.3, "Saving RIP, RSP,
	 * RFLAGS, and SSP"), and only EXIT_NEXT_INSN adds the VM-exit
	 * instruction length (28.2.5). JV_HC_EXIT never waits. */
	if (nr != JV_HC_EXIT && !vm_limit_hold_vcpu(v, LIMIT_HYPERCALLS))
		return EXIT_END_SLICE;
	int64_t result = nr < JV_HC_COUNT ? hypercalls[nr](v, &action) : -JV_ENOSYS;
	v->regs.rax = (uint64_t)result;
	if (action == EXIT_END_SLICE) /* yield: done with VMCALL, then give way */
		vmcs_write(VMCS_GUEST_RIP, vmcs_read(VMCS_GUEST_RIP) + e->instruction_length);
	return action;
}
