/* Runs at boot: the first instructions of hv. A multiboot1 or multiboot2
 * loader enters hv_entry32 in 32-bit protected mode with paging off
 * (Multiboot spec 0.6.96 section 3.2; Multiboot2 spec section 3.3). We build
 * identity page tables for the first 4 GiB, switch to long mode (SDM Vol. 3A
 * 10.8.5 "Initializing IA-32e Mode") and call hv_main(magic, info). */

#define MB1_MAGIC 0x1BADB002
#define MB1_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* align mods, mem info, a.out kludge */
#define MB2_MAGIC 0xE85250D6
#define BOOT_STACK_SIZE 16384

	.section .multiboot, "a"
	.code32
	/* Multiboot1 header, with the a.out kludge so QEMU -kernel can load an
	 * ELF64 (it only parses 32-bit ELF otherwise). */
	.align 4
mb1_header:
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS)
	.long mb1_header      /* header_addr */
	.long __image_start   /* load_addr */
	.long __load_end      /* load_end_addr */
	.long __image_end     /* bss_end_addr: the loader zeroes up to here */
	.long hv_entry32      /* entry_addr */

	/* Multiboot2 header (GRUB 2, BIOS and UEFI). */
	.align 8
mb2_header:
	.long MB2_MAGIC
	.long 0                              /* architecture: i386 protected mode */
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))
	/* Tag 6: page-align modules, so guest images can be mapped in place. */
	.align 8
	.short 6, 0
	.long 8
	/* End tag. */
	.align 8
	.short 0, 0
	.long 8
mb2_header_end:

	.section .text.boot, "ax"
	.code32
	.globl hv_entry32
hv_entry32:
	cli
	cld
	movl %eax, %edi               /* loader magic -> first C argument */
	movl %ebx, %esi               /* info pointer -> second C argument */
	movl $(boot_stack + BOOT_STACK_SIZE), %esp

	/* Long mode is required: CPUID.80000001H:EDX[29] (SDM Vol. 2A CPUID). */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	/* Identity map 0..4 GiB with 2 MiB pages: PML4[0] -> PDPT, PDPT[0..3]
	 * -> four page directories (SDM Vol. 3A 5.5 "4-Level Paging"). */
	movl $boot_pml4, %eax
	movl $boot_pdpt, %ebx
	orl $0x3, %ebx                /* present, writable */
	movl %ebx, (%eax)
	movl $0, 4(%eax)

	movl $boot_pdpt, %eax
	movl $boot_pd, %ebx
	orl $0x3, %ebx
	xorl %ecx, %ecx
1:	movl %ebx, (%eax, %ecx, 8)
	movl $0, 4(%eax, %ecx, 8)
	addl $4096, %ebx
	incl %ecx
	cmpl $4, %ecx
	jb 1b

	movl $boot_pd, %eax
	xorl %ecx, %ecx               /* entry index 0..2047 */
2:	movl %ecx, %ebx
	shll $21, %ebx                /* low 32 bits of 2 MiB * index */
	orl $0x83, %ebx               /* present, writable, PS */
	movl %ebx, (%eax, %ecx, 8)
	movl %ecx, %ebx
	shrl $11, %ebx                /* high bits: index >> 11 (4 GiB units) */
	movl %ebx, 4(%eax, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jb 2b

	/* CR4.PAE, CR3, EFER.LME, then CR0.PG|WP (SDM Vol. 3A 10.8.5). */
	movl %cr4, %eax
	orl $(1 << 5), %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx
	rdmsr
	orl $(1 << 8), %eax
	wrmsr
	movl %cr0, %eax
	orl $((1 << 31) | (1 << 16) | 1), %eax
	movl %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode_entry

no_long_mode:
	/* No way to print through C yet: write a line to the debug port and
	 * COM1 (unconfigured, but QEMU and bochs accept it) and halt. */
	movl $msg_no_long_mode, %esi
3:	lodsb
	testb %al, %al
	jz 4f
	outb %al, $0xE9
	movw $0x3F8, %dx
	outb %al, %dx
	jmp 3b
4:	hlt
	jmp 4b

	.code64
long_mode_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movq $(boot_stack + BOOT_STACK_SIZE), %rsp
	xorq %rbp, %rbp               /* ends the stack trace */
	/* edi, esi still hold magic and info (zero-extended by the 32-bit movs). */
	call hv_main
5:	cli
	hlt
	jmp 5b

	.section .rodata
msg_no_long_mode:
	.asciz "hv: this CPU has no long mode (64-bit); Joulevisor needs x86-64\n"

	.section .data
	.align 16
	.globl boot_gdt
	/* 0x08 64-bit code, 0x10 data, 0x18 TSS (16 bytes, filled by gdt.c). */
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0, 0
boot_gdt_end:
	.globl boot_gdt_ptr
boot_gdt_ptr:
	.short boot_gdt_end - boot_gdt - 1
	.quad boot_gdt

	.section .bss.pagetables, "aw", @nobits
	.align 4096
	.globl boot_pml4
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4096 * 4
	.section .bss
	.align 16
	.globl boot_stack
boot_stack:
	.skip BOOT_STACK_SIZE
	.globl boot_stack_top
boot_stack_top:
