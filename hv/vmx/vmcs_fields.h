/* VMCS field encodings (SDM Vol. 3C Appendix B "Field Encoding in VMCS")
 * and the control bits hv uses (SDM Vol. 3C 25.6-25.8). */
#ifndef HV_VMCS_FIELDS_H
#define HV_VMCS_FIELDS_H

/* B.1.1 16-bit control fields */
#define VMCS_VPID 0x0000
/* B.1.2 16-bit guest-state fields */
#define VMCS_GUEST_PML_INDEX 0x0812
#define VMCS_GUEST_ES_SEL    0x0800
#define VMCS_GUEST_CS_SEL    0x0802
#define VMCS_GUEST_SS_SEL    0x0804
#define VMCS_GUEST_DS_SEL    0x0806
#define VMCS_GUEST_FS_SEL    0x0808
#define VMCS_GUEST_GS_SEL    0x080A
#define VMCS_GUEST_LDTR_SEL  0x080C
#define VMCS_GUEST_TR_SEL    0x080E
/* B.1.3 16-bit host-state fields */
#define VMCS_HOST_ES_SEL 0x0C00
#define VMCS_HOST_CS_SEL 0x0C02
#define VMCS_HOST_SS_SEL 0x0C04
#define VMCS_HOST_DS_SEL 0x0C06
#define VMCS_HOST_FS_SEL 0x0C08
#define VMCS_HOST_GS_SEL 0x0C0A
#define VMCS_HOST_TR_SEL 0x0C0C
/* B.2.1 64-bit control fields */
#define VMCS_MSR_BITMAP  0x2004
#define VMCS_TSC_OFFSET  0x2010
#define VMCS_EPT_POINTER 0x201A
#define VMCS_PML_ADDRESS 0x200E
/* B.2.2 64-bit read-only data */
#define VMCS_GUEST_PHYSICAL_ADDRESS 0x2400
/* B.2.3 64-bit guest-state fields */
#define VMCS_LINK_POINTER        0x2800
#define VMCS_GUEST_IA32_DEBUGCTL 0x2802
#define VMCS_GUEST_IA32_PAT      0x2804
#define VMCS_GUEST_IA32_EFER     0x2806
#define VMCS_GUEST_PDPTE0        0x280A
#define VMCS_GUEST_PDPTE1        0x280C
#define VMCS_GUEST_PDPTE2        0x280E
#define VMCS_GUEST_PDPTE3        0x2810
/* B.2.4 64-bit host-state fields */
#define VMCS_HOST_IA32_PAT  0x2C00
#define VMCS_HOST_IA32_EFER 0x2C02
/* B.3.1 32-bit control fields */
#define VMCS_PIN_BASED_CTLS             0x4000
#define VMCS_PROC_BASED_CTLS            0x4002
#define VMCS_EXCEPTION_BITMAP           0x4004
#define VMCS_PF_ERROR_CODE_MASK         0x4006
#define VMCS_PF_ERROR_CODE_MATCH        0x4008
#define VMCS_CR3_TARGET_COUNT           0x400A
#define VMCS_EXIT_CTLS                  0x400C
#define VMCS_EXIT_MSR_STORE_COUNT       0x400E
#define VMCS_EXIT_MSR_LOAD_COUNT        0x4010
#define VMCS_ENTRY_CTLS                 0x4012
#define VMCS_ENTRY_MSR_LOAD_COUNT       0x4014
#define VMCS_ENTRY_INTR_INFO            0x4016
#define VMCS_ENTRY_EXCEPTION_ERROR_CODE 0x4018
#define VMCS_ENTRY_INSTRUCTION_LENGTH   0x401A
#define VMCS_PROC_BASED_CTLS2           0x401E
/* B.3.2 32-bit read-only data */
#define VMCS_VM_INSTRUCTION_ERROR     0x4400
#define VMCS_EXIT_REASON              0x4402
#define VMCS_EXIT_INTR_INFO           0x4404
#define VMCS_EXIT_INTR_ERROR_CODE     0x4406
#define VMCS_IDT_VECTORING_INFO       0x4408
#define VMCS_IDT_VECTORING_ERROR_CODE 0x440A
#define VMCS_EXIT_INSTRUCTION_LENGTH  0x440C
#define VMCS_EXIT_INSTRUCTION_INFO    0x440E
/* B.3.3 32-bit guest-state fields */
#define VMCS_GUEST_ES_LIMIT         0x4800
#define VMCS_GUEST_CS_LIMIT         0x4802
#define VMCS_GUEST_SS_LIMIT         0x4804
#define VMCS_GUEST_DS_LIMIT         0x4806
#define VMCS_GUEST_FS_LIMIT         0x4808
#define VMCS_GUEST_GS_LIMIT         0x480A
#define VMCS_GUEST_LDTR_LIMIT       0x480C
#define VMCS_GUEST_TR_LIMIT         0x480E
#define VMCS_GUEST_GDTR_LIMIT       0x4810
#define VMCS_GUEST_IDTR_LIMIT       0x4812
#define VMCS_GUEST_ES_AR            0x4814
#define VMCS_GUEST_CS_AR            0x4816
#define VMCS_GUEST_SS_AR            0x4818
#define VMCS_GUEST_DS_AR            0x481A
#define VMCS_GUEST_FS_AR            0x481C
#define VMCS_GUEST_GS_AR            0x481E
#define VMCS_GUEST_LDTR_AR          0x4820
#define VMCS_GUEST_TR_AR            0x4822
#define VMCS_GUEST_INTERRUPTIBILITY 0x4824
#define VMCS_GUEST_ACTIVITY_STATE   0x4826
#define VMCS_GUEST_SYSENTER_CS      0x482A
#define VMCS_PREEMPTION_TIMER_VALUE 0x482E
/* B.3.4 32-bit host-state field */
#define VMCS_HOST_SYSENTER_CS 0x4C00
/* B.4.1 natural-width control fields */
#define VMCS_CR0_GUEST_HOST_MASK 0x6000
#define VMCS_CR4_GUEST_HOST_MASK 0x6002
#define VMCS_CR0_READ_SHADOW     0x6004
#define VMCS_CR4_READ_SHADOW     0x6006
/* B.4.2 natural-width read-only data */
#define VMCS_EXIT_QUALIFICATION   0x6400
#define VMCS_GUEST_LINEAR_ADDRESS 0x640A
/* B.4.3 natural-width guest-state fields */
#define VMCS_GUEST_CR0                    0x6800
#define VMCS_GUEST_CR3                    0x6802
#define VMCS_GUEST_CR4                    0x6804
#define VMCS_GUEST_ES_BASE                0x6806
#define VMCS_GUEST_CS_BASE                0x6808
#define VMCS_GUEST_SS_BASE                0x680A
#define VMCS_GUEST_DS_BASE                0x680C
#define VMCS_GUEST_FS_BASE                0x680E
#define VMCS_GUEST_GS_BASE                0x6810
#define VMCS_GUEST_LDTR_BASE              0x6812
#define VMCS_GUEST_TR_BASE                0x6814
#define VMCS_GUEST_GDTR_BASE              0x6816
#define VMCS_GUEST_IDTR_BASE              0x6818
#define VMCS_GUEST_DR7                    0x681A
#define VMCS_GUEST_RSP                    0x681C
#define VMCS_GUEST_RIP                    0x681E
#define VMCS_GUEST_RFLAGS                 0x6820
#define VMCS_GUEST_PENDING_DBG_EXCEPTIONS 0x6822
#define VMCS_GUEST_SYSENTER_ESP           0x6824
#define VMCS_GUEST_SYSENTER_EIP           0x6826
/* B.4.4 natural-width host-state fields */
#define VMCS_HOST_CR0          0x6C00
#define VMCS_HOST_CR3          0x6C02
#define VMCS_HOST_CR4          0x6C04
#define VMCS_HOST_FS_BASE      0x6C06
#define VMCS_HOST_GS_BASE      0x6C08
#define VMCS_HOST_TR_BASE      0x6C0A
#define VMCS_HOST_GDTR_BASE    0x6C0C
#define VMCS_HOST_IDTR_BASE    0x6C0E
#define VMCS_HOST_SYSENTER_ESP 0x6C10
#define VMCS_HOST_SYSENTER_EIP 0x6C12
#define VMCS_HOST_RSP          0x6C14
#define VMCS_HOST_RIP          0x6C16

