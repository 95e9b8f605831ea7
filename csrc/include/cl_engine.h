/* The native engine: a whole model as a list of steps that one C call executes.
 *
 * The Python side (convlab/engine/native.py) compiles an optimised graph into fixed-size step
 * records that refer to memory only by offset: activations by float offset into one arena (the
 * caller's buffer, laid out at compile time by liveness), constants (weights, tables) by byte
 * offset into one constant blob. No pointers in a step means a plan can be checked once, here,
 * against the arena and blob sizes it was built for: cl_engine_create refuses any step whose
 * reads or writes would leave them, so a corrupt or hostile plan is an error, never a stray access.
 *
 * At create the engine prepares each conv for the kernel the compiler chose (weights packed for
 * the GEMM micro-kernel of this CPU's ISA, Winograd-transformed, ...); cl_engine_run then walks
 * steps [first, last) with no allocation beyond what the kernels do per call.
 *
 * Results are bit-identical across nthreads: every kernel splits work without splitting a sum. */
#ifndef CL_ENGINE_H
#define CL_ENGINE_H

#include <stdint.h>

#include "cl_common.h"

/* cffi:begin */
enum { CL_OP_CONV = 1, CL_OP_COPY = 2, CL_OP_BINARY = 3, CL_OP_UNARY = 4, CL_OP_SOFTMAX = 5,
       CL_OP_POOL = 6, CL_OP_FC = 7, CL_OP_RESIZE = 8, CL_OP_FILL = 9, CL_OP_CONVT = 10 };

/* CL_OP_CONV variants: the kernel chosen per layer. */
enum { CL_CONV_IM2COL = 0, CL_CONV_DIRECT = 1, CL_CONV_DEPTHWISE = 2, CL_CONV_WINO_F23 = 3,
       CL_CONV_WINO_F43 = 4, CL_CONV_WINO_F63 = 5, CL_CONV_STEM = 6 };
/* CL_OP_BINARY variants (out = a op b, then the step's activation). PRELU: a < 0 ? a * b : a. */
enum { CL_BIN_ADD = 0, CL_BIN_SUB = 1, CL_BIN_MUL = 2, CL_BIN_DIV = 3, CL_BIN_MAX = 4, CL_BIN_MIN = 5,
       CL_BIN_PRELU = 6 };
/* CL_OP_UNARY variants; f[0], f[1] are CLIP's (min, max), LEAKY's alpha, HARDSIGMOID's (alpha, beta). */
enum { CL_UN_COPY = 0, CL_UN_RELU = 1, CL_UN_SIGMOID = 2, CL_UN_TANH = 3, CL_UN_CLIP = 4, CL_UN_LEAKY = 5,
       CL_UN_HARDSIGMOID = 6, CL_UN_HARDSWISH = 7, CL_UN_EXP = 8, CL_UN_NEG = 9, CL_UN_SQRT = 10,
       CL_UN_FLOOR = 11, CL_UN_CEIL = 12 };
/* CL_OP_POOL variants. */
enum { CL_POOL_MAX = 0, CL_POOL_AVG = 1, CL_POOL_AVG_INCLUDE_PAD = 2 };
/* CL_OP_RESIZE variants. */
enum { CL_RESIZE_NEAREST = 0, CL_RESIZE_LINEAR = 1 };
/* Clocks cl_engine_run can time steps with. */
enum { CL_CLOCK_WALL = 0, CL_CLOCK_THREAD_CPU = 1 };
enum { CL_STEP_INTS = 24, CL_MAX_DIMS = 6 };

/* One step. in/out are float offsets into the arena (-1: none); cst are byte offsets into the
 * constant blob (-1: none). What i[] and f[] hold per op is written beside each op in engine.c. */
typedef struct {
    int op, sub, act, pad_;
    int64_t in[3];
    int64_t out;
    int64_t cst[4];
    int i[24];
    float f[4];
} cl_step;

typedef struct cl_engine cl_engine;

/* Checks every step against arena_floats and const_bytes and prepares the kernels. consts must
 * stay alive and unchanged while the engine exists (it is read, never copied or written).
 * On CL_EINVAL *bad_step is the first step refused and why[0..why_len) says why. */
