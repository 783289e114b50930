// covid-ct patch: libtorch's own backward kernels for convolution and batch norm, which the
// `tch` crate does not bind (it skips `convolution_backward` and `native_batch_norm_backward`).
// Burn's default implementations build these gradients out of generic tensor operations (the
// weight gradient as a grouped convolution over the batch, batch norm out of reductions and
// broadcasts), several times slower on CUDA than cuDNN's dedicated kernels.
//
// Every entry point catches C++ exceptions and returns them as a heap string (freed with
// burn_tch_native_free_error) so that no exception crosses the FFI boundary.
#include <ATen/ATen.h>
#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace {
char *copy_error(const std::exception &e) {
  std::string message = e.what();
  char *out = static_cast<char *>(std::malloc(message.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, message.c_str(), message.size() + 1);
  }
  return out;
}

at::Tensor *boxed(at::Tensor t) { return new at::Tensor(std::move(t)); }
} // namespace

extern "C" {

void burn_tch_native_free_error(char *error) { std::free(error); }

// PyTorch's torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32.
void burn_tch_set_allow_tf32(int cudnn, int matmul) {
  at::globalContext().setAllowTF32CuDNN(cudnn != 0);
  at::globalContext().setAllowTF32CuBLAS(matmul != 0);
}

// Gradients of a 2-D convolution (no transposition) with respect to its input (`want_x`) and
// weight (`want_w`); outputs not asked for are left null.
char *burn_tch_conv2d_backward(const at::Tensor *grad_out, const at::Tensor *x,
                               const at::Tensor *weight, const int64_t *stride,
                               const int64_t *padding, const int64_t *dilation, int64_t groups,
                               int want_x, int want_w, at::Tensor **grad_x,
                               at::Tensor **grad_w) {
  try {
    *grad_x = nullptr;
    *grad_w = nullptr;
    std::array<bool, 3> mask = {want_x != 0, want_w != 0, false};
    int64_t no_output_padding[2] = {0, 0};
    auto grads = at::convolution_backward(
        *grad_out, *x, *weight, std::nullopt, at::IntArrayRef(stride, 2),
        at::IntArrayRef(padding, 2), at::IntArrayRef(dilation, 2), false,
        at::IntArrayRef(no_output_padding, 2), groups, mask);
    if (want_x) {
      *grad_x = boxed(std::get<0>(grads));
    }
    if (want_w) {
      *grad_w = boxed(std::get<1>(grads));
    }
    return nullptr;
  } catch (const std::exception &e) {
    return copy_error(e);
  }
}

// Gradients of training-mode batch norm with respect to input, gamma and beta, from the batch
// mean and inverse standard deviation of the forward pass.
char *burn_tch_batch_norm_backward(const at::Tensor *grad_out, const at::Tensor *x,
                                   const at::Tensor *gamma, const at::Tensor *mean,
                                   const at::Tensor *invstd, double eps, at::Tensor **grad_x,
                                   at::Tensor **grad_gamma, at::Tensor **grad_beta) {
  try {
    *grad_x = nullptr;
    *grad_gamma = nullptr;
    *grad_beta = nullptr;
    std::array<bool, 3> mask = {true, true, true};
    auto grads = at::native_batch_norm_backward(*grad_out, *x, *gamma, std::nullopt,
                                                std::nullopt, *mean, *invstd, true, eps, mask);
    *grad_x = boxed(std::get<0>(grads));
    *grad_gamma = boxed(std::get<1>(grads));
    *grad_beta = boxed(std::get<2>(grads));
    return nullptr;
  } catch (const std::exception &e) {
    return copy_error(e);
  }
}

// One Adam step of one parameter, in place on `param`, `exp_avg` and `exp_avg_sq`, through
// libtorch's fused kernel (torch.optim.Adam(fused=True)): one kernel instead of a dozen
// element-wise ones. `step` is the step number after this update (1 for the first), as
// PyTorch passes it.
char *burn_tch_fused_adam(at::Tensor *param, at::Tensor *grad, at::Tensor *exp_avg,
                          at::Tensor *exp_avg_sq, double step, double lr, double beta1,
                          double beta2, double weight_decay, double eps) {
  try {
    auto steps = at::full({}, step, param->options().dtype(at::kFloat));
    at::_fused_adam_({*param}, {*grad}, {*exp_avg}, {*exp_avg_sq}, {}, {steps}, lr, beta1,
                     beta2, weight_decay, eps, false, false);
    return nullptr;
  } catch (const std::exception &e) {
    return copy_error(e);
  }
}

} // extern "C"
