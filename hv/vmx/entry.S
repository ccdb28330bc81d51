/* Runs at every VM entry and exit: the only code that sees both the guest's
 * and hv's general registers. VT-x saves and loads RSP, RIP and RFLAGS and
 * the segment state through the VMCS (SDM Vol. 3C 27.3, 28.5); every other
 * GPR is ours to switch.
 *
 * int vmx_enter(struct guest_regs *regs, int launched)
 *   returns 0 after a VM exit (guest GPRs saved in *regs), 1 if VMLAUNCH or
 *   VMRESUME failed (VMfail; see the VM-instruction error field). */

#define VMCS_HOST_RSP 0x6C14
#define R_RAX 0
#define R_RBX 8
#define R_RCX 16
#define R_RDX 24
#define R_RSI 32
#define R_RDI 40
#define R_RBP 48
#define R_R8 56
#define R_R9 64
#define R_R10 72
#define R_R11 80
#define R_R12 88
#define R_R13 96
#define R_R14 104
#define R_R15 112

	.text
	.globl vmx_enter
vmx_enter:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi                 /* regs: found again at the exit */
	movq $VMCS_HOST_RSP, %rax
	vmwrite %rsp, %rax         /* the exit lands on this very stack */
	testl %esi, %esi           /* flags survive the movs below */
	movq R_RAX(%rdi), %rax
	movq R_RBX(%rdi), %rbx
	movq R_RCX(%rdi), %rcx
	movq R_RDX(%rdi), %rdx
	movq R_RSI(%rdi), %rsi
	movq R_RBP(%rdi), %rbp
	movq R_R8(%rdi), %r8
	movq R_R9(%rdi), %r9
	movq R_R10(%rdi), %r10
	movq R_R11(%rdi), %r11
	movq R_R12(%rdi), %r12
	movq R_R13(%rdi), %r13
	movq R_R14(%rdi), %r14
	movq R_R15(%rdi), %r15
	movq R_RDI(%rdi), %rdi
	jnz 1f
	vmlaunch
	jmp 2f
1:	vmresume
2:	/* Only reached when the entry failed (VMfailValid/VMfailInvalid). */
	popq %rdi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	movl $1, %eax
	ret

	/* HOST_RIP: the CPU arrives here on every VM exit, with RSP = HOST_RSP. */
	.globl vmx_exit_stub
vmx_exit_stub:
	pushq %rdi                 /* guest RDI */
	movq 8(%rsp), %rdi         /* regs */
	movq %rax, R_RAX(%rdi)
	movq %rbx, R_RBX(%rdi)
	movq %rcx, R_RCX(%rdi)
	movq %rdx, R_RDX(%rdi)
	movq %rsi, R_RSI(%rdi)
	movq %rbp, R_RBP(%rdi)
	movq %r8, R_R8(%rdi)
	movq %r9, R_R9(%rdi)
	movq %r10, R_R10(%rdi)
	movq %r11, R_R11(%rdi)
	movq %r12, R_R12(%rdi)
	movq %r13, R_R13(%rdi)
	movq %r14, R_R14(%rdi)
	movq %r15, R_R15(%rdi)
	popq R_RDI(%rdi)
	addq $8, %rsp              /* regs pointer */
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	xorl %eax, %eax
	ret
