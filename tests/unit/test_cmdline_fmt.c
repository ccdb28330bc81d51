/* Unit tests of the boot command line parser and the formatter (hv/lib). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lib/lib.h"

static const char *const onoff[] = {"on", "off", NULL};
static const struct cmdline_option opts[] = {
    {"vmx", onoff, ""},
    {"name", NULL, ""},
};

TEST(cmdline_accepts_known_options)
{
	char err[200] = "";
	CHECK_EQ(cmdline_validate("vmx=on  name=vm0\tname=x", opts, 2, err, sizeof err), 0);
	CHECK_EQ(cmdline_validate("", opts, 2, err, sizeof err), 0);
}

TEST(cmdline_rejects_unknown_option_and_names_it)
{
	char err[200] = "";
	CHECK_EQ(cmdline_validate("vmx=on bogus=3", opts, 2, err, sizeof err), -1);
	CHECK(strstr(err, "bogus=3") != NULL);
	CHECK(strstr(err, "known: vmx name") != NULL);
}

TEST(cmdline_rejects_bad_choice)
{
	char err[200] = "";
	CHECK_EQ(cmdline_validate("vmx=maybe", opts, 2, err, sizeof err), -1);
	CHECK_STR(err, "bad value 'maybe' for option 'vmx' (allowed: on|off)");
	CHECK_EQ(cmdline_validate("vmx", opts, 2, err, sizeof err), -1); /* bare: value "" */
}

TEST(cmdline_get_last_value_wins)
{
	char v[8];
	CHECK(cmdline_get("name=a vmx=off name=bbbbbbbbbbbb", "name", v, sizeof v));
	CHECK_STR(v, "bbbbbbb"); /* truncated to fit */
	CHECK(cmdline_get("vmx", "vmx", v, sizeof v));
	CHECK_STR(v, "");
	CHECK(!cmdline_get("vmxx=1 avmx=2", "vmx", v, sizeof v));
}

TEST(fmt_matches_libc_for_common_conversions)
{
	char ours[128], libc[128];
	struct {
		const char *fmt;
		long long v;
	} cases[] = {
	    {"%d", -42},    {"%5d", 42},      {"%-5d|", 42},        {"%05d", -42},
	    {"%x", 0xbeef}, {"%08X", 0xbeef}, {"%u", 4000000000LL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fmt_snprintf(ours, sizeof ours, cases[i].fmt, (int)cases[i].v);
		snprintf(libc, sizeof libc, cases[i].fmt, (int)cases[i].v);
		CHECK_STR(ours, libc);
	}
	fmt_snprintf(ours, sizeof ours, "%lld %llu %llx", LLONG_MIN, ~0ULL, 0x123456789abcdefULL);
	snprintf(libc, sizeof libc, "%lld %llu %llx", LLONG_MIN, ~0ULL, 0x123456789abcdefULL);
	CHECK_STR(ours, libc);
	fmt_snprintf(ours, sizeof ours, "[%s|%.3s|%-6s|%c%%]", "abc", "abcdef", "ab", 'z');
	CHECK_STR(ours, "[abc|abc|ab    |z%]");
}

TEST(fmt_truncates_and_reports_full_length)
{
	char buf[6];
	int n = fmt_snprintf(buf, sizeof buf, "hello %s", "world");
	CHECK_EQ(n, 11);
	CHECK_STR(buf, "hello");
	CHECK_EQ(fmt_snprintf(NULL, 0, "%d", 12345), 5);
}

TEST(fmt_json_escape_keeps_log_lines_valid)
{
	char buf[64];
	fmt_json_escape(buf, sizeof buf, "a\"b\\c\nd\x01\xff");
	CHECK_STR(buf, "a\\\"b\\\\c\\u000ad\\u0001\\u00ff");
	fmt_json_escape(buf, 4, "abcdef");
	CHECK_STR(buf, "abc");
}

/* Found by tests/fuzz/fuzz_hv_cmdline: a cut in the middle of an escape
 * left a lone backslash (or half a \u00XX) at the end, which escapes the
 * closing quote of hv's JSON event. The cut now falls between sequences. */
TEST(fmt_json_escape_never_cuts_an_escape)
{
	char buf[8];
	fmt_json_escape(buf, 4, "ab\"c");
	CHECK_STR(buf, "ab");
	fmt_json_escape(buf, 5, "ab\"c");
	CHECK_STR(buf, "ab\\\"");
	fmt_json_escape(buf, 7,
	                "a\x01"
	                "b");
	CHECK_STR(buf, "a");
	fmt_json_escape(buf, 8,
	                "a\x01"
	                "b");
	CHECK_STR(buf, "a\\u0001");
	fmt_json_escape(buf, 1, "\"");
	CHECK_STR(buf, "");
	/* hv's boot event: a 1023-byte command line of control bytes, escaped
	 * into its 2048-byte buffer (core/main.c), ends on a whole \u0001. */
	static char line[1024], esc[2048];
	memset(line, 1, sizeof line - 1);
	line[0] = line[1] = 'x';
	fmt_json_escape(esc, sizeof esc, line);
	CHECK_EQ(strlen(esc), 2 + 340 * 6);
	CHECK_STR(esc + strlen(esc) - 6, "\\u0001");
}
