// Reductions (sum, mean, norm), softmax and log_softmax, and mse_loss.
#include <algorithm>
#include <cmath>

#include "op_helpers.hpp"

namespace gradoracle {

using detail::for_each_line;
using detail::Lines;
using detail::lines_around;

namespace detail {
// The reduced dims as a mask over a's dims; empty `dims` means all, as in PyTorch 1.13, which
// checks every dim's range before it looks for a dim given twice (a 0-d tensor's 0 and -1 too).
std::vector<bool> reduced_mask(const Tensor& a, const std::vector<int64_t>& dims) {
  std::vector<bool> mask(a.shape().size(), dims.empty());
  for (int64_t d : dims) wrap_dim(d, a.dim());
  if (a.dim() == 0) {
    if (dims.size() > 1) fail(ErrorKind::Dim, "dim 0 appears multiple times in the list of dims");
    return mask;
  }
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, a.dim());
    if (mask[w]) fail(ErrorKind::Dim, "dim " + std::to_string(w) + " appears multiple times in the list of dims");
    mask[w] = true;
  }
  return mask;
}

Shape kept_shape(const Shape& s, const std::vector<bool>& mask) {
  Shape k = s;
  for (size_t i = 0; i < s.size(); ++i) if (mask[i]) k[i] = 1;
  return k;
}

Shape result_shape(const Shape& s, const std::vector<bool>& mask, bool keepdim) {
  if (keepdim) return kept_shape(s, mask);
  Shape r;
  for (size_t i = 0; i < s.size(); ++i) if (!mask[i]) r.push_back(s[i]);
  return r;
}
}  // namespace detail

namespace {
using detail::kept_shape;
using detail::reduced_mask;
using detail::result_shape;

Tensor sum_over(const Tensor& a, const std::vector<bool>& mask, bool keepdim) {
  const Shape kept = kept_shape(a.shape(), mask);
  Tensor y = Tensor::empty(result_shape(a.shape(), mask, keepdim), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    kernels::sum_into<T>(a, kept, y.data<T>());
  });
  return y;
}

// dY reshaped to keepdim form and broadcast back over the reduced dims.
Tensor unreduce(const Tensor& g, const Shape& kept, const Shape& in_shape) {
  return expand(reshape(g, kept), in_shape);
}
}  // namespace

