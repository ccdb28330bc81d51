/* Runs at boot (and on the host in unit tests): the hv command line is
 * words separated by spaces, each "key=value" or a bare "key". */
#include "lib/lib.h"

/* Finds the next word; returns its length, 0 at the end. */
static size_t next_word(const char **cursor, const char **word)
{
	const char *p = *cursor;
	while (*p == ' ' || *p == '\t')
		p++;
	*word = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*cursor = p;
	return (size_t)(p - *word);
}

static size_t key_length(const char *word, size_t len)
{
	size_t k = 0;
	while (k < len && word[k] != '=')
		k++;
	return k;
}

int cmdline_validate(const char *cmdline, const struct cmdline_option *options, size_t option_count,
                     char *err, size_t err_len)
{
	const char *cursor = cmdline, *word;
	size_t len;
	while ((len = next_word(&cursor, &word)) != 0) {
		size_t klen = key_length(word, len);
		const struct cmdline_option *opt = NULL;
		for (size_t i = 0; i < option_count; i++)
			if (strlen(options[i].key) == klen && !strncmp(options[i].key, word, klen))
				opt = &options[i];
		if (!opt) {
			char known[200] = "";
			size_t used = 0;
			for (size_t i = 0; i < option_count; i++)
				used += (size_t)fmt_snprintf(known + MIN(used, sizeof known),
				                             sizeof known - MIN(used, sizeof known),
				                             "%s%s", i ? " " : "", options[i].key);
			fmt_snprintf(err, err_len, "unknown option '%.*s' (known: %s)", (int)len,
			             word, known);
			return -1;
		}
		if (!opt->choices)
			continue;
		const char *value = klen < len ? word + klen + 1 : "";
		size_t vlen = klen < len ? len - klen - 1 : 0;
		bool ok = false;
		for (const char *const *c = opt->choices; *c; c++)
			if (strlen(*c) == vlen && !strncmp(*c, value, vlen))
				ok = true;
		if (!ok) {
			char allowed[160] = "";
			size_t used = 0;
			for (const char *const *c = opt->choices; *c; c++)
				used +=
				    (size_t)fmt_snprintf(allowed + MIN(used, sizeof allowed),
				                         sizeof allowed - MIN(used, sizeof allowed),
				                         "%s%s", c == opt->choices ? "" : "|", *c);
			fmt_snprintf(err, err_len, "bad value '%.*s' for option '%s' (allowed: %s)",
			             (int)vlen, value, opt->key, allowed);
			return -1;
		}
	}
	return 0;
}

bool cmdline_get(const char *cmdline, const char *key, char *out, size_t out_len)
{
	const char *cursor = cmdline, *word;
	size_t len, want = strlen(key);
	bool found = false;
	while ((len = next_word(&cursor, &word)) != 0) {
		size_t klen = key_length(word, len);
		if (klen != want || strncmp(word, key, klen))
			continue;
		found = true;
		if (out_len) {
			size_t vlen = klen < len ? len - klen - 1 : 0;
			if (vlen >= out_len)
				vlen = out_len - 1;
			memcpy(out, word + klen + (klen < len), vlen);
			out[vlen] = '\0';
		}
	}
	return found;
}

size_t parse_decimal(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		uint64_t digit = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return 0;
		v = v * 10 + digit;
	}
	*out = v;
	return i;
}
