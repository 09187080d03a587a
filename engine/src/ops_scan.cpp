// Scans and the reductions with backwards of their own: cumsum, logsumexp, var, std and prod.
// As elsewhere, each backward is a fused kernel unless a graph is being created; then it is
// PyTorch 1.13's formula (FunctionsManual.cpp) from recorded engine ops, with its names, so that
// it differentiates again. Sums accumulate in double (PyTorch's CPU acc_type for float too).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "op_helpers.hpp"

namespace gradoracle {

using detail::for_each_line;
using detail::Lines;
using detail::lines_around;

using detail::grads;

namespace {
// ---------------------------------------------------------------- walks

// f(i, o) for each element i of a shape-`in` tensor (row-major), o its slice's index in the
// reduced result (row-major over `kept`, in's shape with the reduced dims set to 1).
template <class F>
void for_each_reduced(const Shape& in, const Shape& kept, F f) {
  const size_t r = in.size();
  kernels::Strides so(r), zero(r, 0);
  kernels::broadcast_strides_into(kept, in, so.data());
  kernels::for_each_row(in, so, zero, [&](int64_t oo, int64_t, int64_t i, int64_t inner, int64_t io, int64_t) {
    for (int64_t j = 0; j < inner; ++j) f(i + j, oo + j * io);
  });
}

// ---------------------------------------------------------------- recorded helpers

// a·n for a C++ number n: ATen's mul(Tensor, Scalar), MulBackward1 (a Python number gives
// MulBackward0). d/da = n.
Tensor mul_by_number(const Tensor& a, double n) {
  Tensor y = detail::map(a, [n](auto x) { return x * static_cast<typename decltype(x)::Scalar>(n); });
  record(y, "MulBackward1", {a}, [n](const Tensor& g, NeedsGrad) { return grads(mul_by_number(g, n)); },
         Saves::Nothing);
  return y;
}

// masked_fill(a, mask, 0) for a constant 0/1 mask of a's shape (MaskedFillBackward0):
// d/da = 1 outside the mask, 0 in it.
Tensor masked_zero(const Tensor& a, const Tensor& mask) {
  Tensor y = detail::zip(a, mask, [](auto x, auto m) {
    using T = typename decltype(x)::Scalar;
    return m.binaryExpr(x, [](T mv, T xv) { return mv != 0 ? T(0) : xv; });
  });
  record(y, "MaskedFillBackward0", {a}, [mask](const Tensor& g, NeedsGrad) { return grads(masked_zero(g, mask)); },
         Saves::Nothing);
  return y;
}

// a.flip(d) (FlipBackward0): d/da = flip(dY, d).
Tensor flip(const Tensor& a, int64_t d) {
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = a.data<T>();
    T* py = y.data<T>();
    const Lines v = lines_around(a.shape(), d);
    for_each_line(v, [&](int64_t off, int64_t st) {
      for (int64_t j = 0; j < v.n; ++j) py[off + j * st] = px[off + (v.n - 1 - j) * st];
    });
  });
  record(y, "FlipBackward0", {a}, [d](const Tensor& g, NeedsGrad) { return grads(flip(g, d)); }, Saves::Nothing);
  return y;
}

// unsqueeze_multiple: a size-1 dim inserted at each of the (wrapped) dims, in ascending order.
Tensor unsqueeze_dims(Tensor a, const std::vector<bool>& mask) {
  for (size_t d = 0; d < mask.size(); ++d) {
    if (mask[d]) a = unsqueeze(a, static_cast<int64_t>(d));
  }
  return a;
}

// 1 where pred(x), else 0: a constant of a's shape and dtype.
template <class Pred>
Tensor mask_where(const Tensor& a, Pred pred) {
  return detail::map(a, [pred](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.unaryExpr([pred](T v) { return pred(v) ? T(1) : T(0); });
  });
}
}  // namespace

// ---------------------------------------------------------------- cumsum

