/* Runs as a guest: the smallest PVH guest, in 32-bit protected mode with
 * paging off, for hv's system tests. Built once per MODE:
 *   0 ok       prints through the UART and a hypercall, checks CPUID, exits 0
 *   1 ept      writes outside its memory (hv must stop this VM only)
 *   2 hostile  hypercalls with bad numbers, buffers and lengths; exits 0 if
 *              hv answered each with the right error, else 1
 *   3 triple   triple-faults (no IDT)
 *   4 hltcli   halts with interrupts off (can never wake)
 *   6 pae      turns on PAE paging (identity map of the first 2 MiB) by
 *              MOV to CR0, which hv emulates: hv must load the PDPTEs
 *              (it used not to: a triple fault); prints and exits 0
 *   7 lmoff    turns on IA-32e mode (compatibility mode: CS stays 32-bit),
 *              then turns paging off again: EFER.LMA must read 0 after
 *              (it used to stay 1: a failed VM entry); exits 0
 *   5 netbad   attaches a pvnet NIC, then writes garbage into its TX ring
 *              (a corrupt index pair, descriptors outside memory, of length
 *              0 and over 1514) and bad attach/batch hypercalls; exits 0 if
 *              hv refused each hypercall with the right error
 * Hypercall ABI: include/joulevisor/hypercall.h (32-bit code: the upper
 * halves of the registers are zero at PVH entry). */
#define HC_CONSOLE_WRITE 0
#define HC_EXIT 1
#define HC_NET_ATTACH 4
#define HC_NET_KICK 5
#define HC_NET_BATCH 6
#define AREA 0x200000           /* the pvnet area (pvnet.h layout) */
#define TX_PROD (AREA + 64)
#define TX_DESC (AREA + 0x1000)

	.section .note.Xen, "a"
	.balign 4
	.long 4, 4, 18          /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long tiny_entry

	.text
	.code32
	.globl tiny_entry
tiny_entry:
	movl $stack_top, %esp
	movl $msg_uart, %esi
	call uart_puts
#if MODE == 0
	/* CPUID 0x40000000 must say Joulevisor. */
	movl $0x40000000, %eax
	cpuid
	cmpl $0x6c756f4a, %ebx
	jne fail
	/* CPUID.1:ECX: VMX (bit 5) hidden, hypervisor (31) set. */
	movl $1, %eax
	cpuid
	btl $5, %ecx
	jc fail
	btl $31, %ecx
	jnc fail
	movl $HC_CONSOLE_WRITE, %eax
	movl $msg_hc, %edi
	movl $msg_hc_len, %esi
	vmcall
	cmpl $msg_hc_len, %eax
	jne fail
	jmp pass
#elif MODE == 1
	movl $0x7fff0000, %eax
	movl $1, (%eax)
	jmp pass                /* never reached */
#elif MODE == 2
	movl $99, %eax          /* unknown hypercall */
	vmcall
	cmpl $-38, %eax
	jne fail
	movl $HC_CONSOLE_WRITE, %eax
	movl $0x7fff0000, %edi  /* buffer outside guest memory */
	movl $16, %esi
	vmcall
	cmpl $-14, %eax
	jne fail
	movl $HC_CONSOLE_WRITE, %eax
	movl $msg_hc, %edi      /* length far too big */
	movl $0x7fffffff, %esi
	vmcall
	cmpl $-22, %eax
	jne fail
	movl $HC_CONSOLE_WRITE, %eax
	movl $0x1fff800, %edi   /* buffer crossing the end of 32 MiB */
	movl $0x1000, %esi
	vmcall
	cmpl $-14, %eax
	jne fail
	movl $msg_hostile_ok, %esi
	call uart_puts
	jmp pass
#elif MODE == 3
	lidt null_idt
	int3
#elif MODE == 4
	cli
	hlt
