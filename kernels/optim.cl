// Optimizer updates, in place on the device, one work-item per parameter element.
// Formulas follow PyTorch's SGD and Adam (with L2 weight decay added to the gradient).
#include "common.h"

__kernel void sgd_step(__global REAL *restrict param, __global const REAL *restrict grad,
                       __global REAL *restrict momentum_buffer, const REAL lr,
                       const REAL momentum, const REAL dampening, const REAL weight_decay,
                       const int nesterov, const int first_step, const int total)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    REAL g = grad[i] + weight_decay * param[i];
    if (momentum != 0) {
        const REAL buf = first_step ? g : momentum * momentum_buffer[i] + (1 - dampening) * g;
        momentum_buffer[i] = buf;
        g = nesterov ? g + momentum * buf : buf;
    }
    param[i] -= lr * g;
}

// bias_correction1 = 1 - beta1^t, bias_correction2 = 1 - beta2^t for step t.
__kernel void adam_step(__global REAL *restrict param, __global const REAL *restrict grad,
                        __global REAL *restrict exp_avg, __global REAL *restrict exp_avg_sq,
                        const REAL lr, const REAL beta1, const REAL beta2, const REAL eps,
                        const REAL weight_decay, const REAL bias_correction1,
                        const REAL bias_correction2, const int total)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const REAL g = grad[i] + weight_decay * param[i];
    const REAL m = beta1 * exp_avg[i] + (1 - beta1) * g;
    const REAL v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const REAL denom = sqrt(v) / sqrt(bias_correction2) + eps;
    param[i] -= lr / bias_correction1 * m / denom;
}