namespace {
// The running sum of x along dim d, from the front (or from the back where `reverse`), accumulated
// in double as PyTorch's CPU kernel does for float too (its acc_type).
Tensor running_sum(const Tensor& x, int64_t d, bool reverse) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const Lines v = lines_around(x.shape(), d);
    for_each_line(v, [&](int64_t off, int64_t st) {
      double acc = 0;
      for (int64_t k = 0; k < v.n; ++k) {
        const int64_t at = off + (reverse ? v.n - 1 - k : k) * st;
        py[at] = static_cast<T>(acc += px[at]);
      }
    });
  });
  return y;
}
}  // namespace

// y_j = Σ_{k<=j} x_k along dim;  dx_k = Σ_{j>=k} dY_j (PyTorch's reversed_cumsum:
// flip(cumsum(flip(dY))), recorded so under create_graph). NOTE: with one element, or a dim of
// size 1, PyTorch hands dY back itself.
Tensor cumsum(const Tensor& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim());
  Tensor y = running_sum(a, d, false);
  record(y, "CumsumBackward0", {a}, [d](const Tensor& g, NeedsGrad) {
    if (g.numel() <= 1 || (g.dim() > 0 && g.shape()[static_cast<size_t>(d)] == 1)) return grads(g);
    if (detail::creating_graph()) return grads(flip(cumsum(flip(g, d), d), d));
    return grads(running_sum(g, d, true));
  }, Saves::Nothing);
  return y;
}

// ---------------------------------------------------------------- logsumexp

// y = log Σ exp(x - m) + m over dims, m the max (0 where it is ±inf, so all -inf gives -inf and
// +inf gives +inf; NaN propagates), as PyTorch 1.13. dx = dY·exp(x - y): NaN at a +inf entry.
// NOTE: PyTorch 1.13 refuses an empty dim list without keepdim on a non-empty tensor of rank >= 1
// (its sum_out writes a 0-d result into the kept shape).
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> mask = detail::reduced_mask(a, dims);
  if (dims.empty() && !keepdim && a.dim() > 0 && a.numel() > 0) {
    fail(ErrorKind::Shape, "output with shape [] doesn't match the broadcast shape " + to_string(Shape(a.shape().size(), 1)));
  }
  const Shape kept = detail::kept_shape(a.shape(), mask);
  Tensor y = Tensor::empty(detail::result_shape(a.shape(), mask, keepdim), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = a.data<T>();
    T* py = y.data<T>();
    const auto m = static_cast<size_t>(y.numel());
    kernels::SmallBuffer<T, 16> top(m, -std::numeric_limits<T>::infinity());
    kernels::SmallBuffer<double, 16> total(m, 0.0);
    for_each_reduced(a.shape(), kept, [&](int64_t i, int64_t o) {
      T& t = top[static_cast<size_t>(o)];
      if (std::isnan(px[i]) || px[i] > t) t = std::isnan(t) ? t : px[i];
    });
    for (size_t o = 0; o < m; ++o) {
      if (std::isinf(top[o])) top[o] = 0;
    }
    for_each_reduced(a.shape(), kept, [&](int64_t i, int64_t o) {
      total[static_cast<size_t>(o)] += std::exp(px[i] - top[static_cast<size_t>(o)]);
    });
    for (size_t o = 0; o < m; ++o) py[o] = std::log(static_cast<T>(total[o])) + top[o];
  });
  if (!any_requires_grad(std::span<const Tensor>(&a, 1))) return y;
  record(y, "LogsumexpBackward0", {a}, [a, y = detail::SavedOutput(y), mask, kept, keepdim](const Tensor& g, NeedsGrad) {
    if (detail::needs_graph({&g, &a})) {
      Tensor gk = g, yk = y.tensor(g);
      if (!keepdim && a.dim() != 0) {
        gk = unsqueeze_dims(gk, mask);
        yk = unsqueeze_dims(yk, mask);
      }
      return grads(mul(gk, exp(sub(a, yk))));
    }
    Tensor out = Tensor::empty(a.shape(), a.dtype());
    dispatch(a.dtype(), [&](auto s) {
      using T = decltype(s);
      const T *px = a.data<T>(), *pg = g.data<T>(), *py = y.data<T>();
      T* po = out.data<T>();
      for_each_reduced(a.shape(), kept, [&](int64_t i, int64_t o) { po[i] = pg[o] * std::exp(px[i] - py[o]); });
    });
    return grads(out);
  });
  return y;
}

