/* Runs in the guest: option values for the workloads (tool.h). */
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "tool/tool.h"

bool arg_whole(const char *text, long min, long max, long *value)
{
	char *end;
	long number = strtol(text, &end, 10);
	if (end == text || *end != '\0' || number < min || number > max)
		return false;
	*value = number;
	return true;
}

bool arg_number(const char *text, double min, double max, double *value)
{
	char *end;
	double number = strtod(text, &end);
	/* Written so that NaN fails too. */
	if (end == text || *end != '\0' || !(number >= min && number <= max))
		return false;
	*value = number;
	return true;
}

bool arg_value(int argc, char **argv, int *index, char **value)
{
	char *equals = strchr(argv[*index], '=');
	if (equals) {
		*equals = '\0';
		*value = equals + 1;
		return true;
	}
	if (*index + 1 >= argc)
		return false;
	*value = argv[++*index];
	return true;
}

enum arg_batch_result arg_batch(int argc, char **argv, int *index, char *text, size_t size)
{
	static const char name[] = "--batch";
	const size_t name_length = sizeof name - 1;
	char *word = argv[*index];
	if (strncmp(word, name, name_length) != 0 ||
	    (word[name_length] != '\0' && word[name_length] != '='))
		return ARG_BATCH_OTHER;
	if (word[name_length] == '=')
		argv[*index] += name_length + 1; /* the text starts in this word */
	else if (++*index >= argc)
		return ARG_BATCH_BAD;
	return stream_join_words(argc, argv, index, text, size) ? ARG_BATCH_TAKEN : ARG_BATCH_BAD;
}
