/* Unit tests of the guest limits: the token bucket (hv/lib/limit.c), the
 * limits table and the limits= parser (hv/vm/limits.c), and limits= on a
 * module line (hv/vm/vm_config.c). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "lib/lib.h"
#include "vm/vm.h"

#define S 1000000000ull

TEST(token_bucket_starts_full_then_refuses)
{
	struct token_bucket b;
	token_bucket_init(&b, 100, 10, 5 * S);
	for (int i = 0; i < 10; i++)
		CHECK(token_bucket_take(&b, 5 * S, 1));
	CHECK(!token_bucket_take(&b, 5 * S, 1));
	/* A refusal takes nothing: the next token comes after 1/rate. */
	CHECK_EQ(token_bucket_wait_ns(&b, 5 * S, 1), S / 100);
	CHECK(!token_bucket_take(&b, 5 * S + S / 100 - 1, 1));
	CHECK(token_bucket_take(&b, 5 * S + S / 100, 1));
}

TEST(token_bucket_rate_over_a_long_run)
{
	/* Taking as fast as the clock allows for 10 s gets burst + 10 * rate. */
	struct token_bucket b;
	token_bucket_init(&b, 1000, 50, 0);
	uint64_t got = 0;
	for (uint64_t t = 0; t <= 10 * S; t += 100000) /* every 100 us */
		while (token_bucket_take(&b, t, 1))
			got++;
	CHECK_EQ(got, 50 + 10 * 1000);
}

TEST(token_bucket_never_holds_more_than_burst)
{
	struct token_bucket b;
	token_bucket_init(&b, 1000000, 3, 0);
	CHECK(token_bucket_take(&b, 0, 3));
	/* An hour idle earns only the burst back. */
	uint64_t t = 3600 * S;
	CHECK(token_bucket_take(&b, t, 3));
	CHECK(!token_bucket_take(&b, t, 1));
}

TEST(token_bucket_rate_zero_is_no_limit)
{
	struct token_bucket b;
	token_bucket_init(&b, 0, 1, 0);
	for (int i = 0; i < 100000; i++)
		CHECK(token_bucket_take(&b, 0, 1000));
	CHECK_EQ(token_bucket_wait_ns(&b, 0, 1), 0);
}

TEST(token_bucket_clock_going_back_earns_nothing)
{
	struct token_bucket b;
	token_bucket_init(&b, 10, 1, 100 * S);
	CHECK(token_bucket_take(&b, 100 * S, 1));
	/* A VM restored on a host whose clock is behind: no tokens from the
	 * wrap, and the bucket goes on from the new clock. */
	CHECK(!token_bucket_take(&b, 1 * S, 1));
	CHECK(!token_bucket_take(&b, 1 * S + S / 10 - 1, 1));
	CHECK(token_bucket_take(&b, 1 * S + S / 10, 1));
}

TEST(token_bucket_extremes_do_not_overflow)
{
	struct token_bucket b;
	token_bucket_init(&b, UINT64_MAX, UINT64_MAX, 0);
	CHECK_EQ(b.rate, TOKEN_BUCKET_MAX);
	CHECK_EQ(b.burst, TOKEN_BUCKET_MAX);
	CHECK(token_bucket_take(&b, 0, TOKEN_BUCKET_MAX));
	CHECK(!token_bucket_take(&b, 0, 1));
	CHECK(token_bucket_take(&b, UINT64_MAX, TOKEN_BUCKET_MAX)); /* full again */
	/* A use bigger than the bucket costs the whole bucket, not forever. */
	struct token_bucket c;
	token_bucket_init(&c, 1, 2, 0);
	CHECK(token_bucket_take(&c, 0, 1000));
	CHECK(!token_bucket_take(&c, 0, 1));
	CHECK_EQ(token_bucket_wait_ns(&c, 0, 1000), 2 * S);
}