/* Pin-based controls (SDM 25.6.1) */
#define PIN_EXTERNAL_INTERRUPT_EXITING (1u << 0)
#define PIN_NMI_EXITING                (1u << 3)
#define PIN_PREEMPTION_TIMER           (1u << 6)
/* Primary processor-based controls (SDM 25.6.2, table 25-6) */
#define PROC_INTERRUPT_WINDOW_EXITING (1u << 2)
#define PROC_USE_TSC_OFFSETTING       (1u << 3)
#define PROC_HLT_EXITING              (1u << 7)
#define PROC_CR3_LOAD_EXITING         (1u << 15)
#define PROC_CR3_STORE_EXITING        (1u << 16)
#define PROC_CR8_LOAD_EXITING         (1u << 19)
#define PROC_CR8_STORE_EXITING        (1u << 20)
#define PROC_UNCONDITIONAL_IO_EXITING (1u << 24)
#define PROC_USE_MSR_BITMAPS          (1u << 28)
#define PROC_SECONDARY_CONTROLS       (1u << 31)
/* Secondary processor-based controls (SDM 25.6.2, table 25-7) */
#define PROC2_ENABLE_EPT         (1u << 1)
#define PROC2_ENABLE_RDTSCP      (1u << 3)
#define PROC2_ENABLE_VPID        (1u << 5)
#define PROC2_UNRESTRICTED_GUEST (1u << 7)
#define PROC2_ENABLE_PML         (1u << 17)
/* VM-exit controls (SDM 25.7.1) */
#define EXIT_SAVE_DEBUG_CONTROLS     (1u << 2)
#define EXIT_HOST_ADDRESS_SPACE_SIZE (1u << 9)
#define EXIT_ACK_INTERRUPT_ON_EXIT   (1u << 15)
#define EXIT_SAVE_IA32_EFER          (1u << 20)
#define EXIT_SAVE_IA32_PAT           (1u << 18)
#define EXIT_LOAD_IA32_PAT           (1u << 19)
#define EXIT_LOAD_IA32_EFER          (1u << 21)
/* VM-entry controls (SDM 25.8.1) */
#define ENTRY_LOAD_DEBUG_CONTROLS (1u << 2)
#define ENTRY_IA32E_MODE_GUEST    (1u << 9)
#define ENTRY_LOAD_IA32_PAT       (1u << 14)
#define ENTRY_LOAD_IA32_EFER      (1u << 15)

/* VM-entry interruption information (SDM 25.8.3) */
#define INTR_INFO_VALID         (1u << 31)
#define INTR_TYPE_EXTERNAL      (0u << 8)
#define INTR_TYPE_HW_EXCEPTION  (3u << 8)
#define INTR_DELIVER_ERROR_CODE (1u << 11)

/* Guest interruptibility state (SDM 25.4.2, table 25-3) */
#define INTERRUPTIBILITY_STI    (1u << 0)
#define INTERRUPTIBILITY_MOV_SS (1u << 1)

#endif