// ---------------------------------------------------------------- var, std

namespace {
// What var and std reduce: the dims as given (none: all), the mask and kept shape, the
// correction (1 unbiased, 0 not). NOTE: an empty dim list reduces every dim, but PyTorch 1.13's
// backward then counts Π over no dims = 1 element: dof = 1 - correction (inf grads unbiased).
struct Moments {
  std::optional<std::vector<int64_t>> dims;
  std::vector<bool> mask;
  Shape kept;
  bool keepdim = false;
  int64_t correction = 1;
};

Moments moments_of(const Tensor& a, const std::optional<std::vector<int64_t>>& dims, bool unbiased, bool keepdim) {
  Moments m;
  m.dims = dims;
  m.mask = detail::reduced_mask(a, dims.value_or(std::vector<int64_t>{}));
  m.kept = detail::kept_shape(a.shape(), m.mask);
  m.keepdim = keepdim;
  m.correction = unbiased ? 1 : 0;
  return m;
}

// Elements per slice, and the slice means (row-major over the kept shape), in double.
template <class T>
std::vector<double> slice_means(const Tensor& a, const Moments& m, double& n) {
  const int64_t slots = numel(m.kept);
  n = slots == 0 ? 0 : static_cast<double>(a.numel()) / static_cast<double>(slots);
  std::vector<double> mean(static_cast<size_t>(slots), 0.0);
  const T* px = a.data<T>();
  for_each_reduced(a.shape(), m.kept, [&](int64_t i, int64_t o) { mean[static_cast<size_t>(o)] += px[i]; });
  for (double& v : mean) v /= n;
  return mean;
}

// Σ(x - mean)² / max(0, n - correction) per slice (NaN where that is 0/0); std takes its root.
Tensor moments_forward(const Tensor& a, const Moments& m, bool root) {
  Tensor y = Tensor::empty(detail::result_shape(a.shape(), m.mask, m.keepdim), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    double n = 0;
    const std::vector<double> mean = slice_means<T>(a, m, n);
    std::vector<double> m2(mean.size(), 0.0);
    const T* px = a.data<T>();
    for_each_reduced(a.shape(), m.kept, [&](int64_t i, int64_t o) {
      const double e = px[i] - mean[static_cast<size_t>(o)];
      m2[static_cast<size_t>(o)] += e * e;
    });
    const double dof = std::max(0.0, n - static_cast<double>(m.correction));
    for (size_t o = 0; o < m2.size(); ++o) {
      const double v = m2[o] / dof;
      y.data<T>()[o] = static_cast<T>(root ? std::sqrt(v) : v);
    }
  });
  return y;
}

// PyTorch 1.13's var_backward(g, a, dims, correction, keepdim):
//   all dims (no dims given, or a 0-d a): inf·g where n = correction (g's shape: the engine then
//   refuses a one-element a of rank >= 1, as PyTorch does), else (2/(n - c))·g·(a - mean(a));
//   dims given: g unsqueezed back (rank > 1, no keepdim), then (2/dof)·g·(a - mean(a, dims,
//   keepdim)), dof = Π of the listed dims' sizes - c: a dof of 0 gives inf·0 = NaN.
Tensor var_backward(const Tensor& g, const Tensor& a, const Moments& m) {
  const bool all = a.dim() == 0 || !m.dims;
  double n = 1;
  if (all) {
    n = static_cast<double>(a.numel());
  } else {
    for (int64_t d : *m.dims) n *= static_cast<double>(a.shape()[static_cast<size_t>(wrap_dim(d, a.dim()))]);
  }
  const double dof = n - static_cast<double>(m.correction);
  if (all && dof == 0) return mul_by_number(g, std::numeric_limits<double>::infinity());
  const double c = 2.0 / dof;
  if (detail::needs_graph({&g, &a})) {
    const Tensor gk = !all && !m.keepdim && a.dim() > 1 ? unsqueeze_dims(g, m.mask) : g;
    const Tensor centred = all ? sub(a, mean(a)) : sub(a, mean(a, *m.dims, true));
    return mul(mul_by_number(gk, c), centred);
  }
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    double count = 0;
    const std::vector<double> mean = slice_means<T>(a, m, count);
    const T *px = a.data<T>(), *pg = g.data<T>();
    T* po = out.data<T>();
    const T ct = static_cast<T>(c);
    for_each_reduced(a.shape(), m.kept, [&](int64_t i, int64_t o) {
      po[i] = (ct * pg[o]) * (px[i] - static_cast<T>(mean[static_cast<size_t>(o)]));
    });
  });
  return out;
}
}  // namespace

