#pragma once
// Closed-form oracles: gradients known by formula, computed here in plain float64 loops over
// the inputs' values (no engine op, no autograd), so they check the engine independently of
// finite differences. Every result is a float64 tensor without history.
#include <cstdint>
#include <vector>

#include "gradoracle/engine/tensor.hpp"

namespace gradoracle::oracle::closed_forms {

struct LinearGrads {
  Tensor weight;  // dL/dW, (out, in)
  Tensor bias;    // dL/db, (out)
  Tensor input;   // dL/dx, (N, in) (undefined where the form does not give it)
};

// y = x·Wᵀ + b with x (N, in), W (out, in), upstream G = dL/dy (N, out):
//   dW = Gᵀ·x,  db = G.sum(0),  dx = G·W.
// With G = ones: db = N in every entry, every row of dW = x.sum(0).
LinearGrads linear(const Tensor& x, const Tensor& weight, const Tensor& upstream);

// L = Σₖ cₖ·Σ(tₖ − linear(xₖ)) over batches xₖ (Nₖ, in) through one linear layer of
// `out_features` outputs (the targets tₖ do not matter):
//   db = −Σₖ cₖ·Nₖ in every entry,  every row of dW = −Σₖ cₖ·xₖ.sum(0).
LinearGrads weighted_batches(const std::vector<Tensor>& batches, const std::vector<double>& weights,
                             int64_t out_features);

struct ClipGradNorm {
  double total_norm = 0.0;     // ‖(‖g₁‖ₚ, …, ‖gₙ‖ₚ)‖ₚ = ‖concat(gᵢ)‖ₚ; p = inf: max |g|
  double coefficient = 1.0;    // max_norm / (total_norm + 1e-6), applied only when < 1
  std::vector<Tensor> clipped;  // gᵢ·min(1, coefficient)
};
// torch.nn.utils.clip_grad_norm_ (1.13) over the given grads (undefined ones skipped and
// returned undefined); norm_type p > 0 or infinity.
ClipGradNorm clip_grad_norm(const std::vector<Tensor>& grads, double max_norm, double norm_type);

// Two chained linears sharing W (d, d) and b (d): y1 = x·Wᵀ + b, y2 = y1·Wᵀ + b, with ones
// upstream on y2 and x (N, d):
//   db = N + N·W.sum(0);  dW = 1ᵀ·y1 + (1·W)ᵀ·x, i.e. dW[i][j] = y1.sum(0)[j] + W.sum(0)[i]·x.sum(0)[j].
// With y1 detached before the second linear (`detach_middle`):
//   db = N in every entry;  every row of dW = y1.sum(0).
LinearGrads shared_chain(const Tensor& x, const Tensor& weight, const Tensor& bias, bool detach_middle);

}  // namespace gradoracle::oracle::closed_forms
