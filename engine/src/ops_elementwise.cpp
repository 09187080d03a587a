// Elementwise ops. Each backward returns gradients in the output's shape; the engine sums
// them back to each input's shape (autograd.cpp), so no op here handles broadcasting twice.
#include <cmath>
#include <limits>
#include <type_traits>

#include "op_helpers.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

using detail::grads;
using detail::map;
using detail::zip;

namespace {
// x's values in double. sqrt and log of float tensors are taken there and rounded back:
// Eigen's float packets (its default EIGEN_FAST_MATH) give √inf = NaN, √-0 = +0 and flush
// subnormal inputs of sqrt and log (√1e-40 = 0, log 1e-40 = log FLT_MIN), on every element
// a packet covers; PyTorch 1.13 does neither at any tensor size. A double sqrt rounded to
// float is float's correctly rounded sqrt; a double log rounded is within an ulp of it.
template <class X>
auto in_double(const X& x) {
  return x.template cast<double>();
}
}  // namespace

// ---------------------------------------------------------------- unary
// Each backward below is the fused kernel unless a graph is being created: under create_graph
// a formula whose upstream g or saved tensors require grad (a saved output always does then:
// it is re-attached to its node) is built from recorded engine ops, PyTorch's formula op for
// op, so its grad_fn is PyTorch's and it differentiates again. "d/dg" and "d/dsaved" state
// the derivatives of the formula b(g, saved) that the recorded ops carry.

// d/dx (-x) = -1.  b = -g: d/dg = -1.
Tensor neg(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return -x; });
  record(y, "NegBackward0", {a}, [](const Tensor& g, NeedsGrad) { return grads(neg(g)); }, Saves::Nothing);
  return y;
}

// d/dx exp x = exp x.  b = g·y (y = exp x, saved): d/dg = y, d/dy = g.
Tensor exp(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.exp(); });
  record(y, "ExpBackward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(zip(g, y, [](auto g, auto y) { return g * y; }));
    return grads(mul(g, y.tensor(g)));
  });
  return y;
}

// d/dx log x = 1/x.  b = g/x: d/dg = 1/x, d/dx = -g/x².
Tensor log(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return in_double(x).log().template cast<typename decltype(x)::Scalar>(); });
  record(y, "LogBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(zip(g, a, [](auto g, auto x) { return g / x; }));
    return grads(div(g, a));
  });
  return y;
}

// d/dx log(1 + x) = 1/(1 + x). Its value is +inf above 1e38 (float) or 1e307 (double), as
// PyTorch 1.13's (Sleef's log1p bound), at every tensor size.
// b = g/(x + 1): d/dg = 1/(x + 1), d/dx = -g/(x + 1)².
Tensor log1p(const Tensor& a) {
  Tensor y = map(a, [](auto x) {
    using T = typename decltype(x)::Scalar;
    return (x > T(std::is_same_v<T, float> ? 1e38 : 1e307)).select(std::numeric_limits<T>::infinity(), x.log1p());
  });
  record(y, "Log1PBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(zip(g, a, [](auto g, auto x) { return g / (1 + x); }));
    return grads(div(g, add(a, 1.0)));
  });
  return y;
}

// d/dx √x = 1/(2√x).  b = g/(2y) (y = √x, saved): d/dg = 1/(2y), d/dy = -g/(2y²).
Tensor sqrt(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return in_double(x).sqrt().template cast<typename decltype(x)::Scalar>(); });
  record(y, "SqrtBackward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(zip(g, y, [](auto g, auto y) { return g / (2 * y); }));
    return grads(div(g, mul(2.0, y.tensor(g))));
  });
  return y;
}

// d/dx sin x = cos x.  b = g·cos x: d/dg = cos x, d/dx = -g·sin x.
Tensor sin(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.sin(); });
  record(y, "SinBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(zip(g, a, [](auto g, auto x) { return g * x.cos(); }));
    return grads(mul(g, cos(a)));
  });
  return y;
}

// d/dx cos x = -sin x.  b = g·(-sin x): d/dg = -sin x, d/dx = -g·cos x.
Tensor cos(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.cos(); });
  record(y, "CosBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(zip(g, a, [](auto g, auto x) { return g * -x.sin(); }));
    return grads(mul(g, neg(sin(a))));
  });
  return y;
}

// The fused value g·(1 - y²); y is a tensor or a SavedOutput of g's shape and dtype.
template <class Y>
static Tensor tanh_backward_values(const Tensor& g, const Y& y) {
  return zip(g, y, [](auto g, auto y) { return g * (1 - y * y); });
}

// tanh's backward as an op of its own (PyTorch's tanh_backward), so that it can be
// differentiated again: b(g, y) = g·(1 - y²);  ∂b/∂g = 1 - y² (tanh_backward again),
// ∂b/∂y = -2·g·y.
static Tensor tanh_backward(const Tensor& g, const Tensor& y) {
  Tensor b = tanh_backward_values(g, y);
  record(b, "TanhBackwardBackward0", {g, y}, [g, y](const Tensor& gg, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? tanh_backward(gg, y) : Tensor(), needs[1] ? gg * (-2.0 * y * g) : Tensor()};
  });
  return b;
}

// d/dx tanh x = 1 - tanh² x
Tensor tanh(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.tanh(); });
  record(y, "TanhBackward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(tanh_backward_values(g, y));
    return grads(tanh_backward(g, y.tensor(g)));
  });
  return y;
}

// The fused value g·y·(1 - y); y is a tensor or a SavedOutput of g's shape and dtype.
template <class Y>
static Tensor sigmoid_backward_values(const Tensor& g, const Y& y) {
  return zip(g, y, [](auto g, auto y) { return g * y * (1 - y); });
}

// sigmoid's backward as an op of its own (PyTorch's sigmoid_backward): b(g, y) = g·y·(1 - y);
// ∂b/∂g = y·(1 - y) (sigmoid_backward again), ∂b/∂y = g·(1 - 2y).
Tensor detail::sigmoid_backward(const Tensor& g, const Tensor& y) {
  Tensor b = sigmoid_backward_values(g, y);
  record(b, "SigmoidBackwardBackward0", {g, y}, [g, y](const Tensor& gg, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? sigmoid_backward(gg, y) : Tensor(),
                               needs[1] ? mul(mul(gg, g), add(mul(-2.0, y), 1.0)) : Tensor()};
  });
  return b;
}

// σ(x) = 1/(1 + e⁻ˣ); d/dx σ = σ(1 - σ)
Tensor sigmoid(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return 1 / (1 + (-x).exp()); });
  record(y, "SigmoidBackward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(sigmoid_backward_values(g, y));
    return grads(detail::sigmoid_backward(g, y.tensor(g)));
  });
  return y;
}

// The fused value (0 where y <= 0, else g); y is a tensor or a SavedOutput of g's shape and dtype.
template <class Y>
static Tensor threshold_backward_values(const Tensor& g, const Y& y) {
  return zip(g, y, [](auto g, auto y) {
    using T = typename decltype(y)::Scalar;
    return (y <= T(0)).select(T(0), g);
  });
}

// relu's backward as an op of its own (PyTorch's threshold_backward(g, y, 0)): b(g, y) = 0
// where y <= 0 (so relu'(0) = 0), g elsewhere (NaN y included); ∂b/∂g = the same mask
// (threshold_backward again), ∂b/∂y = 0 (PyTorch's zeros_like: a constant).
static Tensor threshold_backward(const Tensor& g, const Tensor& y) {
  Tensor b = threshold_backward_values(g, y);
  record(b, "ThresholdBackwardBackward0", {g, y}, [y](const Tensor& gg, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? threshold_backward(gg, y) : Tensor(),
                               needs[1] ? Tensor::zeros(gg.shape(), gg.dtype()) : Tensor()};
  });
  return b;
}

// NOTE: relu'(x) = 0 where relu(x) <= 0 (so relu'(0) = 0) and 1 elsewhere, NaN included, as PyTorch.
Tensor relu(const Tensor& a) {
  Tensor y = map(a, [](auto x) {
    using T = typename decltype(x)::Scalar;
    return (x <= T(0)).select(T(0), x);
  });
  record(y, "ReluBackward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(threshold_backward_values(g, y));
    return grads(threshold_backward(g, y.tensor(g)));
  });
  return y;
}

