#pragma once
// The engine suites' one harness: tensor literals, one comparison, gradient and error helpers,
// so each per-op test stays a few lines. Expected values are derived from the math in the tests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/nn.hpp"
#include "gradoracle/engine/ops.hpp"

namespace gradoracle::test {

inline constexpr DType kF32 = DType::Float32;
inline constexpr DType kF64 = DType::Float64;
inline constexpr DType kDTypes[] = {DType::Float32, DType::Float64};
inline const double kNaN = std::nan("");

// The comparison tolerance of a dtype: |actual - expected| <= tol · (1 + |expected|).
inline double tol_of(DType d) { return d == DType::Float32 ? 2e-6 : 1e-12; }

// The bit patterns of a tensor's values, for tests that require bit-identical results (exact:
// every float32 value is a double; -0.0 and NaN payloads are told apart).
inline std::vector<uint64_t> value_bits(const Tensor& t) {
  std::vector<uint64_t> out;
  for (double v : t.to_vector()) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    out.push_back(b);
  }
  return out;
}

// A constant tensor literal (row-major data).
inline Tensor lit(const Shape& shape, const std::vector<double>& data, DType dtype = kF64) {
  return Tensor::from_data(shape, data, dtype);
}
// A leaf that requires grad.
inline Tensor leaf(const Shape& shape, const std::vector<double>& data, DType dtype = kF64) {
  return Tensor::from_data(shape, data, dtype, true);
}

// Shape, dtype-independent values (NaN matches NaN, infinities must be equal) within tol.
inline ::testing::AssertionResult tensor_near(const Tensor& actual, const std::vector<double>& expected,
                                              const Shape& shape, double tol) {
  if (!actual.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  if (actual.shape() != shape) {
    return ::testing::AssertionFailure() << "shape " << to_string(actual.shape()) << " != expected " << to_string(shape);
  }
  if (static_cast<size_t>(actual.numel()) != expected.size()) {
    return ::testing::AssertionFailure() << "expected list has " << expected.size() << " values for shape "
                                         << to_string(shape);
  }
  const std::vector<double> v = actual.to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const double a = v[i], e = expected[i];
    const bool ok = std::isnan(e) ? std::isnan(a)
                    : std::isinf(e) ? a == e
                                    : std::abs(a - e) <= tol * (1 + std::abs(e));
    if (!ok) {
      return ::testing::AssertionFailure() << "element " << i << ": actual " << a << " vs expected " << e
                                           << " (tol " << tol << ") in " << actual.to_string();
    }
  }
  return ::testing::AssertionSuccess();
}

#define EXPECT_TENSOR_NEAR(actual, expected, shape, tol) \
  EXPECT_TRUE(::gradoracle::test::tensor_near(actual, expected, shape, tol))

// Elementwise f over a vector: expected values from a closed form.
template <class F>
std::vector<double> apply(const std::vector<double>& xs, F f) {
  std::vector<double> out;
  out.reserve(xs.size());
  for (double x : xs) out.push_back(f(x));
  return out;
}

// The gradient that `out` = f(x) sends to the leaf x under upstream `g` (ones when undefined).
inline Tensor grad_of(const Tensor& x, const std::function<Tensor(const Tensor&)>& f, Tensor g = Tensor()) {
  Tensor y = f(x);
  if (!g.defined()) g = Tensor::ones(y.shape(), y.dtype());
  Tensor(x).set_grad(Tensor());  // a handle: clears x's .grad
  y.backward(g);
  return x.grad();
}

