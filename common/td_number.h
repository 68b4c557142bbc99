/* Whole numbers from text (flags, config values): the one checked parse.
 *
 * td_number_parse accepts decimal digits only (no sign, no space, no
 * suffix, not empty) whose value lies in min..max, so "", "abc", "3x",
 * "-1" and a number past max are all refused where atoi would have
 * answered something. It does not print: the caller names the flag or key
 * in its own error. */
#ifndef TD_NUMBER_H
#define TD_NUMBER_H

#include <stdint.h>

/* 0 with *out set, or -1 (and *out untouched) when s is not such a number. */
int td_number_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