namespace {
// Σ of all of a's elements (row-major storage) in double, in the order kernels::sum_into's
// general walk adds them when every dim is reduced: each innermost row (a's last dim; the one
// element of a 0-d tensor) summed from 0 on its own, the row sums added in turn to a total from
// 0. Same additions in the same order, so bit-identical to sum_over(a, all dims).
template <class T>
double sum_all(const Tensor& a) {
  const T* p = a.data<T>();
  const int64_t n = a.numel();
  const int64_t inner = a.dim() == 0 ? 1 : a.shape().back();
  double total = 0;
  if (n == 0) return total;
  for (int64_t o = 0; o < n; o += inner) {
    double s = 0;
    for (int64_t j = 0; j < inner; ++j) s += p[o + j];
    total += s;
  }
  return total;
}

bool records(const Tensor& a) { return any_requires_grad(std::span<const Tensor>(&a, 1)); }

// a / n for a Python number n, recorded as PyTorch's div(Tensor, Scalar): DivBackward1.
// d/da (a/n) = 1/n.
Tensor div_by_number(const Tensor& a, double n) {
  Tensor y = detail::map(a, [n](auto x) {
    using T = typename decltype(x)::Scalar;
    return x / static_cast<T>(n);
  });
  record(y, "DivBackward1", {a}, [n](const Tensor& g, NeedsGrad) { return detail::grads(div_by_number(g, n)); },
         Saves::Nothing);
  return y;
}

// sgn(a): 1, -1, or 0 at 0 and NaN, recorded (SgnBackward0): d/da sgn(a) = 0 (real a).
Tensor sgn(const Tensor& a) {
  Tensor y = detail::map(a, [](auto x) {
    using T = typename decltype(x)::Scalar;
    return (x > T(0)).template cast<T>() - (x < T(0)).template cast<T>();
  });
  record(y, "SgnBackward0", {a}, [](const Tensor& g, NeedsGrad) {
    return detail::grads(Tensor::zeros(g.shape(), g.dtype()));
  }, Saves::Nothing);
  return y;
}

// masked_fill(a, mask, 0) for a constant 0/1 `mask` broadcastable to a's shape:
// y = 0 where mask, a elsewhere; d/da = 1 outside the mask, 0 in it (MaskedFillBackward0).
Tensor masked_zero(const Tensor& a, const Tensor& mask) {
  Tensor y = detail::broadcast_zip(a, mask, [](auto x, auto m) { return m != 0 ? decltype(x)(0) : x; });
  record(y, "MaskedFillBackward0", {a}, [mask](const Tensor& g, NeedsGrad) {
    return detail::grads(masked_zero(g, mask));
  });
  return y;
}

// 1 where f(a) holds, else 0: a constant mask of a's shape and dtype.
template <class F>
Tensor mask_where(const Tensor& a, F f) {
  return detail::map(a, [f](auto x) { return f(x).template cast<typename decltype(x)::Scalar>(); });
}

// PyTorch 1.13's norm_backward from recorded ops, so it differentiates again (N = ‖a‖ₚ and g
// are 0-d; N keeps its graph through the norm). Its special values are PyTorch's: 0 where
// N = 0 (masked_fill, whose derivative is 0 there), ties of p = ±inf share g.
//   p = ±inf: sgn(a)·((g / #M)·M), M = [|a| = N or a is NaN]  (d/da = 0 a.e.: M, sgn constant)
//   p = 1:    sgn(a)·g
//   p = 2:    g·masked_fill(a/N, N = 0, 0)
//   p < 1:    sgn(a)·masked_fill(|a|^(p-1), a = 0, 0)·g·N^(1-p)
//   1 < p < 2: sgn(a)·|a|^(p-1) · masked_fill(g / N^(p-1), N = 0, 0)
//   p > 2:    a·|a|^(p-2) · masked_fill(g / N^(p-1), N = 0, 0)
Tensor norm_backward_recorded(const Tensor& g, const Tensor& a, const Tensor& n, double p) {
  if (std::isinf(p)) {
    const double nv = n.item();
    const Tensor hit = mask_where(a, [nv](auto x) {
      using T = typename decltype(x)::Scalar;
      return x.abs() == static_cast<T>(nv) || x.isNaN();
    });
    return mul(sgn(a), mul(div(g, sum(hit).item()), hit));
  }
  if (p == 1) return mul(sgn(a), g);
  const Tensor zero_norm = mask_where(n, [](auto x) { return x == typename decltype(x)::Scalar(0); });
  if (p == 2) return mul(g, masked_zero(div(a, n), zero_norm));
  if (p < 1) {
    const Tensor zero_a = mask_where(a, [](auto x) { return x == typename decltype(x)::Scalar(0); });
    return mul(mul(mul(sgn(a), masked_zero(pow(abs(a), p - 1), zero_a)), g), pow(n, 1 - p));
  }
  const Tensor scaled = p < 2 ? mul(sgn(a), pow(abs(a), p - 1)) : mul(a, pow(abs(a), p - 2));
  return mul(scaled, masked_zero(div(g, pow(n, p - 1)), zero_norm));
}
}  // namespace

// d/da Σa = 1 everywhere
Tensor sum(const Tensor& a) {
  Tensor y = Tensor::empty({}, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    y.data<T>()[0] = static_cast<T>(sum_all<T>(a));
  });
  // The backward's captures (a's shape) are built only when a node is recorded.
  if (records(a)) {
    record(y, "SumBackward0", {a}, [in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      return detail::grads(expand(g, in_shape));
    }, Saves::Nothing);
  }
  return y;
}

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const auto mask = reduced_mask(a, dims);
  Tensor y = sum_over(a, mask, keepdim);
  if (!records(a)) return y;  // kept shape built only for a node
  record(y, "SumBackward1", {a}, [kept = kept_shape(a.shape(), mask), in_shape = a.shape()](const Tensor& g, NeedsGrad) {
    return detail::grads(unreduce(g, kept, in_shape));
  }, Saves::Nothing);
  return y;
}

