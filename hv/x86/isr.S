/* Runs on any CPU exception: stubs for vectors 0-31 push a uniform frame
 * (vector, error code or 0, all GPRs) and call trap_handler(frame). If it
 * returns (an .extable fixup), the frame is restored and we IRETQ. */

	.text
.macro ISR_NOERR vec
	.globl isr_stub_\vec
isr_stub_\vec:
	pushq $0
	pushq $\vec
	jmp isr_common
.endm
.macro ISR_ERR vec
	.globl isr_stub_\vec
isr_stub_\vec:
	pushq $\vec
	jmp isr_common
.endm

/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30 (SDM Vol.
 * 3A 7.13 "Error Code"). */
ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR 8
ISR_NOERR 9
ISR_ERR 10
ISR_ERR 11
ISR_ERR 12
ISR_ERR 13
ISR_ERR 14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR 17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR 21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR 29
ISR_ERR 30
ISR_NOERR 31

isr_common:
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
	cld
	call trap_handler
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp         /* vector and error code */
	iretq

	.section .rodata
	.balign 8
	.globl isr_stub_table
isr_stub_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_stub_\v
	.endr

	/* Vector 0xF0: hv's own x2APIC timer, which only wakes an idle HLT
	 * (power/power.c). EOI through the x2APIC MSR, then return. */
	.text
	.globl isr_host_timer
isr_host_timer:
	pushq %rax
	pushq %rcx
	pushq %rdx
	movl $0x80B, %ecx
	xorl %eax, %eax
	xorl %edx, %edx
	wrmsr
	popq %rdx
	popq %rcx
	popq %rax
	iretq

	/* Vector 0xFF: the APIC's spurious vector takes no EOI (SDM Vol. 3A 11.9). */
	.globl isr_spurious
isr_spurious:
	iretq
