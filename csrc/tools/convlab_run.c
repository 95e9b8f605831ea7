/* convlab-run: a compiled plan (.clp, from `convlab compile`) timed on the machine it runs on,
 * with no Python: what an engineer copies to an RK3568 next to the plan file, as benchncnn is.
 *
 *   convlab-run NAME.clp [--threads N] [--repeat R] [--warmup W] [--input X.bin] [--output Y.bin]
 *                        [--layers] [--json]
 *   convlab-run NAME.clp --tune [--out tune.csv] [--force] [--threads N] [--repeat R] [--warmup W]
 *
 * --input: the model's inputs as raw little-endian float32, concatenated in input order (default:
 * seeded standard-normal values). --output: the outputs the same way. Times are wall clock and
 * the process's CPU time per run: min / median / max over --repeat runs after --warmup runs;
 * --layers adds each step's median wall time. --tune times every C kernel that supports each conv
 * layer and writes a sweep results CSV for `convlab decide` (tune.c). Every failure is one line on
 * stderr and exit 2. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_engine.h"
#include "tune.h"

typedef struct {
    const char *plan, *input, *output, *out;
    int threads, repeat, warmup, layers, json, tune, force;
} options;

_Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("convlab-run: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int int_arg(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || x < lo || x > hi)
        die("%s needs an integer in %d..%d, got %s", flag, lo, hi, v ? v : "nothing");
    return (int)x;
}

static options parse(int argc, char **argv)
{
    options o = {NULL, NULL, NULL, NULL, 1, 20, 3, 0, 0, 0, 0};
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (!strcmp(a, "--threads")) o.threads = int_arg(a, v, 1, 256), k++;
        else if (!strcmp(a, "--repeat")) o.repeat = int_arg(a, v, 1, 1000000), k++;
        else if (!strcmp(a, "--warmup")) o.warmup = int_arg(a, v, 0, 1000000), k++;
        else if (!strcmp(a, "--input")) { if (!v) die("--input needs a file"); o.input = v, k++; }
        else if (!strcmp(a, "--output")) { if (!v) die("--output needs a file"); o.output = v, k++; }
        else if (!strcmp(a, "--layers")) o.layers = 1;
        else if (!strcmp(a, "--json")) o.json = 1;
        else if (!strcmp(a, "--tune")) o.tune = 1;
        else if (!strcmp(a, "--force")) o.force = 1;
        else if (!strcmp(a, "--out")) { if (!v) die("--out needs a file"); o.out = v, k++; }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: convlab-run NAME.clp [--threads N] [--repeat R] [--warmup W] [--input X.bin] "
                 "[--output Y.bin] [--layers] [--json]\n"
                 "       convlab-run NAME.clp --tune [--out tune.csv] [--force] [--threads N] [--repeat R] "
                 "[--warmup W] [--input X.bin]");
            exit(0);
        } else if (a[0] == '-') die("unknown option %s (see --help)", a);
        else if (o.plan) die("one plan file at a time (got %s and %s)", o.plan, a);
        else o.plan = a;
    }
    if (!o.plan)
        die("no plan file given (usage: convlab-run NAME.clp [options]; --help)");
    if (o.tune && (o.layers || o.json || o.output))
        die("--tune writes a results CSV (--out); --layers, --json and --output do not go with it");
    if (o.out && !o.tune)
        die("--out is the --tune CSV; to write the model's outputs use --output");
    if (o.force && !o.tune)
        die("--force goes with --tune (to replace its --out)");
    if (o.tune && !o.out)
        o.out = "tune.csv";
    return o;
}

static unsigned char *read_file(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) || (*size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        die("%s: cannot tell its size", path);
    unsigned char *data = malloc(*size ? (size_t)*size : 1);
    if (!data || fread(data, 1, (size_t)*size, f) != (size_t)*size)
        die("%s: cannot read it", path);
    fclose(f);
    return data;
}

static int64_t numel(const cl_plan_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->dims[d];
    return n;
}

/* The inputs, in input order, as read or drawn once; copied into the arena before every run,
 * since the arena reuses an input's bytes once its last reader has run. */
