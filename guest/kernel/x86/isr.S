/* Runs in the guest, on interrupts: the entry stubs of the IDT.
 *
 * Exceptions: every stub leaves the same frame (SDM Vol. 3A 7.14 "Exception
 * and Interrupt Handling in 64-bit Mode"): the CPU pushes SS, RSP, RFLAGS,
 * CS, RIP and, for some vectors, an error code; the stub pushes a 0 where the
 * CPU does not, then the vector and the general registers, and calls
 * exception_report(struct exception_frame *), which never returns.
 *
 * The timer stub saves the registers a C call may clobber, calls
 * timer_interrupt() (compiled without SSE, so the XMM registers of the
 * interrupted code stay intact) and returns with IRETQ. */

.macro EXCEPTION_WITHOUT_ERROR_CODE vector
	.globl isr_exception_\vector
isr_exception_\vector:
	pushq $0
	pushq $\vector
	jmp exception_common
.endm

.macro EXCEPTION_WITH_ERROR_CODE vector
	.globl isr_exception_\vector
isr_exception_\vector:
	pushq $\vector
	jmp exception_common
.endm

	.text
	.code64
EXCEPTION_WITHOUT_ERROR_CODE 0
EXCEPTION_WITHOUT_ERROR_CODE 1
EXCEPTION_WITHOUT_ERROR_CODE 2
EXCEPTION_WITHOUT_ERROR_CODE 3
EXCEPTION_WITHOUT_ERROR_CODE 4
EXCEPTION_WITHOUT_ERROR_CODE 5
EXCEPTION_WITHOUT_ERROR_CODE 6
EXCEPTION_WITHOUT_ERROR_CODE 7
EXCEPTION_WITH_ERROR_CODE    8
EXCEPTION_WITHOUT_ERROR_CODE 9
EXCEPTION_WITH_ERROR_CODE    10
EXCEPTION_WITH_ERROR_CODE    11
EXCEPTION_WITH_ERROR_CODE    12
EXCEPTION_WITH_ERROR_CODE    13
EXCEPTION_WITH_ERROR_CODE    14
EXCEPTION_WITHOUT_ERROR_CODE 15
EXCEPTION_WITHOUT_ERROR_CODE 16
EXCEPTION_WITH_ERROR_CODE    17
EXCEPTION_WITHOUT_ERROR_CODE 18
EXCEPTION_WITHOUT_ERROR_CODE 19
EXCEPTION_WITHOUT_ERROR_CODE 20
EXCEPTION_WITH_ERROR_CODE    21
EXCEPTION_WITHOUT_ERROR_CODE 22
EXCEPTION_WITHOUT_ERROR_CODE 23
EXCEPTION_WITHOUT_ERROR_CODE 24
EXCEPTION_WITHOUT_ERROR_CODE 25
EXCEPTION_WITHOUT_ERROR_CODE 26
EXCEPTION_WITHOUT_ERROR_CODE 27
EXCEPTION_WITHOUT_ERROR_CODE 28
EXCEPTION_WITH_ERROR_CODE    29
EXCEPTION_WITH_ERROR_CODE    30
EXCEPTION_WITHOUT_ERROR_CODE 31

exception_common:
	/* The order matches struct exception_frame in idt.c. */
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	andq $-16, %rsp              /* the C ABI wants a 16-byte aligned call */
	call exception_report
1:	cli
	hlt
	jmp 1b

/* int fault_probe(void (*fn)(void *), void *arg): runs fn(arg) and returns
 * -1, or, if fn raised a CPU exception, returns its vector (the error code
 * and RIP are in fault_probe_last). For tests that must see the fault a
 * CPU (or hv) raises and go on. exception_report() comes back through
 * fault_probe_resume on the exception stack; the registers C keeps and
 * RFLAGS (IF included) are restored as they were at the call. */
	.globl fault_probe
fault_probe:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	movq %rsp, fault_probe_saved_rsp(%rip)
	movq $1, fault_probe_armed(%rip)
	movq %rdi, %rax
	movq %rsi, %rdi
	call *%rax                   /* 7 pushes + return address: 16-aligned */
	movq $0, fault_probe_armed(%rip)
	movl $-1, %eax
	jmp 2f
	.globl fault_probe_resume
fault_probe_resume:
	movq fault_probe_saved_rsp(%rip), %rsp
	movl %edi, %eax
2:	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	/* Table of the 32 exception stubs, for idt_init(). */
	.section .rodata
	.align 8
	.globl isr_exception_stubs
isr_exception_stubs:
.irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_exception_\vector
.endr

	.text
	.globl isr_timer
isr_timer:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	/* 5 words from the CPU + 9 here = 112 bytes: RSP stays 16-byte aligned
	 * (the CPU aligns it before pushing the frame). */
	call timer_interrupt
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	iretq

	/* Spurious APIC interrupts need no EOI (SDM Vol. 3A 11.9). */
	.globl isr_spurious
isr_spurious:
	iretq
