/* Depthwise convolution, the entry point and what its two kernels share. cl_dwconv_run sends 3x3
 * stride 1/2 to the vectorised 3x3 kernel (dwconv3x3.c) and every other kernel size, stride,
 * padding and dilation (MobileFaceNet's global 7x7, 5x5 layers) to the general kernel
 * (dwconv_kxk.c). Both split (image, channel) planes between threads the same way (cl_dw_split)
 * and take their ISA's kernel from the kernel table (cl_kernels.h); neither calls the other. */
#include "cl_conv.h"
#include "cl_dwconv.h"

int cl_dw_split(const cl_conv_shape *s, const float *x, const float *w, float *y, const cl_epilogue *ep,
                int nthreads, cl_dw_planes_fn planes, const void *ctx)
{
    int tasks = s->n * s->c_in, rc = CL_OK;
    int parts = nthreads < tasks ? nthreads : tasks;
    if (parts == 1)   /* no OpenMP region: it costs microseconds, a tenth of a small depthwise conv */
        return planes(s, x, w, y, ep, 0, tasks, ctx);
    CL_PARALLEL_FOR(parts)
    for (int p = 0; p < parts; p++) {
        int t0 = (int)((long long)tasks * p / parts), t1 = (int)((long long)tasks * (p + 1) / parts);
        if (planes(s, x, w, y, ep, t0, t1, ctx) != CL_OK) {
            CL_ATOMIC_WRITE
            rc = CL_ENOMEM;
        }
    }
    return rc;
}

int cl_dwconv_run(const cl_conv_shape *s, const float *x, const float *w, float *y,
                  const cl_epilogue *ep, int nthreads)
{
    if (!x || !w || !y || nthreads < 1 || cl_conv_shape_check(s) != CL_OK ||
        s->groups != s->c_in || s->c_out != s->c_in)
        return CL_EINVAL;
    if (s->kh == 3 && s->kw == 3 && s->sh == s->sw && (s->sh == 1 || s->sh == 2) && s->dh == 1 && s->dw == 1)
        return cl_dwconv3x3_run(s, x, w, y, ep, nthreads);
    return cl_dwconv_kxk_run(s, x, w, y, ep, nthreads);
}
