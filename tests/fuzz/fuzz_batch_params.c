/* libFuzzer target: the batching control message, "policy=adaptive
 * tbuf=500us alpha=700" (batch_params_parse in hv/net/batch.c). The input
 * is the text, up to its first NUL: what a guest passes with the
 * JV_HC_NET_BATCH hypercall (at most 159 bytes there) or the console's
 * batch command. A refusal leaves the parameters untouched; an accepted text
 * gives knobs inside the ranges the policy's table declares, which format
 * into BATCH_TEXT_MAX whole and parse back to the same values. */
#include "fuzz_common.h"
#include "lib/lib.h"
#include "net/net.h"

static bool known_policy(const struct batch_policy *p)
{
	for (size_t i = 0; i < batch_policy_count; i++)
		if (batch_policies[i] == p)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1023)
		size = 1023; /* no console line or hypercall is longer */
	char *text = fuzz_cstring(data, size);

	struct batch_params p, untouched;
	memset(&p, 0xA5, sizeof p);
	untouched = p;
	char err[160]; /* backend.c's size */
	int rc = batch_params_parse(text, &p, err, sizeof err);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc) {
		FUZZ_ASSERT(!memcmp(&p, &untouched, sizeof p));
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
	} else {
		FUZZ_ASSERT(known_policy(p.policy));
		for (size_t k = 0; k < p.policy->knob_count; k++) {
			const struct knob *knob = &p.policy->knobs[k];
			if (knob->kind == KNOB_CHOICE) /* an index into its choices */
				for (uint64_t c = 0; c <= p.knob[k]; c++)
					FUZZ_ASSERT(knob->choices[c]);
			else
				FUZZ_ASSERT(p.knob[k] >= knob->min && p.knob[k] <= knob->max);
		}

		char fmt[BATCH_TEXT_MAX];
		int n = batch_params_format(&p, fmt, sizeof fmt);
		FUZZ_ASSERT(n > 0 && (size_t)n < sizeof fmt);
		struct batch_params back;
		FUZZ_ASSERT(batch_params_parse(fmt, &back, err, sizeof err) == 0);
		FUZZ_ASSERT(batch_params_equal(&p, &back));

		/* What hv does with them next must hold up too. */
		struct batch_state s;
		batch_init(&s, &p);
		FUZZ_ASSERT(s.policy == p.policy);
		FUZZ_ASSERT(!batch_set_params(&s, &back, 1000));
	}

	/* The same text with a short error buffer: same answer, terminated. */
	size_t small = 1 + (size ? data[size - 1] % 40 : 0);
	char *short_err = malloc(small);
	if (!short_err)
		abort();
	struct batch_params q;
	FUZZ_ASSERT(batch_params_parse(text, &q, short_err, small) == rc);
	if (rc)
		FUZZ_ASSERT(fuzz_terminated(short_err, small));
	free(short_err);
	free(text);
	return 0;
}