// sgn x = (x > 0) - (x < 0): sgn(0) = sgn(NaN) = 0, as PyTorch's sgn. d/dx sgn x = 0: PyTorch's
// SgnBackward0 gives zeros for a real input (whatever the upstream, inf and NaN included), a
// constant even under create_graph.
static Tensor sgn(const Tensor& a) {
  Tensor y = map(a, [](auto x) {
    using T = typename decltype(x)::Scalar;
    return (x > T(0)).template cast<T>() - (x < T(0)).template cast<T>();
  });
  record(y, "SgnBackward0", {a}, [](const Tensor& g, NeedsGrad) { return grads(Tensor::zeros(g.shape(), g.dtype())); });
  return y;
}

// NOTE: d/dx |x| = sgn x with sgn(0) = 0 and sgn(NaN) = 0, as PyTorch's sgn.
// b = g·sgn x: d/dg = sgn x, d/dx = 0 (sgn's derivative).
Tensor abs(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.abs(); });
  record(y, "AbsBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) {
      return grads(zip(g, a, [](auto g, auto x) {
        using T = typename decltype(x)::Scalar;
        return g * ((x > T(0)).template cast<T>() - (x < T(0)).template cast<T>());
      }));
    }
    return grads(mul(g, sgn(a)));
  });
  return y;
}

// 1/x, used by `number / tensor` as PyTorch's __rdiv__ does. d/dx (1/x) = -1/x².
// b = -g·y² (y = 1/x, saved): d/dg = -y², d/dy = -2·g·y.
static Tensor reciprocal(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.inverse(); });
  record(y, "ReciprocalBackward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(zip(g, y, [](auto g, auto y) { return -g * y * y; }));
    const Tensor r = y.tensor(g);
    return grads(mul(neg(g), mul(r, r)));
  });
  return y;
}

// ---------------------------------------------------------------- binary, broadcasting
namespace {
struct Add { template <class T> T operator()(T x, T y) const { return x + y; } };
struct Sub { template <class T> T operator()(T x, T y) const { return x - y; } };
struct Mul { template <class T> T operator()(T x, T y) const { return x * y; } };
struct Div { template <class T> T operator()(T x, T y) const { return x / y; } };
struct Pow { template <class T> T operator()(T x, T y) const { return std::pow(x, y); } };

// d/da (a + b) = 1, d/db = 1
Tensor add_impl(Tensor a, Tensor b) {
  detail::promote_pair(a, b);
  Tensor y = detail::broadcast_zip(a, b, Add{});
  record(y, "AddBackward0", {a, b}, [](const Tensor& g, NeedsGrad) { return std::vector<Tensor>{g, g}; },
         Saves::Nothing);
  return y;
}

// d/da (a - b) = 1, d/db = -1
Tensor sub_impl(Tensor a, Tensor b) {
  detail::promote_pair(a, b);
  Tensor y = detail::broadcast_zip(a, b, Sub{});
  record(y, "SubBackward0", {a, b}, [](const Tensor& g, NeedsGrad needs) {
    return std::vector<Tensor>{g, needs[1] ? neg(g) : Tensor()};
  }, Saves::Nothing);
  return y;
}

// d/da (a·b) = b, d/db = a
Tensor mul_impl(Tensor a, Tensor b) {
  detail::promote_pair(a, b);
  Tensor y = detail::broadcast_zip(a, b, Mul{});
  if (!grad_mode_enabled() || !(a.requires_grad() || b.requires_grad())) return y;  // no node: a, b not copied
  record(y, "MulBackward0", {a, b}, [a, b](const Tensor& g, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? mul(g, b) : Tensor(), needs[1] ? mul(g, a) : Tensor()};
  });
  return y;
}

// d/da (a/b) = 1/b, d/db = -a/b², as PyTorch writes them: g/b and -g·((a/b)/b).
// d/da (g/b): d/dg = 1/b, d/db = -g/b².  -g·((a/b)/b): d/dg = -a/b², d/da = -g/b², d/db = 2·g·a/b³.
Tensor div_impl(Tensor a, Tensor b) {
  detail::promote_pair(a, b);
  Tensor y = detail::broadcast_zip(a, b, Div{});
  if (!grad_mode_enabled() || !(a.requires_grad() || b.requires_grad())) return y;  // no node: a, b not copied
  record(y, "DivBackward0", {a, b}, [a, b](const Tensor& g, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? div(g, b) : Tensor(), needs[1] ? mul(neg(g), div(div(a, b), b)) : Tensor()};
  });
  return y;
}
}  // namespace

