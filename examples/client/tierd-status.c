/* An example libtierd-client program: tierd's status, then the tiers of
 * the partners named on the command line.
 *
 *   cc tierd-status.c $(pkg-config --cflags --libs tierd-client) -o tierd-status
 *   ./tierd-status [--url URL] [--token T] [PARTNER...]
 *
 * The URL and token default to $TIERD_URL and $TIERD_TOKEN, then
 * ipc:///var/lib/tierd/rpc.sock (run as root or a member of group tierd).
 * Exit status: 0, 1 when tierd refused a call, 2 usage, 3 unreachable. */
#include <stdio.h>
#include <string.h>

#include <tierd/client.h>

static int fail(const char *what, const td_error *err)
{
    fprintf(stderr, "tierd-status: %s: %s\n", what, err->message);
    return err->code == TD_UNAVAILABLE || err->code == TD_DEADLINE_EXCEEDED ? 3 : 1;
}

static int print_status(td_client *c)
{
    Tierd__StatusResponse *st = NULL;
    td_error err;
    if (td_client_status(c, &st, &err) != 0)
        return fail("status", &err);
    printf("tierd %s at %s\n", st->version, td_client_url(c));
    if (st->program[0])
        printf("program %s version %s\n", st->program, st->program_version);
    else
        printf("no program loaded\n");
    printf("%llu partners, %llu events, %llu pending\n", (unsigned long long)st->partners,
           (unsigned long long)st->events, (unsigned long long)st->pending);
    tierd__status_response__free_unpacked(st, NULL);
    return 0;
}

static int print_tiers(td_client *c, const char *const *ids, size_t n)
{
    Tierd__GetTiersResponse *resp = NULL;
    td_error err;
    if (td_client_get_tiers(c, ids, n, &resp, &err) != 0)
        return fail("tiers", &err);
    for (size_t i = 0; i < resp->n_partners; i++) {
        const Tierd__PartnerTiers *p = resp->partners[i];
        if (!p->found) {
            printf("%s: not found\n", p->partner);
            continue;
        }
        for (size_t j = 0; j < p->n_tiers; j++)
            printf("%s %s %s\n", p->partner, p->tiers[j]->ladder,
                   p->tiers[j]->tier[0] ? p->tiers[j]->tier : "(unranked)");
    }
    tierd__get_tiers_response__free_unpacked(resp, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc || (strcmp(argv[i], "--url") != 0 && strcmp(argv[i], "--token") != 0)) {
            fprintf(stderr, "usage: tierd-status [--url URL] [--token T] [PARTNER...]\n");
            return 2;
        }
        *(strcmp(argv[i], "--url") == 0 ? &url : &token) = argv[i + 1];
    }
    td_client *c = NULL;
    td_error err;
    if (td_client_open(url, token, 0, &c, &err) != 0)
        return fail("open", &err);
    int rc = print_status(c);
    if (rc == 0 && i < argc)
        rc = print_tiers(c, (const char *const *)argv + i, (size_t)(argc - i));
    td_client_close(c);
    return rc;
}
