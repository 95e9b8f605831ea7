/* The one place a conv shape is checked on the C side (the Python side checks first). */
#include <limits.h>
#include "cl_conv.h"

int cl_conv_shape_check(const cl_conv_shape *s)
{
    if (!s || s->n < 1 || s->c_in < 1 || s->h < 1 || s->w < 1 || s->c_out < 1 || s->kh < 1 ||
        s->kw < 1 || s->groups < 1 || s->sh < 1 || s->sw < 1 || s->dh < 1 || s->dw < 1 ||
        s->pt < 0 || s->pl < 0 || s->pb < 0 || s->pr < 0)
        return CL_EINVAL;
    if (s->c_in % s->groups || s->c_out % s->groups)
        return CL_EINVAL;
    long long oh = ((long long)s->h + s->pt + s->pb - (long long)s->dh * (s->kh - 1) - 1) / s->sh + 1;
    long long ow = ((long long)s->w + s->pl + s->pr - (long long)s->dw * (s->kw - 1) - 1) / s->sw + 1;
    if (s->h + s->pt + s->pb - (long long)s->dh * (s->kh - 1) - 1 < 0 ||
        s->w + s->pl + s->pr - (long long)s->dw * (s->kw - 1) - 1 < 0 || oh != s->oh || ow != s->ow)
        return CL_EINVAL;
    /* Index arithmetic is in ptrdiff_t, but per-image plane sizes must fit an int (GEMM N, K). */
    if ((long long)s->oh * s->ow > INT_MAX || (long long)s->h * s->w > INT_MAX ||
        (long long)(s->c_in / s->groups) * s->kh * s->kw > INT_MAX)
        return CL_EINVAL;
    return CL_OK;
}