TEST(limits_table_is_complete_and_sane)
{
	for (unsigned i = 0; i < LIMIT_COUNT; i++) {
		const struct vm_limit_def *d = &vm_limit_defs[i];
		CHECK(d->name && d->unit && d->exceeded);
		CHECK(d->value >= d->min && d->value <= d->max);
		CHECK(d->kind == LIMIT_RATE ? d->burst >= 1 : d->burst == 0);
		CHECK(strcmp(vm_limit_action_name(d->action), "?"));
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(d->name, vm_limit_defs[j].name));
	}
	CHECK_EQ(vm_limit_defs[LIMIT_CONSOLE_LINE_BYTES].max,
	         sizeof(((struct vuart *)0)->line) - 1);
}

TEST(limits_parse_values_and_bursts)
{
	struct vm_limit_setting set[LIMIT_COUNT];
	char err[200];
	vm_limits_defaults(set);
	CHECK_EQ(vm_limits_parse("console_lines:50/100,hypercalls:0,timer_period_us:1000", set, err,
	                         sizeof err),
	         0);
	CHECK_EQ(set[LIMIT_CONSOLE_LINES].value, 50);
	CHECK_EQ(set[LIMIT_CONSOLE_LINES].burst, 100);
	CHECK_EQ(set[LIMIT_HYPERCALLS].value, 0);
	CHECK_EQ(set[LIMIT_HYPERCALLS].burst, vm_limit_defs[LIMIT_HYPERCALLS].burst);
	CHECK_EQ(set[LIMIT_TIMER_PERIOD_US].value, 1000);
	CHECK_EQ(set[LIMIT_PACKETS].value, vm_limit_defs[LIMIT_PACKETS].value);
	/* A later item wins, as a module line's limits= wins over hv's. */
	CHECK_EQ(vm_limits_parse("packets:10,packets:20", set, err, sizeof err), 0);
	CHECK_EQ(set[LIMIT_PACKETS].value, 20);
}

TEST(limits_parse_refuses_with_reasons)
{
	struct vm_limit_setting set[LIMIT_COUNT];
	char err[200];
	static const struct {
		const char *spec, *why;
	} bad[] = {
	    {"", "limits= is empty"},
	    {"frames:10", "unknown limit 'frames' (known: mem_mib console_lines"},
	    {"packets", "limit packets needs a number: packets:N[/BURST]"},
	    {"packets:", "needs a number"},
	    {"packets:x", "needs a number"},
	    {"packets:10/", "bad value '10/'"},
	    {"packets:10/0", "burst 0 of limit packets out of range"},
	    {"packets:10x", "bad value '10x'"},
	    {"mem_mib:4/2", "bad value '4/2' for limit mem_mib (mem_mib:N)"},
	    {"mem_mib:2048", "limit mem_mib:2048 out of range (2..1024 MiB)"},
	    {"timer_period_us:1", "out of range (10..100000 us)"},
	    {"packets:10,,hypercalls:5", "has an empty item"},
	    {"packets:99999999999999999999", "needs a number"},
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		vm_limits_defaults(set);
		err[0] = '\0';
		CHECK_EQ(vm_limits_parse(bad[i].spec, set, err, sizeof err), -1);
		if (!strstr(err, bad[i].why)) {
			printf("  spec '%s': %s\n", bad[i].spec, err);
			CHECK(strstr(err, bad[i].why));
		}
	}
}

TEST(vm_config_limits_option)
{
	struct vm_config c;
	char err[256];
	CHECK_EQ(
	    vm_config_parse("name=a limits=console_lines:5/5 -- hello", "vm0", &c, err, sizeof err),
	    0);
	CHECK_STR(c.limits, "console_lines:5/5");
	CHECK_EQ(
	    vm_config_parse("name=a limits=console_lines:x -- hello", "vm0", &c, err, sizeof err),
	    -1);
	CHECK(strstr(err, "limit console_lines needs a number"));
	CHECK_EQ(vm_config_parse("name=b -- hello", "vm0", &c, err, sizeof err), 0);
	CHECK_STR(c.limits, "");
}
