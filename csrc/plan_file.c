/* Compiled plan files (.clp, cl_engine.h): parsed and checked here, for the Python loader's round
 * trip and for convlab-run on a board. A file is untrusted input: every size is checked against
 * the bytes actually present before anything is read, then the checksum, then each tensor, and
 * cl_engine_create checks every step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_engine.h"

struct cl_plan {
    unsigned char *data;          /* 64-byte aligned copy of the file */
    cl_plan_header h;
    const cl_plan_tensor *inputs, *outputs;
    const char *labels;
    cl_engine *engine;
};

enum { CL_PLAN_ALIGN = 64 };

int cl_plan_host_target(void)
{
#if defined(__x86_64__) || defined(_M_X64)
    return CL_PLAN_TARGET_X86_64;
#elif defined(__aarch64__)
    return CL_PLAN_TARGET_AARCH64;
#else
    return 0;
#endif
}

uint64_t cl_plan_checksum(const unsigned char *data, int64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (int64_t k = 0; k < n; k++) {
        h ^= data[k];
        h *= 1099511628211ull;
    }
    return h;
}

static const char *target_name(uint32_t t)
{
    return t == CL_PLAN_TARGET_X86_64 ? "x86-64" : t == CL_PLAN_TARGET_AARCH64 ? "aarch64" : "unknown";
}

static int fail(char *why, int why_len, int rc, const char *text)
{
    if (why && why_len > 0)
        snprintf(why, (size_t)why_len, "%s", text);
    return rc;
}

static int tensors_ok(const cl_plan_tensor *t, uint32_t n, int64_t arena_floats, char *why, int why_len)
{
    for (uint32_t k = 0; k < n; k++) {
        int64_t numel = 1;
        if (memchr(t[k].name, 0, CL_PLAN_NAME) == NULL || t[k].ndim < 0 || t[k].ndim > CL_PLAN_MAX_DIMS)
            return fail(why, why_len, CL_EINVAL, "a tensor entry is corrupt (name not terminated or bad rank)");
        for (int d = 0; d < t[k].ndim; d++) {
            if (t[k].dims[d] < 1 || numel > arena_floats / t[k].dims[d])
                return fail(why, why_len, CL_EINVAL, "a tensor's dims are not positive or exceed the arena");
            numel *= t[k].dims[d];
        }
        if (t[k].offset < 0 || t[k].offset > arena_floats - numel)
            return fail(why, why_len, CL_EINVAL, "a tensor lies outside the arena");
    }
    return CL_OK;
}

