#pragma once
// Closed-form oracles: gradients known by formula, computed here in plain float64 loops over
// the inputs' values (no engine op, no autograd), so they check the engine independently of
// finite differences. Every result is a float64 tensor without history.
#include <cstdint>
#include <vector>

#include "gradoracle/engine/ops.hpp"
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

// ---- Second derivatives. A Hessian is an (n, n) float64 matrix over the input's elements
// flattened row-major; x and the vectors below are 1-D unless said otherwise.

// mse_loss(x, t, reduction) over n elements, L = c/2·Σ(xᵢ − tᵢ)² with c = 2/n (Mean) or 2 (Sum):
//   ∂²L/∂x² = c·I  (and ∂²L/∂x∂t = −c·I, ∂²L/∂t² = c·I). Reduction None has no scalar L.
Tensor mse_loss_hessian(int64_t n, Reduction reduction);

// L = Σ (x·Wᵀ + b − t)² (mse_loss, reduction Sum) over x (N, in) and W (out, in):
//   ∂²L/∂W_oi ∂W_o'i' = 2·δ_oo'·(xᵀx)_ii',  i.e. 2·(I_out ⊗ G) with G = xᵀx, the Gram matrix
// of x's columns (it depends neither on W, b nor t).
Tensor linear_squared_loss_hessian(const Tensor& x, int64_t out_features);

// softmax over a 1-D x, s = softmax(x): J = ∂s/∂x = diag(s) − s·sᵀ (symmetric).
Tensor softmax_jacobian(const Tensor& x);

// The second derivative of ⟨u, softmax(x)⟩ along v: with a = J·v = s ⊙ (v − ⟨s, v⟩),
//   H_u·v = a ⊙ (u − ⟨s, u⟩) − s·⟨a, u⟩,
// the derivative along v of the gradient s ⊙ (u − ⟨s, u⟩); H_u is symmetric
// (⟨w, H_u·v⟩ = ⟨v, H_u·w⟩).
Tensor softmax_hvp(const Tensor& x, const Tensor& u, const Tensor& v);

// log-sum-exp, lse(x) = log Σᵢ exp(xᵢ): ∇lse = s = softmax(x), ∇²lse = diag(s) − s·sᵀ.
Tensor logsumexp_hessian(const Tensor& x);

// ---- Classification losses, x (N, C), ones upstream (every row for reduction None), s = softmax
// of each row, w = 1/#rows counted for Mean (1 otherwise).

// cross_entropy with class indices y and label smoothing ε: q = (1 − ε)·onehot(y) + ε/C and
//   ∂L/∂x = w·(s − q) per row; rows with y = ignore_index get 0 and Mean counts only the others.
Tensor cross_entropy_class_grad(const Tensor& x, const std::vector<int64_t>& target, Reduction reduction,
                                int64_t ignore_index, double smoothing);

// cross_entropy with probabilities p (N, C) and smoothing ε: q = (1 − ε)·p + ε/C,
//   ∂L/∂x = w·(s·Σq − q) per row (s − q for rows of q summing to 1), ∂L/∂p = −w·(1 − ε)·log s.
struct ProbabilityGrads {
  Tensor input;
  Tensor target;
};
ProbabilityGrads cross_entropy_probability_grads(const Tensor& x, const Tensor& p, Reduction reduction, double smoothing);
// layer_norm's input gradient, row by row. x viewed as N rows of M (the normalized dims), per row
// μ, σ² (biased), r = 1/√(σ² + eps), x̂ = (x − μ)·r; upstream g, weight w (ones when absent),
// u = g·w. Then dx = r·(u − mean(u) − x̂·mean(u·x̂)), and since Σ x̂ = 0 and Σ x̂² = M·σ²·r²:
//   Σ dx = 0                                  (any weight, any eps);
//   ⟨dx, x̂⟩ = r·⟨u, x̂⟩·(1 − σ²·r²) = eps·r³·⟨u, x̂⟩   (any weight):
// orthogonal to x̂ exactly when eps = 0 (rows with σ² > 0), up to eps·r² relative otherwise.
// Per row, in double from x and u (the engine's dx as given): Σ dx, ⟨dx, x̂⟩, what ⟨dx, x̂⟩ must
// be, and the terms' magnitude r·Σ|u|·(1 + |x̂|)² that rounding errors scale with.
struct LayerNormRowSums {
  std::vector<double> sum, dot_xhat, want_dot_xhat, scale;
};
LayerNormRowSums layer_norm_row_sums(const Tensor& x, int64_t m, const Tensor& u, const Tensor& dx, double eps);


// embedding's weight gradient: an index-add of the upstream rows. With indices i (any shape, k
// of them, each in [0, num_weights)) and upstream g viewed as k rows of d, row r of dW is the sum
// of g's rows k with i_k = r (0 for a row never picked; a repeated index adds each of its rows).
Tensor embedding_weight_grad(const std::vector<int64_t>& indices, int64_t num_weights, const Tensor& g);
// conv2d, x (N, C, H, W), w (O, C/groups, kH, kW), upstream g (N, O, OH, OW); Cg = C/groups,
// group(o) = o / (O/groups), xpad = x zero-padded by (pH, pW). The weight gradient is the
// correlation of the padded input, read at the stride with the taps dilated, with the upstream:
//   dW[o, c, i, j] = Σₙ Σ_{a, b} g[n, o, a, b] · xpad[n, group(o)·Cg + c, a·sH + i·dH, b·sW + j·dW],
//   db[o] = Σ_{n, a, b} g[n, o, a, b],
// and the input gradient is the transposed convolution of g with w (a gather per input element:
// the taps (i, j) and outputs (a, b) with h + pH = a·sH + i·dH, v + pW = b·sW + j·dW):
//   dx[n, c, h, v] = Σ_{o in c's group} Σ_{i, j} g[n, o, (h + pH − i·dH)/sH, (v + pW − j·dW)/sW] · w[o, c mod Cg, i, j]
// over the quotients that are exact and in range.
struct Conv2dGeometry {
  int64_t sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1, groups = 1;
};
struct Conv2dGrads {
  Tensor weight;  // (O, C/groups, kH, kW)
  Tensor bias;    // (O)
  Tensor input;   // (N, C, H, W)
};
Conv2dGrads conv2d_grads(const Tensor& x, const Tensor& w, const Tensor& upstream, const Conv2dGeometry& geo);

}  // namespace gradoracle::oracle::closed_forms
