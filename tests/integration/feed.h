/* The change-feed suites' fixture (test_watch, test_long_poll): a program
 * whose tiers count deals, so every deal is a change a test can name in
 * advance, and the two requests those suites make over and over.
 *
 * Partners are named by a printf format taking their number ("p-%05d");
 * deals get ids of their own, unique within the test process. Both fail
 * the test unless the daemon takes every item. */
#ifndef TD_TEST_FEED_H
#define TD_TEST_FEED_H

#include "tierd/client.h"

/* reseller: Registered at 1 deal, Selling at 2, Gold at 3; services:
 * Certified at 1. Review immediate, no grace: a tier follows its deals at
 * once. */
extern const char feed_program_yaml[];

/* Partners first..first+n-1 of one type, in one request. */
void feed_put_partners(td_client *c, const char *id_fmt, int first, int n, const char *type);
/* One deal_closed at `at` for each of partners first..first+n-1, in one
 * request; committed when this returns. */
void feed_deals(td_client *c, const char *id_fmt, int first, int n, const char *at);

#endif
