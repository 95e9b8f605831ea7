/* convlab-run --tune: per conv layer of a plan, every C kernel that supports it, timed here.
 *
 * The model runs once, step by step, from the fed inputs; at each conv step whose shape was not
 * met before, every kernel cl_engine_kernel_supports() admits is prepared as a one-step engine
 * (cl_engine_conv_variant: the layer's weights, bias and activation, no residual add) writing into
 * scratch past the plan's arena, so it reads the layer's real input and the plan's activations
 * stay intact. The candidates are timed interleaved, --warmup rounds then --repeat rounds, and the
 * median and quartiles (numpy's linear interpolation) go into one results row per kernel, in the
 * column order of src/convlab/sweep/store.py (COLUMNS). The clock is the sweep's: process CPU time
 * at 1 thread, wall time above. A kernel whose prepare or run fails is a row with status "error"
 * and a note on stderr. The sidecar carries the device id computed as convlab.device does it. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tune.h"

static const char *const ALGO[] = {"im2col", "direct", "depthwise", "winograd_f23", "winograd_f43",
                                   "winograd_f63", "stem"};
enum { NKERNELS = 7, KEY_INTS = 10 };

/* ---- device id: convlab.device.device_id_from over /proc/cpuinfo ---- */

static void cpuinfo_value(const char *key, char *out, size_t n)
{
    /* /proc/cpuinfo's first value whose stripped, lower-cased key is `key` ("" if none). */
    char line[4096];
    FILE *f = fopen("/proc/cpuinfo", "r");
    out[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *a = line, *b = colon;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if ((size_t)(b - a) != strlen(key) || strncasecmp(a, key, strlen(key)))
            continue;
        char *v = colon + 1;
        while (isspace((unsigned char)*v)) v++;
        size_t len = strlen(v);
        while (len && isspace((unsigned char)v[len - 1])) v[--len] = 0;
        snprintf(out, n, "%s", v);
        break;
    }
    fclose(f);
}

static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ' || p[-1] == '\t') && (!p[n] || p[n] == ' ' || p[n] == '\t'))
            return 1;
    return 0;
}

static int is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

static int word_at(const char *s, size_t i, const char *w)
{
    size_t n = strlen(w);
    return !strncmp(s + i, w, n) && (i == 0 || !is_word(s[i - 1])) && !is_word(s[i + n]);
}

/* device.py's _NOISE, case-insensitively, on the lower-cased model name, then slug(). */
static void model_slug(const char *model, char *out, size_t n)
{
    char s[512], kept[512];
    size_t len = 0, k = 0;
    snprintf(s, sizeof s, "%s", model);
    for (char *c = s; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t d = i;
        while (isdigit((unsigned char)s[d])) d++;
        if (!strncmp(s + i, "(r)", 3)) i += 3;
        else if (!strncmp(s + i, "(tm)", 4)) i += 4;
        else if (word_at(s, i, "processor")) i += 9;
        else if (word_at(s, i, "cpu")) i += 3;
        else if (s[i] == '@' || word_at(s, i, "with")) break;
        else if (d > i && !strncmp(s + d, "-core", 5)) i = d + 5;
        else kept[k++] = s[i++];
    }
    kept[k] = 0;
    size_t o = 0;
    int dash = 0;
    for (size_t i = 0; i < k && o + 2 < n; i++) {
        char c = kept[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && o)
                out[o++] = '-';
            out[o++] = c, dash = 0;
        } else
            dash = 1;
    }
    out[o] = 0;
}

