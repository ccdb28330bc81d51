/* Runs in a Linux guest (tools/linux/shim): the option parsers of the
 * guest kernel's tool/tool.h that the non-network workloads use. */
#ifndef JV_SHIM_TOOL_H
#define JV_SHIM_TOOL_H

#include <stdbool.h>

/* A whole decimal number in min..max, all of text; false otherwise. */
bool arg_whole(const char *text, long min, long max, long *value);
/* A decimal number (may have a fraction) in min..max, all of text. */
bool arg_number(const char *text, double min, double max, double *value);

#endif
