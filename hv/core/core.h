/* core: hv's life cycle: boot sequence (main.c) and how a run ends
 * (stop.c). Every run ends on purpose through hv_stop with one of these
 * statuses; the emulator runners turn the final result line into their
 * exit status (bochs cannot carry one, see PLATFORM.md section 4). */
#ifndef HV_CORE_H
#define HV_CORE_H

#define HV_VERSION "0.1.0"

enum hv_status {
	HV_STATUS_OK = 0,          /* everything asked for ran and succeeded */
	HV_STATUS_FAIL = 1,        /* a VM or a self-test failed */
	HV_STATUS_NO_VMX = 2,      /* no usable VT-x here (e.g. QEMU TCG) */
	HV_STATUS_PANIC = 3,       /* CPU exception inside hv */
	HV_STATUS_BAD_BOOT = 4,    /* broken multiboot table or memory map */
	HV_STATUS_BAD_CMDLINE = 5, /* unknown or malformed boot option */
};

const char *hv_status_name(enum hv_status status);
/* Prints the final result line and the machine event, then ends the
 * emulator run (QEMU isa-debug-exit, bochs shutdown port) or halts. */
__attribute__((noreturn)) void hv_stop(enum hv_status status, const char *why);

#endif
