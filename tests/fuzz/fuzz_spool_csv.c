/* Fuzzes the spool plugin's CSV reader (csv_split, the header mapping and
 * csv_line in plugins/spool/spool.c) through spool_harness.c.
 *
 * The first byte picks one of the harness's CSV configurations (events or
 * partners, the delimiter, columns mapped by their own names or renamed);
 * the rest is the file. */
#include "fuzz_common.h"
#include "spool_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned config = fuzz_take_u8(&data, &size);
    spool_harness_csv(config, data, size);
    return 0;
}
