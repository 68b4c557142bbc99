/* The spool plugin's record readers, reached from the fuzz targets.
 *
 * spool_harness.c compiles plugins/spool/spool.c into itself, so its static
 * readers (ndjson_line, csv_line, the xAPI line and array readers) run
 * exactly as shipped, with nothing in the plugin changed or exported. Items
 * they emit go through the same checks tierd-connector applies
 * (connector/hostcheck.c) and are then packed as the protobuf messages the
 * host would send, and read back. */
#ifndef TD_FUZZ_SPOOL_HARNESS_H
#define TD_FUZZ_SPOOL_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* How many CSV configurations spool_harness_csv can be asked for. */
#define SPOOL_HARNESS_CSV_CONFIGS 8

/* Reads data as an .ndjson file. */
void spool_harness_ndjson(const uint8_t *data, size_t size);
/* Reads data as a .csv file under configuration `config` (taken modulo
 * SPOOL_HARNESS_CSV_CONFIGS): events or partners, delimiter, and whether
 * columns are mapped by their own names or renamed with constants. */
void spool_harness_csv(unsigned config, const uint8_t *data, size_t size);
/* Reads data as an .xapi file: a JSON array when it starts with '[' after
 * white space, otherwise one statement per line, as the plugin decides. */
void spool_harness_xapi(const uint8_t *data, size_t size);

#endif
