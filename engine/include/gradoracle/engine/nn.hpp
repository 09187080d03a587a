#pragma once
// torch.nn's pieces the tutorial uses: Module, Linear and the gradient clipping utilities.
#include <optional>
#include <vector>

#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/random.hpp"

namespace gradoracle::nn {

class Module {
 public:
  virtual ~Module() = default;
  virtual std::vector<Tensor> parameters() const = 0;
  // nn::zero_grad(parameters(), set_to_none).
  void zero_grad(bool set_to_none = false);
};

// y = x·Wᵀ + b with W (out, in) and b (out), both uniform in ±1/√in as PyTorch initialises them.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen, DType dtype = DType::Float32);
  Linear(int64_t in_features, int64_t out_features, Generator& gen, DType dtype = DType::Float32)
      : Linear(in_features, out_features, true, gen, dtype) {}
  Tensor forward(const Tensor& x) const { return gradoracle::linear(x, weight, bias); }
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::vector<Tensor> parameters() const override;

  Tensor weight;
  Tensor bias;  // undefined when built without bias
};

// PyTorch 1.x Module.zero_grad / Optimizer.zero_grad over these tensors, each with a .grad:
// set_to_none removes it; otherwise a grad with a graph is detached in place (detach_, which
// raises on a view as PyTorch's does), any other stops requiring grad, and it is zeroed in
// place (the same tensor). A tensor without .grad keeps none. The fixture interpreter's
// zero_grad statement is this function.
void zero_grad(const std::vector<Tensor>& params, bool set_to_none = false);

// torch.nn.utils.clip_grad_norm_ (1.13): total = ‖(‖g₁‖ₚ, …, ‖gₙ‖ₚ)‖ₚ over the params that
// have a grad; every grad is scaled by min(1, max_norm / (total + 1e-6)). Returns total (0-d,
// the grads' dtype) before clipping. With error_if_nonfinite, a NaN or infinite total raises.
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// torch.nn.utils.clip_grad_value_: clamps every grad into [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace gradoracle::nn