int cl_plan_open(const unsigned char *data, int64_t size, cl_plan **out, char *why, int why_len)
{
    char text[200];
    *out = NULL;
    if (!data || size < (int64_t)sizeof(cl_plan_header))
        return fail(why, why_len, CL_EINVAL, "not a convlab plan: shorter than its header (truncated?)");
    cl_plan_header h;
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, "CLPLAN\0\0", 8) != 0)
        return fail(why, why_len, CL_EINVAL, "not a convlab plan (bad magic)");
    if (h.version != CL_PLAN_VERSION) {
        snprintf(text, sizeof text, "plan format version %u, this convlab-run reads version %d: recompile the plan "
                 "with the matching convlab", h.version, CL_PLAN_VERSION);
        return fail(why, why_len, CL_EINVAL, text);
    }
    if (h.target != (uint32_t)cl_plan_host_target()) {
        snprintf(text, sizeof text, "plan compiled for %s, this machine is %s: recompile with --target %s",
                 target_name(h.target), target_name((uint32_t)cl_plan_host_target()),
                 target_name((uint32_t)cl_plan_host_target()));
        return fail(why, why_len, CL_EINVAL, text);
    }
    if (h.step_bytes != sizeof(cl_step))
        return fail(why, why_len, CL_EINVAL, "plan step layout differs from this build's (corrupt or another convlab)");
    if (h.arena_floats < 0 || h.const_bytes < 0 || h.nsteps > (1u << 24) || h.ninputs > 4096 || h.noutputs > 4096)
        return fail(why, why_len, CL_EINVAL, "plan header holds impossible sizes (corrupt)");
    int64_t at = sizeof h;
    int64_t tensors = (int64_t)(h.ninputs + h.noutputs) * (int64_t)sizeof(cl_plan_tensor);
    int64_t labels = (int64_t)h.nsteps * CL_PLAN_NAME, steps = (int64_t)h.nsteps * (int64_t)sizeof(cl_step);
    int64_t consts_at = (at + tensors + labels + steps + CL_PLAN_ALIGN - 1) / CL_PLAN_ALIGN * CL_PLAN_ALIGN;
    if (h.const_bytes > INT64_MAX - consts_at || consts_at + h.const_bytes != size) {
        snprintf(text, sizeof text, "plan is %lld bytes, its header says %lld (truncated or corrupt)",
                 (long long)size, h.const_bytes > INT64_MAX - consts_at ? -1LL : (long long)(consts_at + h.const_bytes));
        return fail(why, why_len, CL_EINVAL, text);
    }
    if (cl_plan_checksum(data + at, size - at) != h.checksum)
        return fail(why, why_len, CL_EINVAL, "plan checksum mismatch (the file is corrupt)");
    cl_plan *p = calloc(1, sizeof *p);
    size_t alloc = (size_t)(size + CL_PLAN_ALIGN - 1) / CL_PLAN_ALIGN * CL_PLAN_ALIGN;
    unsigned char *copy = p ? aligned_alloc(CL_PLAN_ALIGN, alloc ? alloc : CL_PLAN_ALIGN) : NULL;
    if (!copy) {
        free(p);
        return fail(why, why_len, CL_ENOMEM, "out of memory reading the plan");
    }
    memcpy(copy, data, (size_t)size);
    p->data = copy;
    p->h = h;
    p->inputs = (const cl_plan_tensor *)(copy + at);
    p->outputs = p->inputs + h.ninputs;
    p->labels = (const char *)(copy + at + tensors);
    const cl_step *st = (const cl_step *)(copy + at + tensors + labels);
    int rc = tensors_ok(p->inputs, h.ninputs + h.noutputs, h.arena_floats, why, why_len);
    for (uint32_t k = 0; rc == CL_OK && k < h.nsteps; k++)
        if (memchr(p->labels + (size_t)k * CL_PLAN_NAME, 0, CL_PLAN_NAME) == NULL)
            rc = fail(why, why_len, CL_EINVAL, "a step label is not terminated (corrupt)");
    if (rc == CL_OK) {
        int bad = -1;
        char step_why[160] = "";
        rc = cl_engine_create(st, (int)h.nsteps, copy + consts_at, h.const_bytes, h.arena_floats, &p->engine,
                              &bad, step_why, sizeof step_why);
        if (rc != CL_OK) {
            snprintf(text, sizeof text, "plan step %d (%s) refused: %s", bad,
                     bad >= 0 ? p->labels + (size_t)bad * CL_PLAN_NAME : "?", step_why);
            fail(why, why_len, rc, text);
        }
    }
    if (rc != CL_OK) {
        cl_plan_free(p);
        return rc;
    }
    *out = p;
    return CL_OK;
}

void cl_plan_free(cl_plan *p)
{
    if (!p)
        return;
    cl_engine_free(p->engine);
    free(p->data);
    free(p);
}

const cl_plan_header *cl_plan_header_of(const cl_plan *p) { return &p->h; }
const cl_plan_tensor *cl_plan_inputs(const cl_plan *p) { return p->inputs; }
const cl_plan_tensor *cl_plan_outputs(const cl_plan *p) { return p->outputs; }
const cl_engine *cl_plan_engine(const cl_plan *p) { return p->engine; }

const char *cl_plan_label(const cl_plan *p, int step)
{
    return step >= 0 && (uint32_t)step < p->h.nsteps ? p->labels + (size_t)step * CL_PLAN_NAME : "";
}
