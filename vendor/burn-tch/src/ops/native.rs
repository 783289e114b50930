//! covid-ct patch: bindings to libtorch's convolution and batch-norm backward kernels
//! (`src/native/native_ops.cpp`), which the `tch` crate does not expose.

use std::ffi::{CStr, c_char, c_int};

use burn_backend::ops::ConvOptions;

use crate::TchTensor;
use torch_sys::C_tensor;

unsafe extern "C" {
    fn burn_tch_native_free_error(error: *mut c_char);
    fn burn_tch_set_allow_tf32(cudnn: c_int, matmul: c_int);
    fn burn_tch_fused_adam(
        param: *mut C_tensor,
        grad: *mut C_tensor,
        exp_avg: *mut C_tensor,
        exp_avg_sq: *mut C_tensor,
        step: f64,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> *mut c_char;
    fn burn_tch_conv2d_backward(
        grad_out: *const C_tensor,
        x: *const C_tensor,
        weight: *const C_tensor,
        stride: *const i64,
        padding: *const i64,
        dilation: *const i64,
        groups: i64,
        want_x: c_int,
        want_w: c_int,
        grad_x: *mut *mut C_tensor,
        grad_w: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn burn_tch_batch_norm_backward(
        grad_out: *const C_tensor,
        x: *const C_tensor,
        gamma: *const C_tensor,
        mean: *const C_tensor,
        invstd: *const C_tensor,
        eps: f64,
        grad_x: *mut *mut C_tensor,
        grad_gamma: *mut *mut C_tensor,
        grad_beta: *mut *mut C_tensor,
    ) -> *mut c_char;
}

/// Panics with libtorch's message, as the rest of this backend does on a libtorch error.
fn check(error: *mut c_char, what: &str) {
    if !error.is_null() {
        // SAFETY: the shim returns a NUL-terminated string it allocated with malloc.
        let message = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
        unsafe { burn_tch_native_free_error(error) };
        panic!("libtorch {what} failed: {message}");
    }
}

fn take(ptr: *mut C_tensor) -> Option<tch::Tensor> {
    // SAFETY: a non-null pointer is a heap `at::Tensor` the shim created for us to own.
    (!ptr.is_null()).then(|| unsafe { tch::Tensor::from_ptr(ptr) })
}

/// Input and weight gradients of a 2-D convolution with symmetric padding
/// (`at::convolution_backward`: cuDNN's dgrad and wgrad kernels on CUDA).
pub(crate) fn conv2d_backward(
    grad_out: &tch::Tensor,
    x: &tch::Tensor,
    weight: &tch::Tensor,
    options: &ConvOptions<2>,
    want_x: bool,
    want_w: bool,
) -> (Option<tch::Tensor>, Option<tch::Tensor>) {
    debug_assert!(!options.is_asymmetric());
    let stride = options.stride.map(|v| v as i64);
    let padding = options.padding_begin().map(|v| v as i64);
    let dilation = options.dilation.map(|v| v as i64);
    let mut grad_x = std::ptr::null_mut();
    let mut grad_w = std::ptr::null_mut();
    // SAFETY: the tensor pointers are live for the call; the arrays hold two values each.
    let error = unsafe {
        burn_tch_conv2d_backward(
            grad_out.as_ptr(),
            x.as_ptr(),
            weight.as_ptr(),
            stride.as_ptr(),
            padding.as_ptr(),
            dilation.as_ptr(),
            options.groups as i64,
            c_int::from(want_x),
            c_int::from(want_w),
            &mut grad_x,
            &mut grad_w,
        )
    };
    check(error, "convolution_backward");
    (take(grad_x), take(grad_w))
}

/// Input, gamma and beta gradients of training-mode batch norm
/// (`at::native_batch_norm_backward`), from the batch mean and inverse standard deviation.
pub(crate) fn batch_norm_backward(
    grad_out: &tch::Tensor,
    x: &tch::Tensor,
    gamma: &tch::Tensor,
    mean: &tch::Tensor,
    invstd: &tch::Tensor,
    eps: f64,
) -> (tch::Tensor, tch::Tensor, tch::Tensor) {
    let mut grad_x = std::ptr::null_mut();
    let mut grad_gamma = std::ptr::null_mut();
    let mut grad_beta = std::ptr::null_mut();
    // SAFETY: the tensor pointers are live for the call.
    let error = unsafe {
        burn_tch_batch_norm_backward(
            grad_out.as_ptr(),
            x.as_ptr(),
            gamma.as_ptr(),
            mean.as_ptr(),
            invstd.as_ptr(),
            eps,
            &mut grad_x,
            &mut grad_gamma,
            &mut grad_beta,
        )
    };
    check(error, "native_batch_norm_backward");
    let missing = "native_batch_norm_backward returned no tensor";
    (
        take(grad_x).expect(missing),
        take(grad_gamma).expect(missing),
        take(grad_beta).expect(missing),
    )
}

/// Whether libtorch may use TF32 tensor cores for fp32 convolutions (`cudnn`, PyTorch's default:
/// on) and matrix products (`matmul`, default: off). Process-wide; no effect without CUDA.
pub fn set_allow_tf32(cudnn: bool, matmul: bool) {
    // SAFETY: sets two flags of libtorch's global context.
    unsafe { burn_tch_set_allow_tf32(c_int::from(cudnn), c_int::from(matmul)) }
}

/// Hyper-parameters of [`adam_step`]: PyTorch's `torch.optim.Adam` (L2 weight decay added to the
/// gradient, `eps` added to the bias-corrected root second moment), which is also Burn's `Adam`.
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Added to the denominator.
    pub eps: f64,
}

/// A tensor this call may update in place: contiguous and not shared with another handle
/// (else a copy).
fn owned(tensor: TchTensor) -> TchTensor {
    if tensor.can_mut() && tensor.tensor.is_contiguous() {
        tensor
    } else {
        TchTensor::new(tensor.tensor.contiguous().copy())
    }
}

/// One Adam step of one parameter with libtorch's fused kernel (`torch._fused_adam_`, what
/// `torch.optim.Adam(fused=True)` runs): returns the updated parameter, first and second
/// moments. `step` counts updates including this one (1 on the first). Tensors shared with
/// other handles are copied first, never changed under them.
pub fn adam_step(
    param: TchTensor,
    grad: TchTensor,
    exp_avg: TchTensor,
    exp_avg_sq: TchTensor,
    step: usize,
    hyper: AdamHyper,
) -> (TchTensor, TchTensor, TchTensor) {
    let mut param = owned(param);
    let mut exp_avg = owned(exp_avg);
    let mut exp_avg_sq = owned(exp_avg_sq);
    // The kernel may write the gradient (with a gradient scale, which is not used here).
    let mut grad = owned(grad);
    // SAFETY: four live tensors this function owns exclusively (see `owned`).
    let error = unsafe {
        burn_tch_fused_adam(
            param.tensor.as_mut_ptr(),
            grad.tensor.as_mut_ptr(),
            exp_avg.tensor.as_mut_ptr(),
            exp_avg_sq.tensor.as_mut_ptr(),
            step as f64,
            hyper.lr,
            hyper.beta1,
            hyper.beta2,
            hyper.weight_decay,
            hyper.eps,
        )
    };
    check(error, "_fused_adam_");
    (param, exp_avg, exp_avg_sq)
}
