// Classification losses: nll_loss and cross_entropy (PyTorch 1.13's F.nll_loss, F.cross_entropy).
// nll_loss is one fused node over the input viewed as (N, C, S) (NllLossBackward0 for a 1-D or
// 2-D input, NllLoss2DBackward0 for the others, as ATen's nll_loss_nd routes them); its backward
// is the scatter of -g to the targets' classes, recorded under create_graph as
// NllLoss(2D)BackwardBackward0, whose backward is nll_loss again (linear in g). cross_entropy is
// composed as ATen composes it (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss): class
// indices go through log_softmax and nll_loss (two fused nodes: LogSoftmaxBackward0 under
// NllLossBackward0); label smoothing adds ε/C·Σ(-log_softmax) (AddBackward0 on top);
// probabilities are -Σ p·log_softmax(x) (NegBackward0, DivBackward1 for mean), so the
// probability target is differentiated too.
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "op_helpers.hpp"

namespace gradoracle {

namespace {
using detail::grads;

using detail::torch_scalar_type;

// A double as C++'s ostream prints it (PyTorch's TORCH_CHECK message): 1.5, 2, 1e+10.
std::string shown(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// The input as (n, c, s): input element (i, k, j) at (i·c + k)·s + j, its target at i·s + j.
// `two_d`: ATen's nll_loss2d (inputs of rank >= 3), which names the nodes NllLoss2D*.
struct Nll {
  int64_t n = 1, c = 1, s = 1;
  Reduction reduction = Reduction::Mean;
  int64_t ignore_index = -100;
  bool two_d = false;
  Shape none_shape;  // the result's shape for reduction none (the node's, before any view)
  int64_t count = 0;  // targets not ignored: mean's divisor (PyTorch's total_weight)
};

Tensor nll_backward(const Tensor& g, const Tensor& x, const Tensor& target, const Nll& p);

// The loss of x (of the node's shape) against the targets, checked in range; one pass.
Tensor nll_forward(const Tensor& x, const Tensor& target, const Nll& p) {
  const int64_t* pt = target.data<int64_t>();
  Tensor y = Tensor::empty(p.reduction == Reduction::None ? p.none_shape : Shape{}, x.dtype());
  dispatch(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* px = x.template data<T>();
    T* py = y.template data<T>();
    T total = 0;
    for (int64_t i = 0; i < p.n; ++i) {
      for (int64_t j = 0; j < p.s; ++j) {
        const int64_t k = pt[i * p.s + j];
        T v = 0;
        if (k != p.ignore_index) v = -px[(i * p.c + k) * p.s + j];
        if (p.reduction == Reduction::None) py[i * p.s + j] = v;
        else total += v;
      }
    }
    if (p.reduction == Reduction::Sum) py[0] = total;
    if (p.reduction == Reduction::Mean) py[0] = total / static_cast<T>(p.count);  // 0/0: NaN, as PyTorch
  });
  record(y, p.two_d ? "NllLoss2DBackward0" : "NllLossBackward0", {x},
         [x, target, p](const Tensor& g, NeedsGrad) { return grads(nll_backward(g, x, target, p)); });
  return y;
}

// d/dx: -g (÷ count for mean) at each target's class, 0 elsewhere and in ignored rows. Under
// create_graph PyTorch records it over (g, x) as soon as either requires grad (x's derivative:
// zeros_like, derivatives.yaml); g's is nll_loss itself, the backward being linear in g.
Tensor nll_backward(const Tensor& g, const Tensor& x, const Tensor& target, const Nll& p) {
  Tensor gx = Tensor::zeros(x.shape(), g.dtype());
  const int64_t* pt = target.data<int64_t>();
  dispatch(g.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = g.template data<T>();
    T* po = gx.template data<T>();
    const bool none = p.reduction == Reduction::None;
    const T scale = p.reduction == Reduction::Mean ? T(1) / static_cast<T>(p.count) : T(1);
    for (int64_t i = 0; i < p.n; ++i) {
      for (int64_t j = 0; j < p.s; ++j) {
        const int64_t k = pt[i * p.s + j];
        if (k == p.ignore_index) continue;
        po[(i * p.c + k) * p.s + j] = -(none ? pg[i * p.s + j] : pg[0] * scale);
      }
    }
  });
  if (detail::needs_graph({&g, &x})) {
    record(gx, p.two_d ? "NllLoss2DBackwardBackward0" : "NllLossBackwardBackward0", {g, x},
           [target, p](const Tensor& gg, NeedsGrad needs) {
             return std::vector<Tensor>{needs[0] ? nll_forward(gg, target, p) : Tensor(),
                                        needs[1] ? Tensor::zeros(gg.shape(), gg.dtype()) : Tensor()};
           });
  }
  return gx;
}

// The targets the kernel reads (n·s of them: a 1-D input reads one of a (C) target, as PyTorch).
void check_targets(const Tensor& target, const Nll& p) {
  if (target.dtype() != DType::Int64) {
    fail(ErrorKind::DType, std::string("expected scalar type Long but found ") + torch_scalar_type(target.dtype()));
  }
  const int64_t* pt = target.data<int64_t>();
  for (int64_t i = 0; i < p.n * p.s; ++i) {
    if (pt[i] != p.ignore_index && (pt[i] < 0 || pt[i] >= p.c)) {
      fail(ErrorKind::Dim, "Target " + std::to_string(pt[i]) + " is out of bounds.");
    }
  }
}

int64_t count_kept(const Tensor& target, int64_t ignore_index, int64_t read) {
  const int64_t* pt = target.data<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < read; ++i) n += pt[i] != ignore_index;
  return n;
}

// y = a·s (or a/s) recorded as ATen's mul/div by a Scalar (MulBackward1, DivBackward1): d/da =
// g·s (g/s), which PyTorch's formula computes against s wrapped as a tensor, so that under
// create_graph it is recorded as MulBackward0 (DivBackward0), as the engine's number operands are.
Tensor scaled(const Tensor& a, double s, bool divide) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = divide ? div(a, s) : mul(a, s);
  }
  record(y, divide ? "DivBackward1" : "MulBackward1", {a},
         [s, divide](const Tensor& g, NeedsGrad) { return grads(divide ? div(g, s) : mul(g, s)); }, Saves::Nothing);
  return y;
}

// A bool tensor of target's shape: target == ignore_index.
Tensor ignored_mask(const Tensor& target, int64_t ignore_index) {
  Tensor m = Tensor::empty(target.shape(), DType::Bool);
  const int64_t* pt = target.data<int64_t>();
  bool* pm = m.data<bool>();
  for (int64_t i = 0; i < target.numel(); ++i) pm[i] = pt[i] == ignore_index;
  return m;
}

// cross_entropy with probabilities (target of input's shape): -Σ p'·log_softmax(x) over the
// class dim, p' = p·(1 - ε) + ε/C with smoothing ε.
Tensor cross_entropy_probabilities(const Tensor& x, const Tensor& target_in, Reduction reduction, double smoothing) {
  const int64_t class_dim = x.dim() == 1 ? 0 : 1;
  if (x.dim() == 0) fail(ErrorKind::Dim, "Dimension specified as 1 but tensor has no dimensions");  // C before log_softmax
  const int64_t n_classes = x.size(class_dim);
  const Tensor input = log_softmax(x, class_dim);
  Tensor target = target_in;
  if (smoothing > 0.0) {
    if (smoothing > 1.0) fail(ErrorKind::Value, "label_smoothing must be between 0.0 and 1.0. Got: " + shown(smoothing));
    target = add(scaled(target_in, 1 - smoothing, false), smoothing / static_cast<double>(n_classes));
  }
  switch (reduction) {
    case Reduction::Mean:
      if (input.numel() == 0) return neg(scaled(sum(mul(input, target)), std::numeric_limits<double>::quiet_NaN(), false));
      return scaled(neg(sum(mul(input, target))), static_cast<double>(input.numel() / n_classes), true);
    case Reduction::Sum: return neg(sum(mul(input, target)));
    case Reduction::None: return neg(sum(mul(input, target), {class_dim}));
  }
  return Tensor();
}
}  // namespace