int cl_engine_create(const cl_step *steps, int nsteps, const unsigned char *consts, int64_t const_bytes,
                     int64_t arena_floats, cl_engine **out, int *bad_step, char *why, int why_len);
void cl_engine_free(cl_engine *e);

/* Runs steps [first, last) on arena (arena_floats floats, 64-byte aligned). With seconds != NULL,
 * adds each step's time (clock CL_CLOCK_*) to seconds[step]. CL_OK, or the first failing code;
 * *failed_step (if not NULL) is its index. */
int cl_engine_run(const cl_engine *e, float *arena, int first, int last, int nthreads,
                  double *seconds, int clock, int *failed_step);

/* ---- compiled plan files (.clp): one model, its steps, constants and input/output tensors ----
 * Layout, little-endian: header | inputs | outputs | labels (64 bytes per step) | steps | zero
 * padding to a 64-byte boundary | constants. The checksum (FNV-1a 64) covers everything after
 * the header. Weights are stored as the model has them and packed at load for the CPU that runs
 * the plan, so one file serves every ISA of its target architecture. */
enum { CL_PLAN_VERSION = 1, CL_PLAN_TARGET_X86_64 = 1, CL_PLAN_TARGET_AARCH64 = 2,
       CL_PLAN_NAME = 64, CL_PLAN_MAX_DIMS = 8 };

typedef struct {
    char magic[8];                  /* "CLPLAN\0\0" */
    uint32_t version, target, step_bytes, nsteps, ninputs, noutputs;
    int64_t arena_floats, const_bytes;
    uint64_t checksum;
} cl_plan_header;

typedef struct {
    char name[64];
    int64_t offset;                 /* floats into the arena */
    int32_t ndim, pad_;
    int32_t dims[8];
} cl_plan_tensor;

typedef struct cl_plan cl_plan;

/* The target this build runs (CL_PLAN_TARGET_*), 0 if neither. */
int cl_plan_host_target(void);
/* Parses and checks a plan file's bytes (copied: data may be freed after), creates its engine.
 * CL_EINVAL with why[] saying what is wrong (magic, version, target, sizes, checksum, a tensor or a
 * step out of range), CL_ENOMEM. */
int cl_plan_open(const unsigned char *data, int64_t size, cl_plan **out, char *why, int why_len);
void cl_plan_free(cl_plan *p);
const cl_plan_header *cl_plan_header_of(const cl_plan *p);
const cl_plan_tensor *cl_plan_inputs(const cl_plan *p);
const cl_plan_tensor *cl_plan_outputs(const cl_plan *p);
const char *cl_plan_label(const cl_plan *p, int step);
const cl_engine *cl_plan_engine(const cl_plan *p);
/* FNV-1a 64 of n bytes: the plan checksum. */
uint64_t cl_plan_checksum(const unsigned char *data, int64_t n);
/* cffi:end */

/* ---- the tuner's view of an engine (convlab-run --tune; C only) ---- */
int cl_engine_nsteps(const cl_engine *e);
const cl_step *cl_engine_step(const cl_engine *e, int k);
/* 1 when conv kernel CL_CONV_* can run conv step s: the constraints of the Python registry
 * (src/convlab/kernels/c/, registry.py): im2col and direct any conv; depthwise groups == c_in == c_out;
 * Winograd 3x3 stride 1 dilation 1 groups 1; stem groups 1 and c_in <= 8. 0 otherwise. */
int cl_engine_kernel_supports(const cl_step *s, int kernel);
/* A one-step engine running conv step k of e with kernel CL_CONV_* instead of the plan's, without
 * its residual add (the activation goes to the kernel's epilogue), writing its output at float
 * offset out_at of an arena of arena_floats floats (the caller's scratch past e's arena, so the
 * plan's live activations are untouched). Shares e's constants. CL_EINVAL for a kernel that does
 * not support the step, or the prepare's code (why[] says which). */
int cl_engine_conv_variant(const cl_engine *e, int k, int kernel, int64_t out_at, int64_t arena_floats,
                           cl_engine **out, char *why, int why_len);

#endif
