/* console: hv's commands, typed on the serial port or scheduled from the
 * boot command line ("at=MS:COMMAND", e.g. at=1500:energy; arguments after
 * commas: at=2000:migrate,vm0,hostB). Every experiment can so be scripted.
 * Runs in the scheduler loop, between VM slices. */
#ifndef HV_CONSOLE_H
#define HV_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses every at= option; returns 0, or -1 with a reason (bad time,
 * unknown command, too many). */
int console_parse_script(const char *options, char *err, size_t err_len);
/* Starts the script clock (times are ms after the VMs start). */
void console_start(uint64_t tsc_khz);
/* Runs due script commands and any line typed on COM1. */
void console_poll(void);
/* Runs one command line ("energy", "vms", "help"); false if unknown. */
bool console_run(const char *line);

#endif
