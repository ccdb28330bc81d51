/* Runs anywhere in hv (console, VM-exit context, the migration loop) and on
 * the host in unit tests: knobs as text. A policy declares its knobs in a
 * table (lib.h, struct knob); the mechanism that runs it parses, checks,
 * formats and documents them through these functions, so no mechanism
 * names a policy's knob and a new knob needs no edit outside its policy. */
#include "lib/lib.h"

static bool is_word(const char *s, size_t len, const char *literal)
{
	return strlen(literal) == len && !strncmp(s, literal, len);
}

static const struct {
	const char *unit;
	uint64_t ns;
} duration_units[] = {{"ns", 1}, {"us", NS_PER_US}, {"ms", NS_PER_MS}, {"s", NS_PER_S}};

/* "500us", "1ms", "2s", "750ns": a whole number and a unit. */
static bool parse_duration(const char *s, size_t len, uint64_t *out_ns)
{
	uint64_t v;
	size_t digits = parse_decimal(s, len, &v);
	if (digits == 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++) {
		if (!is_word(s + digits, len - digits, duration_units[i].unit))
			continue;
		/* Saturates: larger than any range a knob accepts, and v * ns
		 * cannot overflow. */
		uint64_t ns = duration_units[i].ns;
		*out_ns = v > UINT64_MAX / ns ? UINT64_MAX : v * ns;
		return true;
	}
	return false;
}

/* The largest unit that divides ns exactly, so that the text parses back. */
static int format_duration(uint64_t ns, char *buf, size_t size)
{
	/* 0 reads best as "0us", the scale most knobs are set on. */
	for (size_t i = ARRAY_SIZE(duration_units); i-- > 1;)
		if ((ns || duration_units[i].ns == NS_PER_US) && ns % duration_units[i].ns == 0)
			return fmt_snprintf(buf, size, "%llu%s",
			                    (unsigned long long)(ns / duration_units[i].ns),
			                    duration_units[i].unit);
	return fmt_snprintf(buf, size, "%lluns", (unsigned long long)ns);
}

int knob_format_value(const struct knob *k, uint64_t value, char *buf, size_t size)
{
	switch (k->kind) {
	case KNOB_DURATION: return format_duration(value, buf, size);
	case KNOB_CHOICE:
		for (uint64_t i = 0; k->choices[i]; i++)
			if (i == value)
				return fmt_snprintf(buf, size, "%s", k->choices[i]);
		break; /* not a choice: the number, which will not parse back */
	case KNOB_NUMBER: break;
	}
	return fmt_snprintf(buf, size, "%llu", (unsigned long long)value);
}

void knobs_default(const struct knob *knobs, size_t count, uint64_t *values)
{
	for (size_t i = 0; i < count; i++)
		values[i] = knobs[i].def;
}

int knobs_format(const struct knob *knobs, size_t count, const uint64_t *values, char *buf,
                 size_t size)
{
	size_t used = 0;
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		char value[32];
		knob_format_value(&knobs[i], values[i], value, sizeof value);
		used += (size_t)fmt_snprintf(buf + MIN(used, size), size - MIN(used, size),
		                             "%s%s=%s", i ? " " : "", knobs[i].name, value);
	}
	return (int)used;
}

int knob_describe(const struct knob *k, char *buf, size_t size)
{
	char def[32], low[32], high[32];
	knob_format_value(k, k->def, def, sizeof def);
	if (k->kind == KNOB_CHOICE) {
		char words[64] = "";
		size_t used = 0;
		for (size_t i = 0; k->choices[i]; i++)
			used += (size_t)fmt_snprintf(words + MIN(used, sizeof words),
			                             sizeof words - MIN(used, sizeof words), "%s%s",
			                             i ? "|" : "", k->choices[i]);
		return fmt_snprintf(buf, size, "%s=%s (default %s): %s", k->name, words, def,
		                    k->help);
	}
	knob_format_value(k, k->min, low, sizeof low);
	knob_format_value(k, k->max, high, sizeof high);
	if (k->kind == KNOB_DURATION)
		return fmt_snprintf(buf, size, "%s=DURATION (default %s, %s..%s): %s", k->name, def,
		                    low, high, k->help);
	return fmt_snprintf(buf, size, "%s=N (%s, default %s, %s..%s): %s", k->name, k->unit, def,
	                    low, high, k->help);
}

/* The next word of *s (words are split by spaces and tabs): its start, its
 * length in *len (0 at the end), and *s moved past it. */