// Second derivatives of f against finite differences of its first, in float64. With upstream u
// and direction v (fixed values in [-1, 1] from a simple recurrence, of the shapes of f's output
// and of each input), g(x) = ∂⟨u, f(x)⟩/∂x (one gradient per input) and
//   analytic: Σᵢ ∂⟨g(x), v⟩/∂xᵢ, from a backward with create_graph then autograd::grad;
//   numeric:  (g(x + h·v) − g(x − h·v)) / 2h, h = 1e-5 (central differences of the first backward);
// they agree within 1e-6·(1 + |numeric|) per element; also the upstream u itself is differentiated
// (∂⟨g(x), v⟩/∂u = J·v, against (f(x + h·v) − f(x − h·v)) / 2h). Inputs that do not require
// grad are passed through. f must build its result from its arguments with engine ops.
inline ::testing::AssertionResult second_order_matches_fd(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs) {
  double state = 0.3;
  const auto next = [&state] {
    state = std::fmod(state * 7.77 + 0.123, 1.0);
    return 2 * state - 1;
  };
  const auto filled = [&next](const Shape& shape) {
    Tensor t = Tensor::zeros(shape, DType::Float64);
    std::vector<double> v(static_cast<size_t>(t.numel()));
    for (double& e : v) e = next();
    return Tensor::from_data(shape, v, DType::Float64);
  };
  std::vector<Tensor> xs, dirs;
  std::vector<size_t> diff;  // positions of the inputs that require grad
  for (size_t i = 0; i < inputs.size(); ++i) {
    xs.push_back(inputs[i].detach().to(DType::Float64));
    if (inputs[i].requires_grad()) {
      xs.back().requires_grad_();
      diff.push_back(i);
      dirs.push_back(filled(inputs[i].shape()));
    }
  }
  const Tensor y0 = f(xs);
  const Tensor u = filled(y0.shape()).requires_grad_();
  // g(x) at given inputs, with or without a graph.
  const auto first = [&](const std::vector<Tensor>& at, const Tensor& up, bool create_graph) {
    std::vector<Tensor> wrt;
    for (size_t i : diff) wrt.push_back(at[i]);
    autograd::GradOptions o;
    o.create_graph = create_graph;
    o.allow_unused = true;
    std::vector<Tensor> g = autograd::grad({f(at)}, wrt, {up}, o);
    for (size_t k = 0; k < g.size(); ++k) {
      if (!g[k].defined()) g[k] = Tensor::zeros(wrt[k].shape(), DType::Float64);
    }
    return g;
  };
  const std::vector<Tensor> g = first(xs, u, true);
  Tensor dot = Tensor::zeros({}, DType::Float64);
  for (size_t k = 0; k < g.size(); ++k) dot = dot + sum(g[k] * dirs[k]);
  std::vector<Tensor> wrt;
  for (size_t i : diff) wrt.push_back(xs[i]);
  wrt.push_back(u);
  if (!dot.requires_grad()) return ::testing::AssertionFailure() << "⟨g, v⟩ carries no graph";
  autograd::GradOptions o;
  o.allow_unused = true;
  const std::vector<Tensor> analytic = autograd::grad({dot}, wrt, {}, o);
  const double h = 1e-5;
  std::vector<Tensor> plus, minus;
  for (const Tensor& x : xs) {
    plus.push_back(x.detach().clone());
    minus.push_back(x.detach().clone());
  }
  for (size_t k = 0; k < diff.size(); ++k) {
    plus[diff[k]] = (plus[diff[k]] + dirs[k] * h).requires_grad_();
    minus[diff[k]] = (minus[diff[k]] + dirs[k] * h * -1.0).requires_grad_();
  }
  const Tensor ud = u.detach();
  const std::vector<Tensor> gp = first(plus, ud, false), gm = first(minus, ud, false);
  const auto compare = [](const Tensor& a, const Tensor& n, const std::string& what) {
    const std::vector<double> av = a.defined() ? a.to_vector() : std::vector<double>(static_cast<size_t>(n.numel()), 0.0);
    const std::vector<double> nv = n.to_vector();
    for (size_t e = 0; e < nv.size(); ++e) {
      if (!(std::abs(av[e] - nv[e]) <= 1e-6 * (1 + std::abs(nv[e])))) {
        return ::testing::AssertionFailure() << what << " element " << e << ": analytic " << av[e] << " vs numeric "
                                             << nv[e];
      }
    }
    return ::testing::AssertionSuccess();
  };
  for (size_t k = 0; k < diff.size(); ++k) {
    const Tensor numeric = (gp[k] - gm[k]) / (2 * h);
    if (auto r = compare(analytic[k], numeric, "d²/dx² along v, input " + std::to_string(diff[k])); !r) return r;
  }
  const Tensor jv = (f(plus).detach() - f(minus).detach()) / (2 * h);
  return compare(analytic.back(), jv, "d/du ⟨g, v⟩ = J·v");
}

// The grad_fn names of autograd::grad(f(inputs), the inputs that require grad, u) with
// create_graph, u of f's output shape requiring grad or not ("nograd" for a result without a
// grad_fn, as PyTorch's None); with `create_graph` false, "graph" for any result that carries
// one (requires grad or has a grad_fn), else "nograd".
inline std::vector<std::string> grad_fn_names(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                              const std::vector<Tensor>& inputs, bool upstream_requires_grad,
                                              bool create_graph = true) {
  std::vector<Tensor> xs, wrt;
  for (const Tensor& in : inputs) {
    xs.push_back(in.detach().requires_grad_(in.requires_grad()));
    if (in.requires_grad()) wrt.push_back(xs.back());
  }
  const Tensor y = f(xs);
  const Tensor u = Tensor::ones(y.shape(), y.dtype()).requires_grad_(upstream_requires_grad);
  autograd::GradOptions o;
  o.create_graph = create_graph;
  o.allow_unused = true;
  std::vector<std::string> names;
  for (const Tensor& g : autograd::grad({y}, wrt, {u}, o)) {
    const bool graph = g.defined() && (g.requires_grad() || g.grad_fn());
    names.push_back(!create_graph ? (graph ? "graph" : "nograd") : g.defined() && g.grad_fn() ? g.grad_fn_name() : "nograd");
  }
  return names;
}

// Runs fn, which must throw a gradoracle::Error of `kind` whose message contains each of `parts`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, ErrorKind kind,
                                               std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.kind() != kind) {
      return ::testing::AssertionFailure() << "wrong ErrorKind " << static_cast<int>(e.kind()) << ": " << e.what();
    }
    const std::string msg = e.what();
    for (const std::string& p : parts) {
      if (msg.find(p) == std::string::npos) {
        return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << p << "\"";
      }
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "not a gradoracle::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

#define EXPECT_ERROR(stmt, kind, ...) \
  EXPECT_TRUE(::gradoracle::test::throws_error([&] { (void)(stmt); }, ErrorKind::kind, {__VA_ARGS__}))

}  // namespace gradoracle::test
