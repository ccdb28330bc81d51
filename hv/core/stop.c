/* Runs at the end of every run, from any context: the one way hv stops. */
#include "core/core.h"
#include "lib/lib.h"
#include "x86/x86.h"

const char *hv_status_name(enum hv_status status)
{
	switch (status) {
	case HV_STATUS_OK: return "ok";
	case HV_STATUS_FAIL: return "fail";
	case HV_STATUS_NO_VMX: return "no-vmx";
	case HV_STATUS_PANIC: return "panic";
	case HV_STATUS_BAD_BOOT: return "bad-boot";
	case HV_STATUS_BAD_CMDLINE: return "bad-cmdline";
	}
	return "unknown";
}

void hv_stop(enum hv_status status, const char *why)
{
	static int stopping;
	irq_disable();
	if (stopping++) { /* a fault while stopping: do not recurse */
		log_flush();
		halt_forever();
	}
	char reason[160];
	fmt_json_escape(reason, sizeof reason, why);
	log_event("{\"ev\":\"result\",\"status\":%d,\"name\":\"%s\",\"reason\":\"%s\"}", status,
	          hv_status_name(status), reason);
	kprintf("hv: stopped, status %d (%s): %s\n", status, hv_status_name(status), why);
	log_flush(); /* every line out before the emulator or the machine stops */
	/* QEMU: isa-debug-exit at 0xf4 exits with (status << 1) | 1. */
	outb(0xf4, (uint8_t)status);
	/* bochs: writing "Shutdown" to port 0x8900 ends the simulation. */
	for (const char *p = "Shutdown"; *p; p++)
		outb(0x8900, (uint8_t)*p);
	/* Real hardware: nothing above exists; stay halted. */
	halt_forever();
}