static const char *next_word(const char **s, size_t *len)
{
	const char *p = *s;
	while (*p == ' ' || *p == '\t')
		p++;
	const char *word = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*len = (size_t)(p - word);
	*s = p;
	return word;
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

/* "fixed-time: tbuf; engine: round_limit", for the message that refuses a
 * knob nobody has. */
static void list_knobs(const struct knob_group *groups, size_t group_count, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t g = 0; g < group_count; g++) {
		used += (size_t)fmt_snprintf(buf + MIN(used, size), size - MIN(used, size),
		                             "%s%s:", g ? "; " : "", groups[g].owner);
		if (!groups[g].count)
			used += (size_t)fmt_snprintf(buf + MIN(used, size), size - MIN(used, size),
			                             " none");
		for (size_t i = 0; i < groups[g].count; i++)
			used += (size_t)fmt_snprintf(buf + MIN(used, size), size - MIN(used, size),
			                             " %s", groups[g].knobs[i].name);
	}
}

static int parse_value(const struct knob *k, const char *value, size_t len, uint64_t *out,
                       char *err, size_t err_len)
{
	uint64_t v = 0;
	if (k->kind == KNOB_CHOICE) {
		for (size_t i = 0; k->choices[i]; i++)
			if (is_word(value, len, k->choices[i])) {
				*out = i;
				return 0;
			}
		char help[160];
		knob_describe(k, help, sizeof help);
		FAIL("%s=%.*s: not one of its choices (%s)", k->name, (int)len, value, help);
	}
	if (k->kind == KNOB_DURATION && !parse_duration(value, len, &v))
		FAIL("bad duration '%.*s' for %s: a whole number and a unit (ns, us, ms, s), e.g. "
		     "500us",
		     (int)len, value, k->name);
	if (k->kind == KNOB_NUMBER && (len == 0 || parse_decimal(value, len, &v) != len))
		FAIL("%s=%.*s: not a whole number of %s", k->name, (int)len, value, k->unit);
	if (v < k->min || v > k->max) {
		char low[32], high[32];
		knob_format_value(k, k->min, low, sizeof low);
		knob_format_value(k, k->max, high, sizeof high);
		FAIL("%s=%.*s out of range (%s to %s%s%s)", k->name, (int)len, value, low, high,
		     k->kind == KNOB_NUMBER ? " " : "", k->kind == KNOB_NUMBER ? k->unit : "");
	}
	*out = v;
	return 0;
}

int knobs_parse(const struct knob_group *groups, size_t group_count, const char *text,
                const char *skip_key, char *err, size_t err_len)
{
	/* Which knobs were given, so a second setting is refused rather than
	 * silently winning. */
	uint32_t seen[4] = {0};
	if (group_count > ARRAY_SIZE(seen))
		FAIL("too many knob groups (%zu)", group_count);
	for (const char *s = text; *s;) {
		size_t len, klen = 0;
		const char *word = next_word(&s, &len);
		if (!len)
			continue;
		while (klen < len && word[klen] != '=')
			klen++;
		char known[160];
		if (klen == len || klen == 0) {
			list_knobs(groups, group_count, known, sizeof known);
			FAIL("expected knob=value, got '%.*s' (knobs: %s)", (int)len, word, known);
		}
		if (skip_key && is_word(word, klen, skip_key))
			continue;
		const char *value = word + klen + 1;
		size_t vlen = len - klen - 1;
		bool found = false;
		for (size_t g = 0; g < group_count && !found; g++)
			for (size_t i = 0; i < groups[g].count && i < KNOBS_MAX && !found; i++) {
				const struct knob *k = &groups[g].knobs[i];
				if (!is_word(word, klen, k->name))
					continue;
				found = true;
				if (seen[g] & (1u << i))
					FAIL("%s given twice", k->name);
				seen[g] |= 1u << i;
				if (parse_value(k, value, vlen, &groups[g].values[i], err, err_len))
					return -1;
			}
		if (!found) {
			list_knobs(groups, group_count, known, sizeof known);
			FAIL("unknown knob '%.*s' (knobs: %s)", (int)klen, word, known);
		}
	}
	return 0;
}

bool knob_text_find(const char *text, const char *key, const char **value, size_t *value_len,
                    unsigned *times)
{
	size_t key_len = strlen(key);
	*times = 0;
	for (const char *s = text; *s;) {
		size_t len;
		const char *word = next_word(&s, &len);
		if (len > key_len && word[key_len] == '=' && !strncmp(word, key, key_len)) {
			(*times)++;
			*value = word + key_len + 1;
			*value_len = len - key_len - 1;
		}
	}
	return *times == 1;
}