#elif MODE == 5
	movl $0x54454e50, AREA      /* magic "PNET" */
	movl $1, AREA + 4           /* version */
	movl $256, AREA + 8         /* ring size */
	movl $HC_NET_ATTACH, %eax   /* a misaligned area: -EFAULT */
	movl $AREA + 8, %edi
	movl $0x41, %esi
	vmcall
	cmpl $-14, %eax
	jne fail
	movl $HC_NET_ATTACH, %eax   /* vector 3 is an exception: -EINVAL */
	movl $AREA, %edi
	movl $3, %esi
	vmcall
	cmpl $-22, %eax
	jne fail
	movl $HC_NET_ATTACH, %eax
	movl $AREA, %edi
	movl $0x41, %esi
	vmcall
	testl %eax, %eax
	jne fail
	movl $HC_NET_BATCH, %eax    /* an unknown policy: -EINVAL */
	movl $bad_policy, %edi
	movl $bad_policy_len, %esi
	vmcall
	cmpl $-22, %eax
	jne fail
	movl $0x1000, TX_PROD       /* 4096 entries in a 256-entry ring */
	call kick_tx
	movl $0x7fff0000, TX_DESC   /* slot 0: outside guest memory */
	movl $100, TX_DESC + 8
	movl $0x300000, TX_DESC + 16 /* slot 1: length 0 */
	movl $0, TX_DESC + 24
	movl $0x300000, TX_DESC + 32 /* slot 2: longer than a frame */
	movl $5000, TX_DESC + 40
	movl $3, TX_PROD
	call kick_tx
	movl $msg_netbad_ok, %esi
	call uart_puts
	jmp pass
kick_tx:
	movl $HC_NET_KICK, %eax
	movl $1, %edi
	vmcall
	ret
#elif MODE == 6
	/* PDPT[0] -> PD; PD[0] = a 2 MiB page at 0 (PS, RW, P). */
	movl $pae_pd + 1, pae_pdpt
	movl $0x83, pae_pd
	movl $pae_pdpt, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax             /* PAE */
	movl %eax, %cr4
	movl %cr0, %eax
	orl $0x80010020, %eax       /* PG, with WP and NE as an OS sets them: */
	movl %eax, %cr0             /* the PDPTEs load now */
	movl $msg_pae_ok, %esi
	call uart_puts
	jmp pass
#elif MODE == 7
	/* PML4[0] -> PDPT -> PD; PD[0] = a 2 MiB page at 0. */
	movl $lm_pdpt + 3, lm_pml4
	movl $pae_pd + 3, lm_pdpt
	movl $0x83, pae_pd
	movl $lm_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax             /* PAE */
	movl %eax, %cr4
	movl $0xC0000080, %ecx
	rdmsr
	orl $0x100, %eax            /* EFER.LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000020, %eax       /* PG (and NE): IA-32e mode, compatibility mode */
	movl %eax, %cr0
	movl $0xC0000080, %ecx
	rdmsr
	btl $10, %eax               /* LMA must be 1 now */
	jnc fail
	movl %cr0, %eax
	andl $0x7FFFFFDF, %eax      /* paging (and NE) off: leaves IA-32e mode */
	movl %eax, %cr0
	movl $0xC0000080, %ecx
	rdmsr
	btl $10, %eax               /* LMA must be 0 again */
	jc fail
	movl $msg_lmoff_ok, %esi
	call uart_puts
	jmp pass
#endif
pass:
	movl $HC_EXIT, %eax
	xorl %edi, %edi
	vmcall
fail:
	movl $msg_fail, %esi
	call uart_puts
	movl $HC_EXIT, %eax
	movl $1, %edi
	vmcall
1:	jmp 1b

uart_puts:                      /* esi: NUL-terminated string */
	movw $0x3f8, %dx
2:	lodsb
	testb %al, %al
	jz 3f
	outb %al, %dx
	jmp 2b
3:	ret

	.data
null_idt:
	.short 0
	.long 0
msg_uart:
	.asciz "tiny: hello through the UART\n"
msg_hc:
	.ascii "tiny: hello through a hypercall\n"
	.set msg_hc_len, . - msg_hc
msg_hostile_ok:
	.asciz "tiny: every bad hypercall was refused with the right error\n"
bad_policy:
	.ascii "policy=warp"
	.set bad_policy_len, . - bad_policy
msg_netbad_ok:
	.asciz "tiny: every bad NIC hypercall was refused\n"
msg_fail:
	.asciz "tiny: FAIL\n"
msg_pae_ok:
	.asciz "tiny: PAE paging on\n"
msg_lmoff_ok:
	.asciz "tiny: IA-32e mode on and off again, EFER.LMA followed\n"

	.bss
	.balign 4096
pae_pd:
	.skip 4096
lm_pml4:
	.skip 4096
lm_pdpt:
	.skip 4096
	.balign 32
pae_pdpt:
	.skip 32
	.balign 16
	.skip 4096
stack_top:
