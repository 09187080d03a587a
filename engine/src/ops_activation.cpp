// Activations and the smooth unary functions models use: expm1, atan, erf, silu, gelu, softplus,
// leaky_relu, elu. As in ops_elementwise.cpp, each backward is a fused kernel unless a graph is
// being created; then it is built from recorded engine ops (PyTorch's formula) or is a backward
// op of its own with PyTorch's name (GeluBackwardBackward0, ...), so that it differentiates
// again. Constants are cast to the tensor's dtype before use, as PyTorch's kernels do.
#include <cmath>

#include "op_helpers.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

using detail::grads;
using detail::map;
using detail::zip;

namespace {
// A constant (no grad) tensor of a's shape and dtype: 1 where pred(x), else 0.
template <class Pred>
Tensor mask_where(const Tensor& a, Pred pred) {
  return map(a, [pred](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.unaryExpr([pred](T v) { return pred(v) ? T(1) : T(0); });
  });
}
}  // namespace

// ---------------------------------------------------------------- no attrs

// d/dx (eˣ - 1) = eˣ = y + 1.  b = g·(y + 1) (y saved): d/dg = y + 1, d/dy = g.
Tensor expm1(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.expm1(); });
  record(y, "Expm1Backward0", {a}, [y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    if (!detail::creating_graph()) return grads(zip(g, y, [](auto g, auto y) { return g * (y + 1); }));
    return grads(mul(g, add(y.tensor(g), 1.0)));
  });
  return y;
}

// d/dx atan x = 1/(x² + 1).  b = g/(x·x + 1): d/dg = 1/(x² + 1), d/dx = -2·g·x/(x² + 1)².
Tensor atan(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x.atan(); });
  record(y, "AtanBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(zip(g, a, [](auto g, auto x) { return g / (x * x + 1); }));
    return grads(div(g, add(mul(a, a), 1.0)));
  });
  return y;
}

// d/dx erf x = (2/√π)·e^(-x²).  b = ((2/√π)·e^(-x²))·g: d/dg = (2/√π)·e^(-x²), d/dx = -2x·b/g.
Tensor erf(const Tensor& a) {
  Tensor y = map(a, [](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.unaryExpr([](T v) { return std::erf(v); });
  });
  record(y, "ErfBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    constexpr double k2OverSqrtPi = M_2_SQRTPI;
    if (!detail::needs_graph({&g, &a})) {
      return grads(zip(g, a, [](auto g, auto x) {
        using T = typename decltype(x)::Scalar;
        return T(k2OverSqrtPi) * (-(x * x)).exp() * g;
      }));
    }
    return grads(mul(mul(exp(neg(pow(a, 2.0))), k2OverSqrtPi), g));
  });
  return y;
}

// silu x = x·σ(x) = x/(1 + e⁻ˣ); d/dx = σ(x)·(1 + x·(1 - σ(x))).
// b = (g·σ)·(1 + x·(1 - σ)), σ = sigmoid(x) recorded: differentiable in g and x.
Tensor silu(const Tensor& a) {
  Tensor y = map(a, [](auto x) { return x / (1 + (-x).exp()); });
  record(y, "SiluBackward0", {a}, [a](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) {
      return grads(zip(g, a, [](auto g, auto x) {
        using T = typename decltype(x)::Scalar;
        return g.binaryExpr(x, [](T dy, T v) {
          const T s = T(1) / (T(1) + std::exp(-v));
          return dy * s * (T(1) + v * (T(1) - s));
        });
      }));
    }
    const Tensor s = sigmoid(a);
    return grads(mul(mul(g, s), add(1.0, mul(a, sub(1.0, s)))));
  });
  return y;
}

// ---------------------------------------------------------------- leaky_relu, elu: kinks at 0

namespace {
// PyTorch's leaky_relu_backward: g where x > 0, g·slope elsewhere (x = 0 and NaN included).
Tensor leaky_relu_backward_values(const Tensor& g, const Tensor& x, double slope) {
  return zip(g, x, [slope](auto g, auto x) {
    using T = typename decltype(x)::Scalar;
    return (x > T(0)).select(g, g * T(slope));
  });
}

// leaky_relu's backward as an op (LeakyReluBackwardBackward0): b(g, x) = the mask above times g;
// ∂b/∂g = the same (leaky_relu_backward again), ∂b/∂x = 0 (PyTorch's zeros_like: a constant).
Tensor leaky_relu_backward(const Tensor& g, const Tensor& x, double slope) {
  Tensor b = leaky_relu_backward_values(g, x, slope);
  record(b, "LeakyReluBackwardBackward0", {g, x}, [x, slope](const Tensor& gg, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? leaky_relu_backward(gg, x, slope) : Tensor(),
                               needs[1] ? Tensor::zeros(gg.shape(), gg.dtype()) : Tensor()};
  });
  return b;
}
}  // namespace

// NOTE: leaky_relu'(x) = 1 where x > 0, negative_slope elsewhere: leaky_relu'(0) = slope, as PyTorch.
Tensor leaky_relu(const Tensor& a, double negative_slope) {
  Tensor y = map(a, [negative_slope](auto x) {
    using T = typename decltype(x)::Scalar;
    return (x > T(0)).select(x, x * T(negative_slope));
  });
  record(y, "LeakyReluBackward0", {a}, [a, negative_slope](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(leaky_relu_backward_values(g, a, negative_slope));
    return grads(leaky_relu_backward(g, a, negative_slope));
  });
  return y;
}

namespace {
// PyTorch's elu_backward (scale = input_scale = 1, is_result false: from the input x): g where
// x > 0, g·α·eˣ elsewhere, so NaN where x is NaN.
// NOTE: PyTorch 1.13's vectorized loop gives NaN at a NaN x, as here; its scalar loop (tensors
// under 2 SIMD vectors, 8 doubles or 16 floats with AVX2, and the tail past the last such block)
// gives g: corpus/disagreements/elu-nan-scalar-tail.json.
Tensor elu_backward_values(const Tensor& g, const Tensor& x, double alpha) {
  return zip(g, x, [alpha](auto g, auto x) {
    using T = typename decltype(x)::Scalar;
    return (x > T(0)).select(g, g * T(alpha) * x.exp());
  });
}

// elu's backward as an op (EluBackwardBackward0): b(g, x) = g·elu'(x); ∂b/∂g = elu'(x)
// (elu_backward again); ∂b/∂x = g·α·eˣ where x < 0 (strictly: PyTorch's elu_double_backward,
// elu_backward(gg·g, x) masked by x < 0), 0 elsewhere.
Tensor elu_backward(const Tensor& g, const Tensor& x, double alpha) {
  Tensor b = elu_backward_values(g, x, alpha);
  record(b, "EluBackwardBackward0", {g, x}, [g, x, alpha](const Tensor& gg, NeedsGrad needs) {
    Tensor dx;
    if (needs[1]) {
      const Tensor below_zero = mask_where(x, [](auto v) { return v < decltype(v)(0); });
      dx = mul(elu_backward(mul(gg, g), x, alpha), below_zero);
    }
    return std::vector<Tensor>{needs[0] ? elu_backward(gg, x, alpha) : Tensor(), dx};
  });
  return b;
}
}  // namespace

// elu x = x where x > 0, α·(eˣ - 1) elsewhere (PyTorch computes eˣ - 1, not expm1).
// NOTE: elu'(0) = α, as PyTorch (its backward's mask is x > 0); elu'(NaN) = NaN.
Tensor elu(const Tensor& a, double alpha) {
  Tensor y = map(a, [alpha](auto x) {
    using T = typename decltype(x)::Scalar;
    return (x <= T(0)).select((x.exp() - T(1)) * T(alpha), x);
  });
  record(y, "EluBackward0", {a}, [a, alpha](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(elu_backward_values(g, a, alpha));
    return grads(elu_backward(g, a, alpha));
  });
  return y;
}

