/* Generates calc_load.golden: the kernel's fixed-point load average
 * (include/linux/sched/loadavg.h, kernel/sched/loadavg.c) driven by a fixed
 * sequence of active-task counts, printed as /proc/loadavg would print it.
 * Rebuild with: cc -O2 -o /tmp/calc_load calc_load.c && /tmp/calc_load > calc_load.golden
 */
#include <stdio.h>

#define FSHIFT 11
#define FIXED_1 (1 << FSHIFT)
#define EXP_1 1884
#define EXP_5 2014
#define EXP_15 2037
#define LOAD_INT(x) ((x) >> FSHIFT)
#define LOAD_FRAC(x) LOAD_INT(((x) & (FIXED_1 - 1)) * 100)

static unsigned long calc_load(unsigned long load, unsigned long exp, unsigned long active)
{
	unsigned long newload = load * exp + active * (FIXED_1 - exp);
	if (active >= load)
		newload += FIXED_1 - 1;
	return newload / FIXED_1;
}

static unsigned long fixed_power_int(unsigned long x, unsigned int frac_bits, unsigned int n)
{
	unsigned long result = 1UL << frac_bits;
	if (n) {
		for (;;) {
			if (n & 1) {
				result *= x;
				result += 1UL << (frac_bits - 1);
				result >>= frac_bits;
			}
			n >>= 1;
			if (!n)
				break;
			x *= x;
			x += 1UL << (frac_bits - 1);
			x >>= frac_bits;
		}
	}
	return result;
}

int main(void)
{
	unsigned long av[3] = {0, 0, 0};
	const unsigned long exps[3] = {EXP_1, EXP_5, EXP_15};
	/* step i: active count and how many intervals it spans */
	unsigned int seed = 12345;
	for (int i = 0; i < 600; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned long active = (seed >> 16) % 9;
		if (i >= 200 && i < 300)
			active = 0;
		if (i >= 300 && i < 400)
			active = 64 + (seed >> 20) % 7;
		unsigned int n = (i % 37 == 36) ? 1 + (seed >> 24) % 20 : 1;
		for (int k = 0; k < 3; k++) {
			if (n == 1)
				av[k] = calc_load(av[k], exps[k], active * FIXED_1);
			else
				av[k] = calc_load(av[k], fixed_power_int(exps[k], FSHIFT, n), active * FIXED_1);
		}
		unsigned long p[3];
		for (int k = 0; k < 3; k++)
			p[k] = av[k] + FIXED_1 / 200;
		printf("%lu %u %lu %lu %lu %lu.%02lu %lu.%02lu %lu.%02lu\n", active, n, av[0], av[1], av[2],
		       LOAD_INT(p[0]), LOAD_FRAC(p[0]), LOAD_INT(p[1]), LOAD_FRAC(p[1]), LOAD_INT(p[2]), LOAD_FRAC(p[2]));
	}
	return 0;
}
