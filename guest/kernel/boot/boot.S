/* Runs at boot, in the guest: the first instructions of every guest ELF.
 *
 * Two ways in, both in 32-bit protected mode with paging off:
 *   - multiboot1 (QEMU -kernel, GRUB): EAX = 0x2BADB002, EBX = multiboot
 *     info (Multiboot spec 0.6.96 section 3.2);
 *   - Xen PVH (Joulevisor, QEMU, Firecracker): EBX = struct hvm_start_info,
 *     EAX undefined (Xen docs/misc/pvh.pandoc).
 * Both meet in common code that clears .bss, builds identity page tables for
 * the first 4 GiB with 2 MiB pages, enters long mode (SDM Vol. 3A 10.8.5
 * "Initializing IA-32e Mode"), enables SSE (newlib uses XMM registers
 * everywhere) and calls guest_start(magic, info) on the boot stack. */

#define MB1_MAGIC      0x1BADB002
#define MB1_FLAGS      ((1 << 1) | (1 << 16)) /* memory info, a.out kludge */
#define MB1_BOOT_MAGIC 0x2BADB002
#define PVH_MAGIC      0x336ec578             /* XEN_HVM_START_MAGIC_VALUE */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BOOT_STACK_SIZE 16384

	/* Multiboot1 header. The a.out kludge (flags bit 16) gives the loader
	 * the load addresses directly: QEMU -kernel would refuse an ELF64
	 * otherwise. It must lie in the first 8 KiB of the file. */
	.section .multiboot, "a"
	.align 4
multiboot_header:
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS)
	.long multiboot_header       /* header_addr */
	.long __image_start          /* load_addr */
	.long __load_end             /* load_end_addr: file bytes to copy */
	.long __bss_end              /* bss_end_addr: the loader zeroes up to here */
	.long guest_entry_multiboot  /* entry_addr */

	/* The PVH entry point as an ELF note, in its own PT_NOTE (see
	 * linker/guest.ld): namesz, descsz, type, "Xen", 4-byte address. */
	.section .note.Xen, "a", @note
	.align 4
	.long 4
	.long 4
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long guest_entry_pvh

	.section .text.boot, "ax"
	.code32
	.globl guest_entry_multiboot
guest_entry_multiboot:
	movl %eax, %edi              /* EDI = boot magic, ESI = info pointer */
	movl %ebx, %esi
	jmp common_entry32

	.globl guest_entry_pvh
guest_entry_pvh:
	movl $PVH_MAGIC, %edi        /* C checks the magic inside start_info too */
	movl %ebx, %esi

common_entry32:
	cli
	cld
	/* Our own GDT first: the loader's may be anywhere, even below us in
	 * memory that the heap will reuse. */
	lgdt boot_gdt_pointer
	ljmp $0x18, $1f              /* 32-bit code segment of our GDT */
1:	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs

	/* Long mode present? CPUID.80000001H:EDX[29] (SDM Vol. 2A, CPUID). */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	/* Clear .bss ourselves: a PVH loader need not, and the page tables
	 * and the boot stack live there. */
	movl $__bss_start, %edx
	movl $__bss_end, %ecx
	subl %edx, %ecx
	movl %edi, %ebx              /* rep stosb uses EDI: keep the magic */
	movl %edx, %edi
	xorl %eax, %eax
	rep stosb
	movl %ebx, %edi

	/* Identity map 0..4 GiB: PML4[0] -> PDPT, PDPT[0..3] -> four page
	 * directories of 512 2-MiB pages each (SDM Vol. 3A 5.5 "4-Level
	 * Paging"). Entries: present | writable (0x3), PS for 2 MiB (0x80). */
	movl $(boot_pdpt + 0x3), boot_pml4
	movl $boot_pdpt, %eax
	movl $(boot_page_directories + 0x3), %edx
	xorl %ecx, %ecx
2:	movl %edx, (%eax, %ecx, 8)
	addl $4096, %edx
	incl %ecx
	cmpl $4, %ecx
	jb 2b

	movl $boot_page_directories, %eax
	xorl %ecx, %ecx              /* PDE index 0..2047 = address / 2 MiB */
3:	movl %ecx, %edx
	shll $21, %edx               /* low 32 bits of the 2 MiB frame address */
	orl $0x83, %edx
	movl %edx, (%eax, %ecx, 8)   /* high 32 bits stay 0: below 4 GiB */
	incl %ecx
	cmpl $2048, %ecx
	jb 3b

	/* CR4.PAE, CR3, EFER.LME, then CR0.PG (SDM Vol. 3A 10.8.5). */
	movl %cr4, %eax
	orl $(1 << 5), %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx       /* IA32_EFER */
	rdmsr
	orl $(1 << 8), %eax          /* LME */
	wrmsr
	movl %cr0, %eax
	orl $((1 << 31) | (1 << 16) | 1), %eax  /* PG, WP, PE */
	movl %eax, %cr0
	ljmp $0x08, $long_mode_entry

no_long_mode:
	/* No C yet: write the reason to port 0xE9 and COM1 (unconfigured, but
	 * emulators accept it) and stop. */
	movl $message_no_long_mode, %esi
4:	lodsb
	testb %al, %al
	jz 5f
	outb %al, $0xE9
	movw $0x3F8, %dx
	outb %al, %dx
	jmp 4b
5:	cli
	hlt
	jmp 5b

	.code64
long_mode_entry:
	movq $(boot_stack + BOOT_STACK_SIZE), %rsp
	xorl %ebp, %ebp              /* ends any stack walk */

	/* SSE on (gotcha A2): CR0.EM = 0, CR0.MP = 1; CR4.OSFXSR and
	 * CR4.OSXMMEXCPT; a clean x87 and the default MXCSR (all exceptions
	 * masked, round to nearest), whatever state the loader left. */
	movq %cr0, %rax
	andq $~(1 << 2), %rax
	orq $(1 << 1), %rax
	movq %rax, %cr0
	movq %cr4, %rax
	orq $((1 << 9) | (1 << 10)), %rax
	movq %rax, %cr4
	fninit
	ldmxcsr default_mxcsr

	/* EDI, ESI still hold magic and info (zero-extended). */
	call guest_start
6:	cli
	hlt
	jmp 6b

	/* void boot_switch_stack(void (*function)(void), uintptr_t stack_top):
	 * calls function on a new stack and never comes back. */
	.globl boot_switch_stack
boot_switch_stack:
	movq %rsi, %rsp
	xorl %ebp, %ebp
	call *%rdi
7:	cli
	hlt
	jmp 7b

	.section .rodata
message_no_long_mode:
	.asciz "guest: this CPU has no long mode (x86-64); cannot run\n"
	.align 4
default_mxcsr:
	.long 0x1F80

	.section .data
	.align 16
	/* 0x08: 64-bit code, 0x10: flat data, 0x18: flat 32-bit code (used
	 * only between lgdt and the jump to long mode), 0x20: the TSS (16
	 * bytes, filled in by x86/idt.c). */
	.globl boot_gdt
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0x00CF9A000000FFFF
	.quad 0, 0
boot_gdt_end:
	.align 8
	.short 0
	.globl boot_gdt_pointer
boot_gdt_pointer:
	.short boot_gdt_end - boot_gdt - 1
	.quad boot_gdt

	.section .bss
	.align 4096
	.globl boot_pml4, boot_page_directories
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_page_directories:
	.skip 4096 * 4
	.align 16
boot_stack:
	.skip BOOT_STACK_SIZE