// ---------------------------------------------------------------- softplus

namespace {
// PyTorch's softplus_backward: z = e^(βx); g where βx > threshold, g·z/(z + 1) elsewhere.
Tensor softplus_backward_values(const Tensor& g, const Tensor& x, double beta, double threshold) {
  return zip(g, x, [beta, threshold](auto g, auto x) {
    using T = typename decltype(x)::Scalar;
    return g.binaryExpr(x, [b = T(beta), th = T(threshold)](T dy, T v) {
      const T z = std::exp(v * b);
      return (v * b) > th ? dy : dy * z / (z + T(1));
    });
  });
}

// softplus's backward as an op (SoftplusBackwardBackward0): b(g, x) = g·σ(βx) off the linear
// branch; ∂b/∂g = softplus_backward again; ∂b/∂x = β·g·σ'(βx) where βx < threshold, 0 elsewhere:
// PyTorch's softplus_double_backward, sigmoid_backward(gg·g, σ(βx))·[βx < threshold]·β.
Tensor softplus_backward(const Tensor& g, const Tensor& x, double beta, double threshold) {
  Tensor b = softplus_backward_values(g, x, beta, threshold);
  record(b, "SoftplusBackwardBackward0", {g, x}, [g, x, beta, threshold](const Tensor& gg, NeedsGrad needs) {
    Tensor dx;
    if (needs[1]) {
      const Tensor bx = mul(x, beta);
      const Tensor below = mask_where(bx, [th = threshold](auto v) { return v < static_cast<decltype(v)>(th); });
      dx = mul(mul(detail::sigmoid_backward(mul(gg, g), sigmoid(bx)), below), beta);
    }
    return std::vector<Tensor>{needs[0] ? softplus_backward(gg, x, beta, threshold) : Tensor(), dx};
  });
  return b;
}
}  // namespace

// softplus x = log(1 + e^(βx))/β, and x itself where βx > threshold (PyTorch's linear branch).
// d/dx = σ(βx) = z/(z + 1), z = e^(βx); 1 on the linear branch.
Tensor softplus(const Tensor& a, double beta, double threshold) {
  Tensor y = map(a, [beta, threshold](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.unaryExpr([b = T(beta), th = T(threshold)](T v) { return (v * b) > th ? v : std::log1p(std::exp(v * b)) / b; });
  });
  record(y, "SoftplusBackward0", {a}, [a, beta, threshold](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(softplus_backward_values(g, a, beta, threshold));
    return grads(softplus_backward(g, a, beta, threshold));
  });
  return y;
}

// ---------------------------------------------------------------- gelu

namespace {
constexpr double kGeluErfBeta = M_2_SQRTPI * M_SQRT1_2 * 0.5;  // 1/√(2π): the normal pdf's factor
constexpr double kGeluTanhBeta = M_SQRT2 * M_2_SQRTPI * 0.5;   // √(2/π)
constexpr double kGeluKappa = 0.044715;

// PyTorch's gelu_backward kernels: g·(Φ(x) + x·φ(x)) exactly; with tanh, the derivative of
// ½x(1 + tanh u), u = √(2/π)(x + κx³): ½(1 + tanh u) + ½x(1 - tanh² u)·√(2/π)(1 + 3κx²).
Tensor gelu_backward_values(const Tensor& g, const Tensor& x, GeluApproximate approximate) {
  if (approximate == GeluApproximate::Tanh) {
    return zip(g, x, [](auto g, auto x) {
      using T = typename decltype(x)::Scalar;
      return g.binaryExpr(x, [](T dy, T v) {
        const T beta = T(kGeluTanhBeta), kappa = T(kGeluKappa);
        const T x_sq = v * v;
        const T inner = beta * (v + kappa * x_sq * v);
        const T tanh_inner = std::tanh(inner);
        const T left_derivative = T(0.5) * (T(1) + tanh_inner);
        const T right_derivative = T(0.5) * v * (T(1) - tanh_inner * tanh_inner) * (beta * (T(1) + T(3) * kappa * x_sq));
        return dy * (left_derivative + right_derivative);
      });
    });
  }
  return zip(g, x, [](auto g, auto x) {
    using T = typename decltype(x)::Scalar;
    return g.binaryExpr(x, [](T dy, T v) {
      const T cdf = T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2)));
      const T pdf = T(kGeluErfBeta) * std::exp(v * v * T(-0.5));
      return dy * (cdf + v * pdf);
    });
  });
}