static void device_id(char *out, size_t n)
{
    const char *env = getenv("CONVLAB_DEVICE_ID");
    if (env && *env) {
        int ok = env[0] != '.' && strlen(env) <= 200;
        for (const char *c = env; *c && ok; c++)
            ok = isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-';
        if (!ok)
            die("CONVLAB_DEVICE_ID: device id '%s' is not a valid name (letters, digits, '.', '_', '-'; no leading "
                "dot, no '/')", env);
        snprintf(out, n, "%s", env);
        return;
    }
    struct utsname u;
    char arch[65] = "unknown", flags[4096], model[256], slug[160], part[64];
    const char *isa = "";
    if (!uname(&u))
        snprintf(arch, sizeof arch, "%s", u.machine);
    for (char *c = arch; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    cpuinfo_value("flags", flags, sizeof flags);
    if (!flags[0])
        cpuinfo_value("features", flags, sizeof flags);
    if (!strcmp(arch, "aarch64") || !strcmp(arch, "arm64") || !strcmp(arch, "armv7l")) {
        static const char *const parts[][2] = {
            {"0xd03", "cortex-a53"}, {"0xd04", "cortex-a35"}, {"0xd05", "cortex-a55"}, {"0xd07", "cortex-a57"},
            {"0xd08", "cortex-a72"}, {"0xd09", "cortex-a73"}, {"0xd0a", "cortex-a75"}, {"0xd0b", "cortex-a76"},
            {"0xd0c", "neoverse-n1"}, {"0xd40", "neoverse-v1"}, {"0xd49", "neoverse-n2"}};
        cpuinfo_value("cpu part", part, sizeof part);
        snprintf(model, sizeof model, "arm-%s", part[0] ? part : "unknown");
        for (size_t j = 0; j < sizeof parts / sizeof parts[0]; j++)
            if (!strcasecmp(part, parts[j][0]))
                snprintf(model, sizeof model, "%s", parts[j][1]);
        isa = has_word(flags, "sve") ? "sve" : (has_word(flags, "asimd") || has_word(flags, "neon")) ? "neon" : "";
    } else {
        cpuinfo_value("model name", model, sizeof model);
        if (!model[0])
            snprintf(model, sizeof model, "unknown-cpu");
        isa = has_word(flags, "avx512f") ? "avx512" : has_word(flags, "avx2") ? "avx2"
            : has_word(flags, "avx") ? "avx" : has_word(flags, "sse4_2") ? "sse4" : "";
    }
    model_slug(model, slug, sizeof slug);
    snprintf(out, n, "%s%s%s%s%s", arch, slug[0] ? "-" : "", slug, isa[0] ? "-" : "", isa);
}

/* ---- timing ---- */

static double percentile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)pos;
    return lo + 1 < n ? sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
}

static void utc_now(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* ---- output ---- */

static void sidecar_path(const char *csv, char *out, size_t n)
{
    const char *base = strrchr(csv, '/') ? strrchr(csv, '/') + 1 : csv, *dot = strrchr(base, '.');
    size_t stem = dot && dot > base && dot[1] ? (size_t)(dot - csv) : strlen(csv);
    snprintf(out, n, "%.*s.json", (int)stem, csv);
}

void cl_tune_check_outputs(const cl_tune_options *o)
{
    char side[4096];
    sidecar_path(o->out, side, sizeof side);
    if (!o->force && !access(o->out, F_OK))
        die("%s exists; --force to replace it", o->out);
    if (!o->force && !access(side, F_OK))
        die("%s (the CSV's sidecar) exists; --force to replace it", side);
    char dir[4096];   /* the folder must exist and be writable, checked before the long work */
    const char *slash = strrchr(o->out, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - o->out) + 1 : 1, slash ? o->out : ".");
    if (access(dir, W_OK))
        die("%s: cannot write there: %s", o->out, strerror(errno));
}

typedef struct {
    char *data;
    size_t len, cap;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("cannot format the results");
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = 2 * (b->cap + (size_t)n + 256);
        if (!(b->data = realloc(b->data, b->cap)))
            die("out of memory for the results");
    }
}

static void publish(const char *path, const buf *b)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        die("%s: %s", tmp, strerror(errno));
    if (fwrite(b->data, 1, b->len, f) != b->len || fclose(f) || rename(tmp, path)) {
        remove(tmp);
        die("%s: write failed: %s", path, strerror(errno));
    }
}

static void json_str(buf *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++)
        if (*s == '"' || *s == '\\') put(b, "\\%c", *s);
        else if ((unsigned char)*s < 32) put(b, "\\u%04x", *s);
        else put(b, "%c", *s);
    put(b, "\"");
}

/* ---- the tuner ---- */