namespace {
// tensor ∘ number when no node would be recorded (grad mode off or t not requiring grad) and t
// has the contiguous layout: out[i] = f(t[i], T(x)) (f(T(x), t[i]) when number_first), the
// values broadcast_zip(t, wrap(x, t)) computes, without building the wrapped 0-d tensor (a
// wrapped number takes t's dtype: no promotion, so out has t's shape and dtype). With a
// non-contiguous t the layout model needs the wrapped operand: false, and the caller takes the
// general path.
template <class F>
bool number_op_fast(const Tensor& t, double x, bool number_first, F f, Tensor& out) {
  if (any_requires_grad(std::span<const Tensor>(&t, 1)) || !impl_of(t).torch_strides.empty()) return false;
  out = Tensor::empty(t.shape(), t.dtype());
  dispatch(t.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pt = t.data<T>();
    T* po = out.data<T>();
    const T v = static_cast<T>(x);
    const int64_t n = out.numel();
    if (number_first) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(v, pt[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pt[i], v);
    }
  });
  return true;
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return add_impl(a, b); }
Tensor add(const Tensor& a, double b) {
  if (Tensor y; number_op_fast(a, b, false, Add{}, y)) return y;
  return add_impl(a, detail::wrap(b, a));
}
Tensor add(double a, const Tensor& b) {
  if (Tensor y; number_op_fast(b, a, false, Add{}, y)) return y;
  return add_impl(b, detail::wrap(a, b));
}
Tensor sub(const Tensor& a, const Tensor& b) { return sub_impl(a, b); }
Tensor sub(const Tensor& a, double b) {
  if (Tensor y; number_op_fast(a, b, false, Sub{}, y)) return y;
  return sub_impl(a, detail::wrap(b, a));
}
// number - y is torch.rsub(y, number): d/dy = -1
Tensor sub(double a, const Tensor& b) {
  if (Tensor y; number_op_fast(b, a, true, Sub{}, y)) return y;
  Tensor y = detail::broadcast_zip(detail::wrap(a, b), b, Sub{});
  record(y, "RsubBackward1", {b}, [](const Tensor& g, NeedsGrad) { return grads(neg(g)); }, Saves::Nothing);
  return y;
}
Tensor mul(const Tensor& a, const Tensor& b) { return mul_impl(a, b); }
Tensor mul(const Tensor& a, double b) {
  if (Tensor y; number_op_fast(a, b, false, Mul{}, y)) return y;
  return mul_impl(a, detail::wrap(b, a));
}
Tensor mul(double a, const Tensor& b) {
  if (Tensor y; number_op_fast(b, a, false, Mul{}, y)) return y;
  return mul_impl(b, detail::wrap(a, b));
}
Tensor div(const Tensor& a, const Tensor& b) { return div_impl(a, b); }
Tensor div(const Tensor& a, double b) {
  if (Tensor y; number_op_fast(a, b, false, Div{}, y)) return y;
  return div_impl(a, detail::wrap(b, a));
}
Tensor div(double a, const Tensor& b) { return mul(reciprocal(b), a); }

// where(mask, 0, x) (PyTorch's at::where(cond, zeros({}), x)): 0 where `mask` (a constant of
// 1s and 0s in x's dtype, broadcasting with x) is 1, x elsewhere, NaN and inf included.
// d/dx = where(mask, 0, g) (WhereBackward0 again); the mask has no derivative.
static Tensor where_zero(const Tensor& mask, const Tensor& x) {
  Tensor y = detail::broadcast_zip(mask, x, [](auto m, auto v) { return m != decltype(v)(0) ? decltype(v)(0) : v; });
  record(y, "WhereBackward0", {x}, [mask](const Tensor& g, NeedsGrad) { return grads(where_zero(mask, g)); });
  return y;
}