// d/da mean(a) = 1/N everywhere (NaN for N = 0, as PyTorch)
// Computed as div(sum(a), n) was: the float sum rounded to T, then divided by n rounded to T
// (a wrapped number), in T.
Tensor mean(const Tensor& a) {
  const double n = static_cast<double>(a.numel());
  Tensor y = Tensor::empty({}, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    y.data<T>()[0] = static_cast<T>(sum_all<T>(a)) / static_cast<T>(n);
  });
  if (!records(a)) return y;
  record(y, "MeanBackward0", {a}, [in_shape = a.shape(), n](const Tensor& g, NeedsGrad) {
    if (detail::needs_graph({&g})) return detail::grads(div_by_number(expand(g, in_shape), n));
    return detail::grads(expand(div(g, n), in_shape));
  }, Saves::Nothing);
  return y;
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const auto mask = reduced_mask(a, dims);
  double n = 1;
  for (size_t i = 0; i < mask.size(); ++i) if (mask[i]) n *= static_cast<double>(a.shape()[i]);
  Tensor y;
  {
    NoGradGuard no_grad;
    y = div(sum_over(a, mask, keepdim), n);
  }
  if (!records(a)) return y;  // kept shape built only for a node
  record(y, "MeanBackward1", {a}, [kept = kept_shape(a.shape(), mask), in_shape = a.shape(), n](const Tensor& g, NeedsGrad) {
    if (detail::needs_graph({&g})) return detail::grads(div_by_number(unreduce(g, kept, in_shape), n));
    return detail::grads(unreduce(div(g, n), kept, in_shape));
  });
  return y;
}

// ‖a‖ₚ over all elements: p = 0 counts non-zeros, p = ±inf takes max/min |a|, else (Σ|a|ᵖ)^(1/p)
// with each |a|ᵖ in a's dtype, as PyTorch 1.13: in float it underflows (to a subnormal or 0)
// for tiny a, and N with it (‖1e-30‖₂ = 0, so its gradient is 0).
// Derivatives, as PyTorch 1.13's norm_backward (N = ‖a‖ₚ):
//   p = 0: none;  p = inf: sgn(a)·[|a| = N] / #{|a| = N};
//   p < 1: sgn(a)·|a|^(p-1)·N^(1-p) (0 where a = 0);
//   1 <= p < 2: sgn(a)·|a|^(p-1) / N^(p-1);  p >= 2: a·|a|^(p-2) / N^(p-1)  (both 0 where N = 0).
Tensor norm(const Tensor& a, double p) {
  Tensor y = Tensor::empty({}, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto x = kernels::carray<T>(a);
    double r;
    if (a.numel() == 0) {
      r = 0;
    } else if (std::isinf(p)) {
      const auto ax = x.abs().template cast<double>();
      r = x.isNaN().any() ? NAN : (p > 0 ? ax.maxCoeff() : ax.minCoeff());
    } else if (p == 0) {
      r = static_cast<double>((x != T(0)).count());
    } else if (p == 1) {
      r = x.abs().template cast<double>().sum();
    } else if (p == 2) {
      r = std::sqrt(x.square().template cast<double>().sum());
    } else {
      r = std::pow(x.abs().pow(T(p)).template cast<double>().sum(), 1.0 / p);
    }
    y.data<T>()[0] = static_cast<T>(r);
  });
  record(y, "NormBackward1", {a}, [a, y = detail::SavedOutput(y), p](const Tensor& g, NeedsGrad) {
    if (p == 0) return detail::grads(Tensor());
    if (detail::needs_graph({&g, &a})) return detail::grads(norm_backward_recorded(g, a, y.tensor(g), p));
    Tensor grad = Tensor::empty(a.shape(), a.dtype());
    dispatch(a.dtype(), [&](auto s) {
      using T = decltype(s);
      const auto x = kernels::carray<T>(a);
      auto out = kernels::array<T>(grad);
      const T n = y.data<T>()[0], gv = g.data<T>()[0];
      const auto sgn = (x > T(0)).template cast<T>() - (x < T(0)).template cast<T>();
      if (std::isinf(p)) {
        const auto hit = (x.abs() == n || x.isNaN()).template cast<T>();
        out = sgn * hit * (gv / hit.sum());
      } else if (p < 1) {
        out = (x == T(0)).select(T(0), sgn * x.abs().pow(T(p - 1))) * (gv * std::pow(n, T(1 - p)));
      } else if (p == 1) {
        out = sgn * gv;
      } else if (p == 2) {
        out = (x / n) * gv;
        if (n == T(0)) out.setZero();
      } else if (n == T(0)) {
        out.setZero();
      } else {
        // a·|a|^(p-2) / N^(p-1) (p >= 2) and sgn(a)·|a|^(p-1) / N^(p-1) (1 < p < 2) are both
        // sgn(a)·(|a|/N)^(p-1), formed so: |a|/N <= 1, so no factor overflows (or underflows
        // against one that overflows: 0·inf) when N is tiny or huge in the dtype.
        out = sgn * (x.abs() / n).pow(T(p - 1)) * gv;
      }
    });
    return detail::grads(grad);
  });
  return y;
}

