#include "gradoracle/engine/nn.hpp"

#include <cmath>
#include <sstream>

#include "kernels.hpp"
#include "tensor_access.hpp"

namespace gradoracle::nn {

void zero_grad(const std::vector<Tensor>& params, bool set_to_none) {
  for (const Tensor& p : params) {
    TensorImpl& impl = impl_of(p);
    if (!impl.grad) continue;
    if (set_to_none) {
      impl.grad = nullptr;
      continue;
    }
    Tensor grad = tensor_of(impl.grad);
    if (grad.grad_fn()) {
      grad.detach_();
    } else {
      grad.requires_grad_(false);
    }
    grad.fill_(0.0);
  }
}

void Module::zero_grad(bool set_to_none) { nn::zero_grad(parameters(), set_to_none); }

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, Generator& gen, DType dtype) {
  check_shape({out_features, in_features}, "Linear");
  // kaiming_uniform_(a=√5) gives bound √(1/in) for the weight; the bias uses 1/√in as well.
  const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
  weight = Tensor::uniform({out_features, in_features}, -bound, bound, gen, dtype).requires_grad_();
  if (with_bias) bias = Tensor::uniform({out_features}, -bound, bound, gen, dtype).requires_grad_();
}

std::vector<Tensor> Linear::parameters() const {
  std::vector<Tensor> p{weight};
  if (bias.defined()) p.push_back(bias);
  return p;
}

namespace {
std::string norm_type_name(double p) {
  if (std::isinf(p)) return p > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os << p;
  std::string s = os.str();
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // Python's float repr: 2.0
  return s;
}
}  // namespace

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return Tensor::scalar(0.0, DType::Float32);  // torch.tensor(0.), as 1.13
  NoGradGuard no_grad;
  // The per-parameter norms, then the norm of those norms (torch.stack then torch.norm).
  std::vector<double> each;
  for (const Tensor& g : grads) each.push_back(norm(g, norm_type).item());
  Tensor total = norm(Tensor::from_data({static_cast<int64_t>(each.size())}, each, grads[0].dtype()), norm_type);
  const double total_v = total.item();
  if (error_if_nonfinite && !std::isfinite(total_v)) {
    fail(ErrorKind::Value, "The total norm of order " + norm_type_name(norm_type) +
                               " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable "
                               "this error and scale the gradients by the non-finite norm anyway, set "
                               "`error_if_nonfinite=False`");
  }
  // NOTE: as 1.13, grads are always multiplied by the clamped coefficient, also when it is 1.
  dispatch(total.dtype(), [&](auto s) {
    using T = decltype(s);
    // max_norm / (total + 1e-6) as PyTorch evaluates it in T: number / tensor is reciprocal() * number.
    const T coef = (T(1) / (static_cast<T>(total_v) + static_cast<T>(1e-6))) * static_cast<T>(max_norm);
    const T clamped = std::min(coef, T(1));  // NaN stays NaN, as torch.clamp
    for (const Tensor& g : grads) {
      if (g.dtype() == total.dtype()) {
        kernels::array<T>(g) *= std::isnan(coef) ? coef : clamped;
      } else {
        dispatch(g.dtype(), [&](auto u) {
          using U = decltype(u);
          kernels::array<U>(g) *= static_cast<U>(std::isnan(coef) ? coef : clamped);
        });
      }
    }
  });
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch(g.dtype(), [&](auto s) {
      using T = decltype(s);
      const T c = static_cast<T>(clip_value);
      auto a = kernels::array<T>(g);
      // torch.clamp(min=-c, max=c) = min(max(a, -c), c): c wins when c < 0; NaN stays NaN.
      a = (a < -c).select(-c, a);
      a = (a > c).select(c, a);
    });
  }
}

}  // namespace gradoracle::nn
