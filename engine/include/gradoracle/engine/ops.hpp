#pragma once
// The differentiable ops, with PyTorch 1.13's semantics, broadcasting and grad_fn names.
// Each op's derivative is stated beside its implementation in engine/src/ops_*.cpp.
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "gradoracle/engine/tensor.hpp"

namespace gradoracle {

// ---- elementwise unary ----
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor log1p(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor abs(const Tensor& a);

// ---- activations and smooth unary functions (ops_activation.cpp) ----
Tensor expm1(const Tensor& a);
Tensor atan(const Tensor& a);
Tensor erf(const Tensor& a);
Tensor silu(const Tensor& a);
// F.gelu: the exact form x·Φ(x) (approximate="none") or the tanh approximation.
enum class GeluApproximate { None, Tanh };
Tensor gelu(const Tensor& a, GeluApproximate approximate = GeluApproximate::None);
// F.softplus: log(1 + e^(beta·x))/beta, and x itself where beta·x > threshold.
Tensor softplus(const Tensor& a, double beta = 1.0, double threshold = 20.0);
Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);
Tensor elu(const Tensor& a, double alpha = 1.0);

// ---- elementwise binary, broadcasting; a double is a Python-number operand ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor add(double a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, double b);
Tensor sub(double a, const Tensor& b);  // 1 - y: RsubBackward1
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, double b);
Tensor mul(double a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, double b);
Tensor div(double a, const Tensor& b);  // 2 / x = x.reciprocal() * 2: MulBackward0
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double b);
Tensor pow(double a, const Tensor& b);

Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// ---- linear algebra ----
// torch.matmul: 1-D·1-D dot, 2-D mm, 1-D/2-D against batched with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
// F.linear: x·weightᵀ + bias; bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- shape ----
Tensor t(const Tensor& a);  // at most 2-D
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1);
Tensor reshape(const Tensor& a, const Shape& shape);  // one -1 may be inferred; shares storage
// a.expand(shape): a broadcast to `shape` (-1 keeps a dim; new dims lead), a view in PyTorch
// (stride 0 along the expanded dims); the engine copies. The adjoint of sum_to.
Tensor expand(const Tensor& a, const Shape& shape);
// Views (ops_view.cpp): a dim of size 1 inserted at dim in [-rank - 1, rank]; every dim of size
// 1 removed; dim removed if its size is 1 (else a unchanged, PyTorch 1.13); dims reordered.
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor squeeze(const Tensor& a);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
// Sums a down to `shape`, which a's shape must broadcast from (the broadcast-gradient reduction).
Tensor sum_to(const Tensor& a, const Shape& shape);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);

// ---- reductions ----
Tensor sum(const Tensor& a);  // over all elements: SumBackward0
// Over `dims` (empty = all, as PyTorch 1.13), keepdim as in PyTorch: SumBackward1.
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
inline constexpr double kInf = std::numeric_limits<double>::infinity();
// torch.norm(a, p) over all elements; p may be kInf.
Tensor norm(const Tensor& a, double p = 2.0);
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- scans and reductions with backwards of their own (ops_scan.cpp) ----
Tensor cumsum(const Tensor& a, int64_t dim);
// torch.logsumexp over `dims` (empty: all, which PyTorch 1.13 refuses without keepdim).
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
// torch.var / torch.std: over `dims`, or all when none are given (an empty list is given: see
// ops_scan.cpp), with Bessel's correction when unbiased.
Tensor var(const Tensor& a, const std::optional<std::vector<int64_t>>& dims = std::nullopt, bool unbiased = true,
           bool keepdim = false);
Tensor std_dev(const Tensor& a, const std::optional<std::vector<int64_t>>& dims = std::nullopt, bool unbiased = true,
               bool keepdim = false);
Tensor prod(const Tensor& a);                                       // ProdBackward0
Tensor prod(const Tensor& a, int64_t dim, bool keepdim = false);  // ProdBackward1

// ---- losses ----
enum class Reduction { Mean, Sum, None };
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// ---- kinks and ties (ops_kinks.cpp): PyTorch 1.13's subgradients where the pieces meet ----
// torch.clamp: at least one bound; the gradient passes where min <= x <= max (bounds included).
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max);
// torch.maximum/minimum, broadcasting, NaN propagating; a tie splits the gradient in halves.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// torch.max(a)/min(a) over all elements (MaxBackward1): tied extrema share the gradient evenly.
Tensor max(const Tensor& a);
Tensor min(const Tensor& a);
// torch.max(a, dim, keepdim).values (MaxBackward0): the gradient goes to the index torch returns.
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& a, int64_t dim, bool keepdim = false);
// torch.amax/amin over `dims` (empty = all): ties along the reduced dims share it evenly.
Tensor amax(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// ---- selection by condition or index (ops_select.cpp) ----
// torch.where: cond (bool) picks a, else b, all three broadcast; a number takes the tensor's dtype.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, double b);
Tensor where(const Tensor& cond, double a, const Tensor& b);
// a.index_select(dim, index) with index an int64 vector (or 0-d); repeated indices accumulate.
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
// a.gather(dim, index) with index int64 of a's rank, no larger than a apart from dim.
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
// F.embedding(indices, weight): rows of the 2-D weight at the int64 indices.
Tensor embedding(const Tensor& indices, const Tensor& weight);
// ---- convolution (ops_conv.cpp) ----
// F.conv2d: input (N, C, H, W) or (C, H, W), weight (O, C/groups, kH, kW), bias (O) or undefined;
// stride, padding, dilation: one value or two (height, width).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), const std::vector<int64_t>& stride = {1},
              const std::vector<int64_t>& padding = {0}, const std::vector<int64_t>& dilation = {1}, int64_t groups = 1);

// ---- classification losses (ops_loss_class.cpp) ----
// F.nll_loss(input, target): input (C), (N, C) or (N, C, d1, ...); target int64 of shape (), (N)
// or (N, d1, ...) with classes in [0, C) or ignore_index (those rows count for nothing).
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                int64_t ignore_index = -100);
// F.cross_entropy(input, target): log_softmax over the class dim then nll_loss for int64 class
// indices (label_smoothing mixes in the uniform distribution), or -Σ p·log_softmax(x) for
// probabilities p of the input's shape.
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                     int64_t ignore_index = -100, double label_smoothing = 0.0);
// ---- normalization (ops_norm.cpp) ----
// F.layer_norm(x, normalized_shape, weight, bias, eps): x normalized over its trailing dims
// normalized_shape (biased variance), times weight, plus bias; weight and bias may be undefined.
Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// ---- windows (ops_window.cpp) ----
// F.max_pool2d over a (C,H,W) or (N,C,H,W) tensor; kernel_size, stride (empty: kernel_size) and
// padding are each one int or a pair. The gradient goes to the argmax torch picks per window.
Tensor max_pool2d(const Tensor& a, const std::vector<int64_t>& kernel_size, const std::vector<int64_t>& stride = {},
                  const std::vector<int64_t>& padding = {0});

// ---- autograd ----
inline Tensor detach(const Tensor& a) { return a.detach(); }

}  // namespace gradoracle