namespace {
Tensor softmax_impl(const Tensor& a, int64_t dim, bool log) {
  const int64_t d = wrap_dim(dim, a.dim());
  const Lines v = lines_around(a.shape(), d);
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = a.data<T>();
    T* py = y.data<T>();
    for_each_line(v, [&](int64_t off, int64_t st) {
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < v.n; ++j) m = std::max(m, px[off + j * st]);
      if (std::isinf(m) && m < 0) m = 0;  // all -inf: keep exp(x - m) defined
      T total = 0;
      for (int64_t j = 0; j < v.n; ++j) total += std::exp(px[off + j * st] - m);
      // NOTE: as PyTorch, exp(x - m)/Σ and (x - m) - log Σ: forming m + log Σ first would lose
      // the low bits of x - m when |m| is large.
      const T log_total = std::log(total);
      for (int64_t j = 0; j < v.n; ++j) {
        const T z = px[off + j * st] - m;
        py[off + j * st] = log ? z - log_total : std::exp(z) / total;
      }
    });
  });
  return y;
}
}  // namespace

namespace {
// PyTorch's _softmax_backward_data as an op of its own: b(g, y) = y·(g - Σ g·y) along d.
// ⟨gg, b⟩ differentiated: ∂/∂g = b(gg, y);  ∂/∂y = gg·g - gg·Σ(g·y) - g·Σ(gg·y) (sums along d).
Tensor softmax_backward_data(const Tensor& g, const Tensor& y, int64_t d) {
  Tensor b = Tensor::empty(g.shape(), g.dtype());
  dispatch(g.dtype(), [&](auto s) {
    using T = decltype(s);
    const T *py = y.data<T>(), *pg = g.data<T>();
    T* po = b.data<T>();
    const Lines v = lines_around(g.shape(), d);
    for_each_line(v, [&](int64_t off, int64_t st) {
      T dot = 0;
      for (int64_t j = 0; j < v.n; ++j) dot += pg[off + j * st] * py[off + j * st];
      for (int64_t j = 0; j < v.n; ++j) po[off + j * st] = py[off + j * st] * (pg[off + j * st] - dot);
    });
  });
  record(b, "SoftmaxBackwardDataBackward0", {g, y}, [g, y, d](const Tensor& gg, NeedsGrad needs) {
    Tensor dg, dy;
    if (needs[0]) dg = softmax_backward_data(gg, y, d);
    if (needs[1]) dy = mul(gg, g) - mul(sum(mul(g, y), {d}, true), gg) - mul(g, sum(mul(gg, y), {d}, true));
    return std::vector<Tensor>{dg, dy};
  });
  return b;
}

// PyTorch's _log_softmax_backward_data as an op of its own: b(g, y) = g - exp(y)·Σg along d.
// ⟨gg, b⟩ differentiated: ∂/∂g = gg - Σ(gg·exp(y));  ∂/∂y = -gg·exp(y)·Σg (sums along d).
Tensor log_softmax_backward_data(const Tensor& g, const Tensor& y, int64_t d) {
  Tensor b = Tensor::empty(g.shape(), g.dtype());
  dispatch(g.dtype(), [&](auto s) {
    using T = decltype(s);
    const T *py = y.data<T>(), *pg = g.data<T>();
    T* po = b.data<T>();
    const Lines v = lines_around(g.shape(), d);
    for_each_line(v, [&](int64_t off, int64_t st) {
      T total = 0;
      for (int64_t j = 0; j < v.n; ++j) total += pg[off + j * st];
      for (int64_t j = 0; j < v.n; ++j) po[off + j * st] = pg[off + j * st] - std::exp(py[off + j * st]) * total;
    });
  });
  record(b, "LogSoftmaxBackwardDataBackward0", {g, y}, [g, y, d](const Tensor& gg, NeedsGrad needs) {
    Tensor dg, dy;
    if (needs[0]) dg = gg - sum(mul(gg, exp(y)), {d}, true);
    if (needs[1]) dy = mul(mul(neg(sum(g, {d}, true)), exp(y)), gg);
    return std::vector<Tensor>{dg, dy};
  });
  return b;
}
}  // namespace

