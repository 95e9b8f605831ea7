/* The floating-point environment's subnormal handling, which changes what (and how fast) the
 * kernels compute on tiny values: x86 MXCSR FTZ (bit 15: subnormal results become 0) and DAZ
 * (bit 6: subnormal inputs read as 0); aarch64 FPCR.FZ (bit 24), which does both at once. */
#ifndef CL_FPENV_H
#define CL_FPENV_H

/* cffi:begin */
enum { CL_FP_FTZ = 1, CL_FP_DAZ = 2 };
/* The calling thread's current CL_FP_* flags. */
int cl_fpenv_get(void);
/* Sets the flags on the calling thread and on the OpenMP worker threads the kernels run on, and
 * returns the previous flags of the calling thread. Flags the hardware cannot set separately
 * (aarch64: FZ is both) are set when either is asked for; cl_fpenv_get tells what took effect. */
int cl_fpenv_set(int flags);
/* cffi:end */

#endif