// The mask (1 where pred(a, b), else 0) of a and b broadcast, in their dtype, as a constant.
template <class Pred>
static Tensor mask_of(const Tensor& a, const Tensor& b, Pred pred) {
  return detail::broadcast_zip(a, b, [pred](auto x, auto e) {
    using T = decltype(x);
    return pred(x, e) ? T(1) : T(0);
  });
}

// NOTE: PyTorch's masks: d/da aᵇ = b·aᵇ⁻¹ but 0 where b = 0 — applied after the upstream, so
// an inf/NaN upstream still gives 0 there (at::where(exponent == 0, 0, grad * ...)); d/db aᵇ =
// aᵇ·log a but 0 where a = 0 and b >= 0 — applied before the upstream (grad * where(...)).
// Under create_graph the same formulas from recorded ops (y = aᵇ, saved):
//   ga = where(b = 0, 0, g·(b·a^(b-1))):  d/dg = b·a^(b-1), d/da = g·b·(b-1)·a^(b-2),
//        d/db = g·(a^(b-1) + b·a^(b-1)·log a), each 0 where b = 0;
//   gb = g·where(a = 0 ∧ b >= 0, 0, y·log a):  d/dg = y·log a, d/dy = g·log a, d/da = g·y/a,
//        each 0 where a = 0 ∧ b >= 0 (d/dg and what flows through the where).
Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor a = base, b = exponent;
  detail::promote_pair(a, b);
  Tensor y = detail::broadcast_zip(a, b, Pow{});
  record(y, "PowBackward1", {a, b}, [a, b, y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad needs) {
    const auto exponent_zero = [](auto, auto e) { return e == decltype(e)(0); };
    const auto base_zero = [](auto x, auto e) { return x == decltype(x)(0) && e >= decltype(e)(0); };
    Tensor ga, gb;
    if (detail::creating_graph()) {
      if (needs[0]) ga = where_zero(mask_of(b, b, exponent_zero), mul(g, mul(b, pow(a, sub(b, 1.0)))));
      if (needs[1]) gb = mul(g, where_zero(mask_of(a, b, base_zero), mul(y.tensor(g), log(a))));
      return std::vector<Tensor>{ga, gb};
    }
    if (needs[0]) {
      ga = mul(g, detail::broadcast_zip(a, b, [](auto x, auto e) {
        using T = decltype(x);
        return e == T(0) ? T(0) : e * std::pow(x, e - 1);
      }));
      ga = detail::broadcast_zip(ga, b, [](auto v, auto e) {
        using T = decltype(v);
        return e == T(0) ? T(0) : v;
      });
    }
    if (needs[1]) {
      gb = mul(g, detail::broadcast_zip(a, b, [](auto x, auto e) {
        using T = decltype(x);
        return (x == T(0) && e >= T(0)) ? T(0) : std::pow(x, e) * std::log(x);
      }));
    }
    return std::vector<Tensor>{ga, gb};
  });
  return y;
}

// d/da aᵉ = e·aᵉ⁻¹ (0 everywhere when e = 0: PyTorch's zeros_like, a constant).
// b = g·(e·aᵉ⁻¹): d/dg = e·aᵉ⁻¹, d/da = g·e·(e-1)·aᵉ⁻².
Tensor pow(const Tensor& a, double e) {
  Tensor y = map(a, [e](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.pow(static_cast<T>(e));
  });
  record(y, "PowBackward0", {a}, [a, e](const Tensor& g, NeedsGrad) {
    if (e == 0.0) return grads(Tensor::zeros(a.shape(), a.dtype()));
    if (detail::needs_graph({&g, &a})) return grads(mul(g, mul(e, pow(a, e - 1))));
    return grads(zip(g, a, [e](auto g, auto x) {
      using T = typename decltype(x)::Scalar;
      return g * static_cast<T>(e) * x.pow(static_cast<T>(e - 1));
    }));
  });
  return y;
}

Tensor pow(double a, const Tensor& b) { return pow(detail::wrap(a, b), b); }

// ---------------------------------------------------------------- operators
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator-(double a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator/(double a, const Tensor& b) { return div(a, b); }

}  // namespace gradoracle
