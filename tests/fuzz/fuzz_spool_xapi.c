/* Fuzzes the spool plugin's xAPI reader (statements one per line, or a JSON
 * array of them; verb, actor and result handling in plugins/spool/spool.c)
 * through spool_harness.c. The input is the file. */
#include "fuzz_common.h"
#include "spool_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spool_harness_xapi(data, size);
    return 0;
}