// ATen's nll_loss_nd: inputs of rank 1 or 2 to nll_loss, 4 to nll_loss2d, 3 (and > 4) viewed
// as (N, C, 1, -1) into nll_loss2d and a none result viewed back to (N, d1, ...).
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index) {
  if (!is_floating(input.dtype())) fail_not_floating(input.dtype());
  if (input.dim() < 1) fail(ErrorKind::Value, "Expected 1 or more dimensions (got " + std::to_string(input.dim()) + ")");
  const int64_t target_batch = target.dim() == 0 ? 0 : target.size(0);  // PyTorch reads sizes()[0] of a 0-d target as 0
  if (input.dim() != 1 && input.size(0) != target_batch) {
    fail(ErrorKind::Value, "Expected input batch_size (" + std::to_string(input.size(0)) + ") to match target batch_size (" +
                               std::to_string(target_batch) + ").");
  }
  Nll p;
  p.reduction = reduction;
  p.ignore_index = ignore_index;
  const Shape& xs = input.shape();
  if (input.dim() <= 2) {
    if (target.dim() > 1) fail(ErrorKind::Shape, "0D or 1D target tensor expected, multi-target not supported");
    const bool no_batch = input.dim() == 1 && target.dim() == 0;
    if (!no_batch && input.size(0) != target_batch) {
      fail(ErrorKind::Shape, "size mismatch (got input: " + to_string(xs) + ", target: " + to_string(target.shape()) + ")");
    }
    p.n = input.dim() == 1 ? 1 : xs[0];
    p.c = xs.back();
    p.none_shape = input.dim() == 1 ? Shape{} : Shape{xs[0]};
  } else if (input.dim() == 4) {
    if (target.dim() != 3) {
      fail(ErrorKind::Shape, "only batches of spatial targets supported (3D tensors) but got targets of dimension: " +
                                 std::to_string(target.dim()));
    }
    const Shape& ts = target.shape();
    if (xs[0] != ts[0] || xs[2] != ts[1] || xs[3] != ts[2]) {
      fail(ErrorKind::Shape, "size mismatch (got input: " + to_string(xs) + " , target: " + to_string(ts));
    }
    p.n = xs[0];
    p.c = xs[1];
    p.s = xs[2] * xs[3];
    p.two_d = true;
    p.none_shape = ts;
  } else {
    Shape out(xs.begin() + 2, xs.end());
    out.insert(out.begin(), xs[0]);
    if (Shape(target.shape().begin() + 1, target.shape().end()) != Shape(xs.begin() + 2, xs.end())) {
      fail(ErrorKind::Shape, "Expected target size " + to_string(out) + ", got " + to_string(target.shape()));
    }
    p.n = xs[0];
    p.c = xs[1];
    p.s = numel(out) / std::max<int64_t>(p.n, 1);
    if (p.n == 0) p.s = numel(Shape(xs.begin() + 2, xs.end()));
    p.two_d = true;
    p.none_shape = {p.n, 1, p.s};
    check_targets(target, p);
    p.count = count_kept(target, ignore_index, p.n * p.s);
    const Tensor x4 = detail::view_as_named(input, {p.n, p.c, 1, p.s}, "ViewBackward0");
    Tensor y = nll_forward(x4, target, p);
    return reduction == Reduction::None ? detail::view_as_named(y, out, "ViewBackward0") : y;
  }
  check_targets(target, p);
  p.count = count_kept(target, ignore_index, p.n * p.s);
  return nll_forward(input, target, p);
}

// ATen's cross_entropy_loss: probabilities when the target has the input's shape; else class
// indices, with label smoothing when ε > 0.
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction, int64_t ignore_index,
                     double label_smoothing) {
  if (input.shape() == target.shape()) {
    if (!is_floating(target.dtype())) {
      fail(ErrorKind::DType, std::string("Expected floating point type for target with class probabilities, got ") +
                                 torch_scalar_type(target.dtype()));
    }
    if (ignore_index >= 0) fail(ErrorKind::Value, "ignore_index is not supported for floating point target");
    return cross_entropy_probabilities(input, target, reduction, label_smoothing);
  }
  const int64_t class_dim = input.dim() == 1 ? 0 : 1;
  if (label_smoothing <= 0.0) return nll_loss(log_softmax(input, class_dim), target, reduction, ignore_index);
  if (label_smoothing > 1.0) {
    fail(ErrorKind::Value, "label_smoothing must be between 0.0 and 1.0. Got: " + shown(label_smoothing));
  }
  // (1 - ε)·nll + ε/C·smooth, smooth = Σ_c -log_softmax(x) with ignored rows 0, summed, averaged
  // over the rows not ignored (0/0: NaN) or kept per row.
  const Tensor lsm = log_softmax(input, class_dim);
  const Tensor nll = nll_loss(lsm, target, reduction, ignore_index);
  const int64_t n_classes = input.size(class_dim);
  Tensor smooth = where(ignored_mask(target, ignore_index), 0.0, neg(sum(lsm, {class_dim})));
  if (reduction == Reduction::Mean) smooth = scaled(sum(smooth), static_cast<double>(count_kept(target, ignore_index, target.numel())), true);
  if (reduction == Reduction::Sum) smooth = sum(smooth);
  return add(scaled(nll, 1 - label_smoothing, false), scaled(smooth, label_smoothing / static_cast<double>(n_classes), false));
}

}  // namespace gradoracle
