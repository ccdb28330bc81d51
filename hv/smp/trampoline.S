/* Runs on each other CPU after its startup IPI: the first instructions of
 * an application processor. A SIPI with vector V starts the CPU in real
 * mode at V:0000, i.e. physical V * 4096 (SDM Vol. 3A 9.4.4.1 "Typical
 * BSP Initialization Sequence", 9.5 "Initialization of an MP system"), so
 * smp.c copies these bytes to a free page below 1 MiB and fills in the
 * mailbox at their end. From there: protected mode, then IA-32e mode with
 * the boot CPU's CR3 (the identity map of 0-4 GiB), its CR4 and EFER
 * (SDM Vol. 3A 10.8.5), and a call of the C entry with the CPU's index on
 * its own stack. The code addresses everything relative to the page: EBX
 * holds the page's base from the first instructions on. */

	.section .rodata.ap_trampoline, "a"
	.globl ap_trampoline_start, ap_trampoline_end
	.globl ap_tramp_gdt_ptr, ap_tramp_far32, ap_tramp_far64, ap_tramp_mailbox
	.code16
ap_trampoline_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	movzwl %ax, %ebx
	shll $4, %ebx                       /* EBX = the page's physical base */
	lgdtl (ap_tramp_gdt_ptr - ap_trampoline_start)
	movl %cr0, %eax
	orl $1, %eax                        /* PE */
	movl %eax, %cr0
	ljmpl *(ap_tramp_far32 - ap_trampoline_start)

	.code32
ap_tramp_pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl (ap_tramp_mailbox + 8 - ap_trampoline_start)(%ebx), %eax
	movl %eax, %cr4                     /* the boot CPU's CR4: PAE among it */
	movl (ap_tramp_mailbox + 4 - ap_trampoline_start)(%ebx), %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx              /* IA32_EFER: LME (and NXE as the boot CPU) */
	movl (ap_tramp_mailbox + 12 - ap_trampoline_start)(%ebx), %eax
	xorl %edx, %edx
	wrmsr
	movl (ap_tramp_mailbox + 0 - ap_trampoline_start)(%ebx), %eax
	movl %eax, %cr0                     /* PG: IA-32e mode, compatibility mode */
	ljmpl *(ap_tramp_far64 - ap_trampoline_start)(%ebx)

	.code64
ap_tramp_lm64:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq (ap_tramp_mailbox + 16 - ap_trampoline_start)(%rbx), %rsp
	movl (ap_tramp_mailbox + 32 - ap_trampoline_start)(%rbx), %edi
	movq (ap_tramp_mailbox + 24 - ap_trampoline_start)(%rbx), %rax
	xorq %rbp, %rbp                     /* ends the stack trace */
	callq *%rax
1:	cli
	hlt
	jmp 1b

	.align 16
	/* 0x08 32-bit code, 0x10 data, 0x18 64-bit code: flat, 4 GiB. */
ap_tramp_gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0x00AF9A000000FFFF
ap_tramp_gdt_ptr:                       /* base filled in by smp.c */
	.short 31
	.long 0
	.align 4
ap_tramp_far32:                         /* m16:32, offset filled in by smp.c */
	.long 0
	.short 0x08
	.align 4
ap_tramp_far64:
	.long 0
	.short 0x18
	.align 8
	/* CR0, CR3, CR4, EFER (32 bits each: all below 4 GiB), stack top,
	 * entry point (64 bits each), CPU index, then the CPU's "I am up" word
	 * the boot CPU waits for (set by the C entry). */
ap_tramp_mailbox:
	.skip 40
ap_trampoline_end:

	/* Offsets smp.c needs, as absolute symbols. */
	.globl ap_tramp_off_pm32, ap_tramp_off_lm64, ap_tramp_off_gdt
	.set ap_tramp_off_pm32, ap_tramp_pm32 - ap_trampoline_start
	.set ap_tramp_off_lm64, ap_tramp_lm64 - ap_trampoline_start
	.set ap_tramp_off_gdt, ap_tramp_gdt - ap_trampoline_start