// var = Σ(x - mean)²/(n - correction); d/dx = 2(x - mean)/(n - correction) (var_backward above).
Tensor var(const Tensor& a, const std::optional<std::vector<int64_t>>& dims, bool unbiased, bool keepdim) {
  Moments m = moments_of(a, dims, unbiased, keepdim);
  Tensor y = moments_forward(a, m, false);
  if (!any_requires_grad(std::span<const Tensor>(&a, 1))) return y;
  record(y, "VarBackward0", {a}, [a, m = std::move(m)](const Tensor& g, NeedsGrad) {
    return grads(var_backward(g, a, m));
  });
  return y;
}

// std = √var; d/dx = var_backward(dY/(2·std)) with 0 where std = 0 (PyTorch's masked_fill:
// std's subgradient at zero variance is 0).
Tensor std_dev(const Tensor& a, const std::optional<std::vector<int64_t>>& dims, bool unbiased, bool keepdim) {
  Moments m = moments_of(a, dims, unbiased, keepdim);
  Tensor y = moments_forward(a, m, true);
  if (!any_requires_grad(std::span<const Tensor>(&a, 1))) return y;
  record(y, "StdBackward0", {a}, [a, y = detail::SavedOutput(y), m = std::move(m)](const Tensor& g, NeedsGrad) {
    const Tensor r = y.tensor(g);
    const Tensor zero = mask_where(r, [](auto v) { return v == 0; });
    if (detail::needs_graph({&g, &a})) return grads(var_backward(masked_zero(div(g, mul_by_number(r, 2)), zero), a, m));
    const Tensor gv = detail::zip(g, y, [](auto dy, auto v) {
      using T = typename decltype(dy)::Scalar;
      return dy.binaryExpr(v, [](T dyv, T r) { return r == 0 ? T(0) : dyv / (r * 2); });
    });
    return grads(var_backward(gv, a, m));
  });
  return y;
}

// ---------------------------------------------------------------- prod

namespace {
// E(x)_i = Π_{j≠i} x_j along dim d: PyTorch's prod_safe_zeros_backward without dY (its exclusive
// cumprods from each side, multiplied: MulBackward0), safe with zeros.
// dE_i/dx_k = Π_{j∉{i,k}} x_j (k ≠ i): dx_k = Σ_{i≠k} u_i·Π_{j∉{i,k}} x_j. That backward is a
// kernel (Order::Once): prod differentiates twice, as the gate checks, not three times.
template <class T>
void exclusive_products(const T* px, T* po, int64_t off, int64_t st, int64_t n, int64_t skip) {
  T left = 1;
  for (int64_t j = 0; j < n; ++j) {
    po[j] = left;
    if (j != skip) left *= px[off + j * st];
  }
  T right = 1;
  for (int64_t j = n; j-- > 0;) {
    po[j] *= right;
    if (j != skip) right *= px[off + j * st];
  }
}

Tensor exclusive_prod(const Tensor& a, int64_t d) {
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  const Lines v = lines_around(a.shape(), d);
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    std::vector<T> line(static_cast<size_t>(v.n));
    for_each_line(v, [&](int64_t off, int64_t st) {
      exclusive_products(a.data<T>(), line.data(), off, st, v.n, -1);
      for (int64_t j = 0; j < v.n; ++j) y.data<T>()[off + j * st] = line[static_cast<size_t>(j)];
    });
  });
  record(y, "MulBackward0", {a}, [a, v](const Tensor& u, NeedsGrad) {
    Tensor out = Tensor::empty(a.shape(), a.dtype());
    dispatch(a.dtype(), [&](auto s) {
      using T = decltype(s);
      const T *px = a.data<T>(), *pu = u.data<T>();
      std::vector<T> line(static_cast<size_t>(v.n));
      for_each_line(v, [&](int64_t off, int64_t st) {
        for (int64_t k = 0; k < v.n; ++k) {
          exclusive_products(px, line.data(), off, st, v.n, k);  // Π_{j∉{i,k}} x_j at each i
          T acc = 0;
          for (int64_t i = 0; i < v.n; ++i) {
            if (i != k) acc += pu[off + i * st] * line[static_cast<size_t>(i)];
          }
          out.data<T>()[off + k * st] = acc;
        }
      });
    });
    return grads(out);
  }, Saves::Tensors, Order::Once);
  return y;
}