// gelu''(x) from recorded ops, PyTorch's gelu_double_backward without its gg·g factor:
// exact: 2φ(x) + x·φ'(x) = 2φ(x) - x²φ(x); tanh: with f = ½x, t = tanh u, s = 1 - t²,
// h = √(2/π)(1 + 3κx²): 2·(½sh) + f·h·(-2s·t·h) + f·s·(6κ√(2/π)x).
Tensor gelu_second_derivative(const Tensor& x, GeluApproximate approximate) {
  if (approximate == GeluApproximate::Tanh) {
    const Tensor inner = mul(add(x, mul(pow(x, 3.0), kGeluKappa)), kGeluTanhBeta);
    const Tensor t = tanh(inner);
    const Tensor f = mul(x, 0.5);
    const Tensor s = sub(1.0, mul(t, t));
    const Tensor h = mul(add(mul(mul(x, x), 3.0 * kGeluKappa), 1.0), kGeluTanhBeta);
    const Tensor f_prime_gh = mul(mul(s, h), 0.5);
    const Tensor g_prime_fh = mul(mul(f, h), mul(mul(mul(s, t), h), -2.0));
    const Tensor h_prime_fg = mul(mul(f, s), mul(x, 6.0 * kGeluKappa * kGeluTanhBeta));
    return add(add(mul(f_prime_gh, 2.0), g_prime_fh), h_prime_fg);
  }
  const Tensor pdf = mul(exp(mul(mul(x, x), -0.5)), kGeluErfBeta);
  return sub(mul(pdf, 2.0), mul(mul(x, x), pdf));
}

// gelu's backward as an op (GeluBackwardBackward0): b(g, x) = g·gelu'(x); ∂b/∂g = gelu'(x)
// (gelu_backward again), ∂b/∂x = g·gelu''(x).
Tensor gelu_backward(const Tensor& g, const Tensor& x, GeluApproximate approximate) {
  Tensor b = gelu_backward_values(g, x, approximate);
  record(b, "GeluBackwardBackward0", {g, x}, [g, x, approximate](const Tensor& gg, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? gelu_backward(gg, x, approximate) : Tensor(),
                               needs[1] ? mul(mul(gg, g), gelu_second_derivative(x, approximate)) : Tensor()};
  });
  return b;
}
}  // namespace

// gelu x = x·Φ(x) = ½x(1 + erf(x/√2)); with tanh, ½x(1 + tanh(√(2/π)(x + κx³))), κ = 0.044715.
Tensor gelu(const Tensor& a, GeluApproximate approximate) {
  const bool tanh_form = approximate == GeluApproximate::Tanh;
  Tensor y = map(a, [tanh_form](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.unaryExpr([tanh_form](T v) {
      if (tanh_form) return T(0.5) * v * (T(1) + std::tanh(T(kGeluTanhBeta) * (v + T(kGeluKappa) * (v * v * v))));
      return v * T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2)));
    });
  });
  record(y, "GeluBackward0", {a}, [a, approximate](const Tensor& g, NeedsGrad) {
    if (!detail::needs_graph({&g, &a})) return grads(gelu_backward_values(g, a, approximate));
    return grads(gelu_backward(g, a, approximate));
  });
  return y;
}

}  // namespace gradoracle
