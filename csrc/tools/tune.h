/* convlab-run --tune (tune.c): every C kernel that supports each conv layer of a plan, timed on
 * the layer's real shape and activations, written as a sweep results CSV (+ JSON sidecar) that
 * `convlab decide` turns into this device's decision table. */
#ifndef CL_TUNE_H
#define CL_TUNE_H

#include <time.h>

#include "cl_engine.h"

typedef struct {
    const char *plan;       /* the plan file's path (its name goes into the sidecar) */
    const char *out;        /* the CSV; the sidecar is the same path with .json */
    int threads, repeat, warmup, force;
} cl_tune_options;

/* Shared with convlab_run.c: one-line error on stderr and exit 2; a /proc or sysfs line; a clock
 * (CLOCK_*) in seconds; the qsort order of doubles. */
_Noreturn void die(const char *fmt, ...);
void read_line(const char *path, const char *key, char *out, size_t n);
double seconds(clockid_t c);
int cmp_double(const void *a, const void *b);

/* Checks that the outputs can be written (before any timing). */
void cl_tune_check_outputs(const cl_tune_options *o);
/* arena: the plan's arena with its inputs fed. Runs the model step by step, timing the candidates
 * of each distinct conv shape when its input is live, then writes the CSV and its sidecar. */
void cl_tune(const cl_plan *p, const float *arena, const cl_tune_options *o);

#endif
