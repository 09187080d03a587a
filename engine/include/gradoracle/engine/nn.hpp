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
  // PyTorch 1.x default: zero each existing .grad in place; set_to_none drops it instead.
  void zero_grad(bool set_to_none = false) { zero_grads(set_to_none); }

 protected:
  // zero_grad over parameters(); a module may do it without building that list.
  virtual void zero_grads(bool set_to_none);
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

 protected:
  void zero_grads(bool set_to_none) override;
};

// Zeroes (or, with set_to_none, removes) the .grad of each tensor; a tensor with no .grad
// keeps none when zeroed in place.
void zero_grad(const std::vector<Tensor>& params, bool set_to_none = false);

// torch.nn.utils.clip_grad_norm_ (1.13): total = ‖(‖g₁‖ₚ, …, ‖gₙ‖ₚ)‖ₚ over the params that
// have a grad; every grad is scaled by min(1, max_norm / (total + 1e-6)). Returns total (0-d,
// the grads' dtype) before clipping. With error_if_nonfinite, a NaN or infinite total raises.
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// torch.nn.utils.clip_grad_value_: clamps every grad into [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace gradoracle::nn