static float *make_inputs(const options *o, const cl_plan *p)
{
    const cl_plan_header *h = cl_plan_header_of(p);
    const cl_plan_tensor *in = cl_plan_inputs(p);
    int64_t total = 0;
    for (uint32_t k = 0; k < h->ninputs; k++)
        total += numel(&in[k]);
    if (o->input) {
        long size;
        unsigned char *data = read_file(o->input, &size);
        if (size != total * 4)
            die("%s holds %ld bytes; the plan's inputs need %lld (float32, in input order)", o->input, size,
                (long long)total * 4);
        return (float *)data;
    }
    float *values = malloc(sizeof(float) * (size_t)(total ? total : 1)), *v = values;
    if (!values)
        die("out of memory for the inputs");
    uint64_t s = 0x9E3779B97F4A7C15ull;   /* xorshift64* + Box-Muller: the same values everywhere */
    for (uint32_t k = 0; k < h->ninputs; k++)
        for (int64_t j = 0; j < numel(&in[k]); j++) {
            double u[2];
            for (int t = 0; t < 2; t++) {
                s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
                u[t] = ((double)((s * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
            }
            *v++ = (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
        }
    return values;
}

static void feed(const cl_plan *p, const float *values, float *arena)
{
    const cl_plan_tensor *in = cl_plan_inputs(p);
    for (uint32_t k = 0; k < cl_plan_header_of(p)->ninputs; values += numel(&in[k]), k++)
        memcpy(arena + in[k].offset, values, sizeof(float) * (size_t)numel(&in[k]));
}

static void write_outputs(const options *o, const cl_plan *p, const float *arena)
{
    const cl_plan_header *h = cl_plan_header_of(p);
    const cl_plan_tensor *out = cl_plan_outputs(p);
    FILE *f = fopen(o->output, "wb");
    if (!f)
        die("%s: %s", o->output, strerror(errno));
    for (uint32_t k = 0; k < h->noutputs; k++)
        if (fwrite(arena + out[k].offset, 4, (size_t)numel(&out[k]), f) != (size_t)numel(&out[k]))
            die("%s: write failed", o->output);
    if (fclose(f))
        die("%s: write failed", o->output);
}

double seconds(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* First line of /proc/cpuinfo or sysfs that names the CPU, frequency and governor, where readable. */
void read_line(const char *path, const char *key, char *out, size_t n)
{
    char line[256];
    FILE *f = fopen(path, "r");
    out[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (key && (strncmp(line, key, strlen(key)) || !colon))
            continue;
        char *v = key ? colon + 1 : line;
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\n")] = 0;
        snprintf(out, n, "%.*s", (int)n - 1, v);
        break;
    }
    fclose(f);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++)
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 32) printf("\\u%04x", *s);
        else putchar(*s);
    putchar('"');
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    cl_tune_options to = {o.plan, o.out, o.threads, o.repeat, o.warmup, o.force};
    if (o.tune)
        cl_tune_check_outputs(&to);
    long size;
    unsigned char *data = read_file(o.plan, &size);
    cl_plan *p;
    char why[256];
    int rc = cl_plan_open(data, size, &p, why, sizeof why);
    free(data);
    if (rc != CL_OK)
        die("%s: %s", o.plan, why);
    const cl_plan_header *h = cl_plan_header_of(p);
    float *arena = aligned_alloc(64, ((size_t)h->arena_floats * 4 + 63) / 64 * 64 + 64);
    double *step_sum = calloc(h->nsteps + 1, sizeof(double)), *step_t = calloc((size_t)(h->nsteps + 1) * o.repeat, sizeof(double));
    double *wall = calloc((size_t)o.repeat, sizeof(double)), *cpu = calloc((size_t)o.repeat, sizeof(double));
    if (!arena || !step_sum || !step_t || !wall || !cpu)
        die("out of memory for a %lld-float arena", (long long)h->arena_floats);
    memset(arena, 0, (size_t)h->arena_floats * 4);
    float *inputs = make_inputs(&o, p);
    if (o.tune) {
        feed(p, inputs, arena);
        cl_tune(p, arena, &to);
        cl_plan_free(p);
        free(arena), free(inputs), free(step_sum), free(step_t), free(wall), free(cpu);
        return 0;
    }
    int failed = -1;
    for (int r = 0; r < o.warmup + o.repeat; r++) {
        int timed = r >= o.warmup;
        feed(p, inputs, arena);
        memset(step_sum, 0, sizeof(double) * h->nsteps);
        double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
        rc = cl_engine_run(cl_plan_engine(p), arena, 0, (int)h->nsteps, o.threads,
                           o.layers && timed ? step_sum : NULL, CL_CLOCK_WALL, &failed);
        double w1 = seconds(CLOCK_MONOTONIC), c1 = seconds(CLOCK_PROCESS_CPUTIME_ID);
        if (rc != CL_OK)
            die("step %d (%s) failed with code %d%s", failed, cl_plan_label(p, failed), rc,
                rc == CL_ENOMEM ? " (out of memory)" : "");
        if (timed) {
            wall[r - o.warmup] = 1e3 * (w1 - w0);
            cpu[r - o.warmup] = 1e3 * (c1 - c0);
            for (uint32_t k = 0; k < h->nsteps; k++)
                step_t[(size_t)k * o.repeat + r - o.warmup] = 1e3 * step_sum[k];
        }
    }
    if (o.output)
        write_outputs(&o, p, arena);
    char cpu_name[160], freq[64], gov[64];
    read_line("/proc/cpuinfo", "model name", cpu_name, sizeof cpu_name);
    if (!cpu_name[0])
        read_line("/proc/cpuinfo", "Hardware", cpu_name, sizeof cpu_name);
    read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", NULL, freq, sizeof freq);
    read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", NULL, gov, sizeof gov);
    double wmin = wall[0], wmax = wall[0];
    for (int r = 0; r < o.repeat; r++)
        wmin = wall[r] < wmin ? wall[r] : wmin, wmax = wall[r] > wmax ? wall[r] : wmax;
    double wmed = median(wall, o.repeat), cmed = median(cpu, o.repeat);
    const char *name = strrchr(o.plan, '/') ? strrchr(o.plan, '/') + 1 : o.plan;
    if (o.json) {
        printf("{\"plan\": ");
        json_string(name);
        printf(", \"cpu\": ");
        json_string(cpu_name[0] ? cpu_name : "unknown");
        printf(", \"freq_khz\": ");
        json_string(freq);
        printf(", \"governor\": ");
        json_string(gov);
        printf(", \"threads\": %d, \"repeat\": %d, \"warmup\": %d, \"min_ms\": %.4f, \"median_ms\": %.4f, "
               "\"max_ms\": %.4f, \"cpu_median_ms\": %.4f", o.threads, o.repeat, o.warmup, wmin, wmed, wmax, cmed);
        if (o.layers) {
            printf(", \"layers\": [");
            for (uint32_t k = 0; k < h->nsteps; k++) {
                printf("%s{\"step\": ", k ? ", " : "");
                json_string(cl_plan_label(p, (int)k));
                printf(", \"median_ms\": %.4f}", median(step_t + (size_t)k * o.repeat, o.repeat));
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("cpu: %s; frequency: %s%s; governor: %s\n", cpu_name[0] ? cpu_name : "unknown",
               freq[0] ? freq : "not readable", freq[0] ? " kHz" : "", gov[0] ? gov : "not readable");
        printf("threads %d, %d runs after %d warm-up\n", o.threads, o.repeat, o.warmup);
        if (o.layers)
            for (uint32_t k = 0; k < h->nsteps; k++)
                printf("  %-63s %9.4f ms\n", cl_plan_label(p, (int)k), median(step_t + (size_t)k * o.repeat, o.repeat));
        printf("%24s  min = %9.3f  median = %9.3f  max = %9.3f  ms  (cpu median %.3f)\n", name, wmin, wmed, wmax,
               cmed);
    }
    cl_plan_free(p);
    free(arena), free(inputs), free(step_sum), free(step_t), free(wall), free(cpu);
    return 0;
}