int64_t count_zeros(const Tensor& a) {
  int64_t z = 0;
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    z = (kernels::carray<T>(a) == T(0)).count();
  });
  return z;
}

// dY·(r/x) (no zeros: PyTorch's formula then) or dY·E(x) along d, dY and r of x's rank.
Tensor prod_grad(const Tensor& g, const Tensor& a, const Tensor& r, int64_t d, bool zeros) {
  if (detail::needs_graph({&g, &a})) return zeros ? mul(g, exclusive_prod(a, d)) : mul(g, div(r, a));
  NoGradGuard no_grad;
  return zeros ? mul(g, exclusive_prod(a, d)) : mul(g, div(r, a));
}
}  // namespace

// Π x over all elements (ProdBackward0). d/dx_i = Π_{j≠i} x_j, as PyTorch 1.13's prod_backward:
// dY·(y/x) without zeros; with one zero, only the zero's position gets the product of the others
// (prod_safe_zeros_backward over the flattened x, then viewed back: ViewBackward0); with two or
// more zeros, zeros that carry no graph even under create_graph. A 0-d x: dY itself.
Tensor prod(const Tensor& a) {
  Tensor y = Tensor::empty({}, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    T p = 1;
    for (int64_t i = 0; i < a.numel(); ++i) p *= a.data<T>()[i];
    y.data<T>()[0] = p;
  });
  record(y, "ProdBackward0", {a}, [a, y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (a.dim() == 0) return grads(g);
    const int64_t zeros = count_zeros(a);
    if (zeros > 1) return grads(Tensor::zeros(a.shape(), a.dtype()));
    if (zeros == 0) return grads(prod_grad(g, a, y.tensor(g), 0, false));
    const Tensor flat = reshape(a, {a.numel()});
    return grads(detail::view_as_named(prod_grad(g, flat, Tensor(), 0, true), a.shape(), "ViewBackward0"));
  });
  return y;
}

// Π x along dim (ProdBackward1): dY and y unsqueezed back (rank > 1, no keepdim), then dY·(y/x)
// if no slice holds a zero, else dY·E(x) along dim in every slice (PyTorch 1.13's
// prod_backward(grad, input, result, dim, keepdim)). A 0-d x: dY itself.
Tensor prod(const Tensor& a, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, a.dim());
  Shape out_shape = a.shape();
  if (a.dim() > 0) {
    if (keepdim) out_shape[static_cast<size_t>(d)] = 1;
    else out_shape.erase(out_shape.begin() + d);
  }
  Tensor y = Tensor::empty(out_shape, a.dtype());
  const Lines v = lines_around(a.shape(), d);
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = a.data<T>();
    T* py = y.data<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        T p = 1;
        for (int64_t j = 0; j < v.n; ++j) p *= px[(o * v.n + j) * v.inner + i];
        py[o * v.inner + i] = p;
      }
    }
  });
  record(y, "ProdBackward1", {a}, [a, y = detail::SavedOutput(y), d, keepdim](const Tensor& g, NeedsGrad) {
    if (a.dim() == 0) return grads(g);
    Tensor gk = g, r = y.tensor(g);
    if (!keepdim && a.dim() != 1) {
      gk = unsqueeze(gk, d);
      r = unsqueeze(r, d);
    }
    return grads(prod_grad(gk, a, r, d, count_zeros(a) > 0));
  });
  return y;
}

}  // namespace gradoracle