void cl_tune(const cl_plan *p, const float *arena_in, const cl_tune_options *o)
{
    const cl_engine *e = cl_plan_engine(p);
    const cl_plan_header *h = cl_plan_header_of(p);
    int n = cl_engine_nsteps(e), nconv = 0;
    int64_t tail = 0, base = (h->arena_floats + 15) / 16 * 16;
    for (int k = 0; k < n; k++) {
        const cl_step *s = cl_engine_step(e, k);
        if (s->op == CL_OP_CONV) {
            const int *i = s->i;    /* cl_conv_shape: n, c_in, h, w, c_out, ..., oh = i[16], ow = i[17] */
            int64_t nout = (int64_t)i[0] * i[4] * i[16] * i[17];
            tail = nout > tail ? nout : tail, nconv++;
        }
    }
    float *arena = aligned_alloc(64, (size_t)((base + tail) * 4 + 63) / 64 * 64);
    int (*seen)[KEY_INTS] = calloc((size_t)(nconv ? nconv : 1), sizeof *seen);
    double *t = malloc(sizeof(double) * (size_t)NKERNELS * (size_t)o->repeat);
    if (!arena || !seen || !t)
        die("out of memory for the tuning arena (%lld floats)", (long long)(base + tail));
    memcpy(arena, arena_in, sizeof(float) * (size_t)h->arena_floats);
    clockid_t clk = o->threads == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
    char started[40], when[40], dev[320];
    utc_now(started, sizeof started);
    device_id(dev, sizeof dev);
    buf csv = {0};
    put(&csv, "op,k,stride,padding,c_in,c_out,h,w,groups,batch,threads,algo,backend,status,reason,median_ms,q1_ms,"
              "q3_ms,samples,rel_iqr,converged,gflop_s,prepare_ms,measured_at\n");
    int nseen = 0, rows = 0;
    for (int k = 0; k < n; k++) {
        const cl_step *s = cl_engine_step(e, k);
        const int *i = s->i;
        /* n c_in h w | c_out kh kw groups | sh sw dh dw | pt pl pb pr | oh ow */
        if (s->op == CL_OP_CONV) {
            int key[KEY_INTS] = {i[5], i[8], i[12], i[1], i[4], i[2], i[3], i[7], i[0], 0};
            int dup = 0;
            for (int j = 0; j < nseen && !dup; j++)
                dup = !memcmp(seen[j], key, sizeof key);
            if (dup) {
                /* the same shape met earlier: timed there */
            } else if (i[5] != i[6] || i[8] != i[9] || i[10] != 1 || i[11] != 1 || i[12] != i[13] || i[12] != i[14]
                       || i[12] != i[15]) {
                fprintf(stderr, "convlab-run: note: step %d (%s) skipped: a results row holds square kernels and "
                        "strides, dilation 1 and equal padding on every side\n", k, cl_plan_label(p, k));
            } else {
                memcpy(seen[nseen++], key, sizeof key);
                cl_engine *v[NKERNELS] = {0};
                double prep_ms[NKERNELS] = {0};
                char why[NKERNELS][200];
                int ok[NKERNELS] = {0}, cand[NKERNELS], nc = 0;
                for (int a = 0; a < NKERNELS; a++) {
                    if (!cl_engine_kernel_supports(s, a))
                        continue;
                    cand[nc++] = a;
                    double t0 = seconds(CLOCK_MONOTONIC);
                    int rc = cl_engine_conv_variant(e, k, a, base, base + tail, &v[a], why[a], sizeof why[a]);
                    prep_ms[a] = 1e3 * (seconds(CLOCK_MONOTONIC) - t0);
                    if (rc != CL_OK) {
                        snprintf(why[a], sizeof why[a], "prepare failed (code %d%s)", rc,
                                 rc == CL_ENOMEM ? ", out of memory" : "");
                        fprintf(stderr, "convlab-run: note: step %d (%s): %s not timed: %s\n", k,
                                cl_plan_label(p, k), ALGO[a], why[a]);
                    } else
                        ok[a] = 1;
                }
                for (int r = 0; r < o->warmup + o->repeat; r++)
                    for (int c = 0; c < nc; c++) {
                        int a = cand[c];
                        if (!ok[a])
                            continue;
                        double t0 = seconds(clk);
                        int rc = cl_engine_run(v[a], arena, 0, 1, o->threads, NULL, CL_CLOCK_WALL, NULL);
                        double dt = seconds(clk) - t0;
                        if (rc != CL_OK) {
                            ok[a] = 0;
                            snprintf(why[a], sizeof why[a], "run failed (code %d)", rc);
                            fprintf(stderr, "convlab-run: note: step %d (%s): %s not timed: %s\n", k,
                                    cl_plan_label(p, k), ALGO[a], why[a]);
                        } else if (r >= o->warmup)
                            t[a * o->repeat + r - o->warmup] = dt;
                    }
                utc_now(when, sizeof when);
                double gflop = 2e-9 * i[0] * i[16] * i[17] * (double)i[4] * (i[1] / i[7]) * i[5] * i[6];
                const char *op = i[7] == i[1] && i[7] == i[4] && i[7] > 1 ? "depthwise" : "conv";
                int best = -1;
                double best_ms = 0;
                for (int c = 0; c < nc; c++) {
                    int a = cand[c];
                    put(&csv, "%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%s,c,", op, i[5], i[8], i[12], i[1], i[4], i[2], i[3],
                        i[7], i[0], o->threads, ALGO[a]);
                    if (ok[a]) {
                        double *ts = t + a * o->repeat;
                        qsort(ts, (size_t)o->repeat, sizeof *ts, cmp_double);
                        double med = percentile(ts, o->repeat, 0.5), q1 = percentile(ts, o->repeat, 0.25),
                               q3 = percentile(ts, o->repeat, 0.75);
                        put(&csv, "ok,,%.6g,%.6g,%.6g,%d,%.4f,,%.6g,%.6g,%s\n", 1e3 * med, 1e3 * q1, 1e3 * q3,
                            o->repeat, med > 0 ? (q3 - q1) / med : 0.0, med > 0 ? gflop / med : 0.0, prep_ms[a], when);
                        if (best < 0 || 1e3 * med < best_ms)
                            best = a, best_ms = 1e3 * med;
                    } else
                        put(&csv, "error,\"%s\",,,,,,,,%.6g,%s\n", why[a], prep_ms[a], when);
                    rows++;
                    cl_engine_free(v[a]);
                }
                printf("  %-48.48s %s %dx%d s%d %d->%d %dx%d: %s %.4f ms (%d kernels)\n", cl_plan_label(p, k), op,
                       i[5], i[6], i[8], i[1], i[4], i[2], i[3], best >= 0 ? ALGO[best] : "none", best_ms, nc);
                fflush(stdout);
            }
        }
        int failed = -1;
        int rc = cl_engine_run(e, arena, k, k + 1, o->threads, NULL, CL_CLOCK_WALL, &failed);
        if (rc != CL_OK)
            die("step %d (%s) failed with code %d%s", k, cl_plan_label(p, k), rc,
                rc == CL_ENOMEM ? " (out of memory)" : "");
    }
    if (!rows)
        die("%s has no conv layer a results row can hold: nothing to tune", o->plan);
    char side[4096], cpu[160], freq[64], gov[64], finished[40];
    sidecar_path(o->out, side, sizeof side);
    read_line("/proc/cpuinfo", "model name", cpu, sizeof cpu);
    if (!cpu[0])
        read_line("/proc/cpuinfo", "Hardware", cpu, sizeof cpu);
    read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", NULL, freq, sizeof freq);
    read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", NULL, gov, sizeof gov);
    utc_now(finished, sizeof finished);
    const char *name = strrchr(o->plan, '/') ? strrchr(o->plan, '/') + 1 : o->plan;
    buf js = {0};
    put(&js, "{\"sweep\": \"convlab-run --tune\", \"plan\": ");
    json_str(&js, name);
    put(&js, ", \"target\": \"%s\", \"device_id\": ", h->target == CL_PLAN_TARGET_AARCH64 ? "aarch64" : "x86-64");
    json_str(&js, dev);
    put(&js, ", \"cpu\": ");
    json_str(&js, cpu[0] ? cpu : "unknown");
    put(&js, ", \"freq_khz\": ");
    json_str(&js, freq);
    put(&js, ", \"governor\": ");
    json_str(&js, gov);
    put(&js, ", \"threads\": %d, \"timing\": {\"warmup\": %d, \"repeats\": %d}, \"clock\": \"%s\", \"shapes\": %d, "
             "\"rows\": %d, \"started_at\": \"%s\", \"finished_at\": \"%s\", \"complete\": true}\n",
        o->threads, o->warmup, o->repeat, o->threads == 1 ? "process CPU time" : "wall clock", nseen, rows, started,
        finished);
    publish(side, &js);
    publish(o->out, &csv);
    printf("%s: %d rows, %d conv shapes, device %s (decision table: convlab decide %s --out decision.json)\n", o->out,
           rows, nseen, dev, o->out);
    free(csv.data), free(js.data), free(arena), free(seen), free(t);
}