// y = exp(x - max) / Σ exp(x - max) along dim; dx = y·(dy - Σ dy·y)
Tensor softmax(const Tensor& a, int64_t dim) {
  Tensor y = softmax_impl(a, dim, false);
  const int64_t d = wrap_dim(dim, a.dim());
  record(y, "SoftmaxBackward0", {a}, [y = detail::SavedOutput(y), d](const Tensor& g, NeedsGrad) {
    return detail::grads(softmax_backward_data(g, y.tensor(g), d));
  });
  return y;
}

// y = x - logΣexp(x) along dim; dx = dy - exp(y)·Σ dy
Tensor log_softmax(const Tensor& a, int64_t dim) {
  Tensor y = softmax_impl(a, dim, true);
  const int64_t d = wrap_dim(dim, a.dim());
  record(y, "LogSoftmaxBackward0", {a}, [y = detail::SavedOutput(y), d](const Tensor& g, NeedsGrad) {
    return detail::grads(log_softmax_backward_data(g, y.tensor(g), d));
  });
  return y;
}

namespace {
// PyTorch's mse_loss_backward as an op of its own: b(g, x, t) = s·(x - t)·g, s = 2/N for mean
// (N elements of the broadcast x - t), 2 otherwise.
// ⟨gg, b⟩ differentiated: ∂/∂x = s·gg·g, ∂/∂t = -s·gg·g;  ∂/∂g = b(gg, x, t) for none,
// Σ b(1, x, t)·gg for mean and sum (g is 0-d).
Tensor mse_loss_backward(const Tensor& g, const Tensor& x, const Tensor& t, Reduction reduction, double n) {
  const double scale = reduction == Reduction::Mean ? 2 / n : 2.0;  // s
  Tensor b;
  {
    NoGradGuard no_grad;
    b = mul(mul(sub(x, t), g), scale);
  }
  record(b, "MseLossBackwardBackward0", {g, x, t}, [g, x, t, reduction, n, scale](const Tensor& gg, NeedsGrad needs) {
    Tensor dg, dx, dt;
    if (needs[0]) {
      dg = reduction == Reduction::None
               ? mse_loss_backward(gg, x, t, reduction, n)
               : sum(mul(mse_loss_backward(Tensor::ones(g.shape(), g.dtype()), x, t, reduction, n), gg));
    }
    if (needs[1] || needs[2]) {
      const Tensor ggg = mul(mul(gg, g), scale);
      if (needs[1]) dx = ggg;
      if (needs[2]) dt = neg(ggg);
    }
    return std::vector<Tensor>{dg, dx, dt};
  });
  return b;
}
}  // namespace

// ℓ = (x - t)² elementwise (broadcast), then mean, sum or none.
// dℓ/dx = 2(x - t)·dY (÷N for mean), dℓ/dt = -dℓ/dx.
Tensor mse_loss(const Tensor& input_in, const Tensor& target_in, Reduction reduction) {
  Tensor x = input_in, t = target_in;
  detail::promote_pair(x, t);
  Tensor diff;
  {
    NoGradGuard no_grad;
    diff = sub(x, t);
  }
  Tensor sq = detail::map(diff, [](auto v) { return v.square(); });
  layout::set(impl_of(sq), layout::strides(impl_of(diff)));  // one TensorIterator pass over (x, t) in PyTorch
  const double n = static_cast<double>(sq.numel());
  Tensor y;
  {
    NoGradGuard no_grad;
    y = reduction == Reduction::None ? sq : reduction == Reduction::Sum ? sum(sq) : div(sum(sq), n);
  }
  record(y, "MseLossBackward0", {x, t}, [x, t, diff, reduction, n](const Tensor& g, NeedsGrad needs) {
    if (detail::needs_graph({&g, &x, &t})) {  // PyTorch's: b(g, x, t) for x, b(g, t, x) for t
      return std::vector<Tensor>{needs[0] ? mse_loss_backward(g, x, t, reduction, n) : Tensor(),
                                 needs[1] ? mse_loss_backward(g, t, x, reduction, n) : Tensor()};
    }
    const double scale = reduction == Reduction::Mean ? 2.0 / n : 2.0;
    const Tensor gx = mul(mul(diff, g), scale);  // g broadcasts: 0-d for mean and sum
    return std::vector<Tensor>{needs[0] ? gx : Tensor(), needs[1] ? neg(gx) : Tensor()};
  });
  return y;
}

}  // namespace gradoracle
