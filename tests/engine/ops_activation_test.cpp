// Activations and smooth unary functions (ops_activation.cpp): values and gradients from their
// closed forms in float32 and float64, PyTorch 1.13's grad_fn names at first and second order,
// its choices at kinks (leaky_relu and elu at 0, softplus at its threshold) and its errors.
#include <cmath>
#include <string>

#include "gradoracle/engine/registry.hpp"
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;

double sig(double x) { return 1 / (1 + std::exp(-x)); }
double phi(double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); }  // the normal pdf
double Phi(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); }    // and cdf
constexpr double kKappa = 0.044715;
double gelu_tanh_inner(double x) { return std::sqrt(2 / M_PI) * (x + kKappa * x * x * x); }

struct ActivationCase {
  const char* label;
  const char* grad_fn;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> f, df;  // the function and its derivative, from the math
  std::vector<double> xs;
};

std::vector<ActivationCase> activation_cases() {
  const std::vector<double> xs = {-2.5, -0.75, 0.3, 1.9};
  return {
      {"expm1", "Expm1Backward0", [](const Tensor& a) { return expm1(a); }, [](double x) { return std::expm1(x); },
       [](double x) { return std::exp(x); }, xs},
      {"atan", "AtanBackward0", [](const Tensor& a) { return atan(a); }, [](double x) { return std::atan(x); },
       [](double x) { return 1 / (1 + x * x); }, xs},
      {"erf", "ErfBackward0", [](const Tensor& a) { return erf(a); }, [](double x) { return std::erf(x); },
       [](double x) { return 2 / std::sqrt(M_PI) * std::exp(-x * x); }, xs},
      {"silu", "SiluBackward0", [](const Tensor& a) { return silu(a); }, [](double x) { return x * sig(x); },
       [](double x) { return sig(x) + x * sig(x) * (1 - sig(x)); }, xs},
      {"leaky_relu", "LeakyReluBackward0", [](const Tensor& a) { return leaky_relu(a); },
       [](double x) { return x > 0 ? x : 0.01 * x; }, [](double x) { return x > 0 ? 1 : 0.01; }, xs},
      {"leaky_relu -0.2", "LeakyReluBackward0", [](const Tensor& a) { return leaky_relu(a, -0.2); },
       [](double x) { return x > 0 ? x : -0.2 * x; }, [](double x) { return x > 0 ? 1 : -0.2; }, xs},
      {"elu", "EluBackward0", [](const Tensor& a) { return elu(a); },
       [](double x) { return x > 0 ? x : std::exp(x) - 1; }, [](double x) { return x > 0 ? 1 : std::exp(x); }, xs},
      {"elu alpha 2", "EluBackward0", [](const Tensor& a) { return elu(a, 2.0); },
       [](double x) { return x > 0 ? x : 2 * (std::exp(x) - 1); }, [](double x) { return x > 0 ? 1 : 2 * std::exp(x); },
       xs},
      {"softplus", "SoftplusBackward0", [](const Tensor& a) { return softplus(a); },
       [](double x) { return std::log(1 + std::exp(x)); }, sig, xs},
      // beta 2, threshold 1: 1.9 is past it (βx = 3.8 > 1), on the linear branch.
      {"softplus beta 2 threshold 1", "SoftplusBackward0", [](const Tensor& a) { return softplus(a, 2.0, 1.0); },
       [](double x) { return 2 * x > 1 ? x : std::log(1 + std::exp(2 * x)) / 2; },
       [](double x) { return 2 * x > 1 ? 1 : sig(2 * x); }, xs},
      {"gelu", "GeluBackward0", [](const Tensor& a) { return gelu(a); }, [](double x) { return x * Phi(x); },
       [](double x) { return Phi(x) + x * phi(x); }, xs},
      {"gelu tanh", "GeluBackward0", [](const Tensor& a) { return gelu(a, GeluApproximate::Tanh); },
       [](double x) { return 0.5 * x * (1 + std::tanh(gelu_tanh_inner(x))); },
       [](double x) {
         const double t = std::tanh(gelu_tanh_inner(x));
         return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * std::sqrt(2 / M_PI) * (1 + 3 * kKappa * x * x);
       },
       xs},
  };
}

TEST(Activation, ValuesGradsAndNamesInBothDTypes) {
  for (const ActivationCase& c : activation_cases()) {
    SCOPED_TRACE(c.label);
    for (DType dt : kDTypes) {
      const Shape shape{static_cast<int64_t>(c.xs.size())};
      const Tensor x = leaf(shape, c.xs, dt);
      const Tensor y = c.op(x);
      EXPECT_EQ(y.grad_fn_name(), c.grad_fn);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_TENSOR_NEAR(y, apply(c.xs, c.f), shape, tol_of(dt));
      const std::vector<double> g = {0.5, -2, 3, 1.25};
      y.backward(lit(shape, g, dt));
      std::vector<double> expected = apply(c.xs, c.df);
      for (size_t i = 0; i < g.size(); ++i) expected[i] *= g[i];
      EXPECT_TENSOR_NEAR(x.grad(), expected, shape, tol_of(dt));
    }
  }
}

TEST(Activation, ZeroDZeroSizeAndStridedInputs) {
  for (const ActivationCase& c : activation_cases()) {
    SCOPED_TRACE(c.label);
    const Tensor s = leaf({}, {c.xs[1]});
    const Tensor y = c.op(s);
    EXPECT_EQ(y.shape(), Shape{});
    y.backward();
    EXPECT_TENSOR_NEAR(s.grad(), {c.df(c.xs[1])}, Shape{}, 1e-12);
    const Tensor e = Tensor::zeros({2, 0}, kF32).requires_grad_();
    const Tensor ye = c.op(e);
    EXPECT_EQ(ye.shape(), (Shape{2, 0}));
    ye.backward(Tensor::zeros({2, 0}, kF32));
    EXPECT_EQ(e.grad().shape(), (Shape{2, 0}));
    // A transposed input: values follow its elements, not its storage order.
    const Tensor m = lit({2, 2}, c.xs);
    EXPECT_TENSOR_NEAR(c.op(t(m)), apply({c.xs[0], c.xs[2], c.xs[1], c.xs[3]}, c.f), (Shape{2, 2}), 1e-12);
  }
}

// NOTE points, each PyTorch 1.13's: leaky_relu'(0) = negative_slope (mask x > 0), so NaN takes
// the slope too; elu'(0) = alpha and elu'(NaN) = NaN (its vectorized loop's); elu(-0) = +0 (PyTorch
// computes α(eˣ - 1), not α·expm1 x); softplus at βx = threshold is on the log branch
// (gradient σ(threshold)), past it linear (gradient 1).
TEST(Activation, KinksAndNaNAsPyTorch) {
  const std::vector<double> at_kink = {0.0, -0.0, kNaN};
  for (DType dt : kDTypes) {
    SCOPED_TRACE(name(dt));
    const auto grads_at = [&](const std::function<Tensor(const Tensor&)>& f, const std::vector<double>& xs) {
      return grad_of(leaf({static_cast<int64_t>(xs.size())}, xs, dt), f);
    };
    EXPECT_TENSOR_NEAR(grads_at([](const Tensor& a) { return leaky_relu(a); }, at_kink),
                       (std::vector<double>{0.01, 0.01, 0.01}), Shape{3}, tol_of(dt));
    EXPECT_TENSOR_NEAR(grads_at([](const Tensor& a) { return leaky_relu(a, 0.2); }, at_kink),
                       (std::vector<double>{0.2, 0.2, 0.2}), Shape{3}, tol_of(dt));
    EXPECT_TENSOR_NEAR(grads_at([](const Tensor& a) { return elu(a); }, at_kink), (std::vector<double>{1, 1, kNaN}),
                       Shape{3}, 0.0);
    EXPECT_TENSOR_NEAR(grads_at([](const Tensor& a) { return elu(a, 2.0); }, at_kink),
                       (std::vector<double>{2, 2, kNaN}), Shape{3}, 0.0);
    const Tensor e = elu(lit({3}, at_kink, dt));
    EXPECT_TENSOR_NEAR(e, (std::vector<double>{0, 0, kNaN}), Shape{3}, 0.0);
    EXPECT_FALSE(std::signbit(e.to_vector()[1]));
    EXPECT_TENSOR_NEAR(grads_at([](const Tensor& a) { return softplus(a); }, {20, 20.5, -kInf, kInf}),
                       (std::vector<double>{sig(20), 1, 0, 1}), Shape{4}, tol_of(dt));
    EXPECT_TENSOR_NEAR(softplus(lit({2}, {20, 20.5}, dt)), (std::vector<double>{std::log1p(std::exp(20.0)), 20.5}),
                       Shape{2}, tol_of(dt));
  }
}

// ---------------------------------------------------------------- second order

std::vector<std::pair<std::string, std::function<Tensor(const Ins&)>>> second_order_programs() {
  return {
      {"expm1", [](const Ins& in) { return expm1(in[0]); }},
      {"atan", [](const Ins& in) { return atan(in[0]); }},
      {"erf", [](const Ins& in) { return erf(in[0]); }},
      {"silu", [](const Ins& in) { return silu(in[0]); }},
      {"leaky_relu", [](const Ins& in) { return leaky_relu(in[0], 0.2); }},
      {"elu", [](const Ins& in) { return elu(in[0], 2.0); }},
      {"softplus", [](const Ins& in) { return softplus(in[0], 2.0, 10.0); }},
      {"gelu", [](const Ins& in) { return gelu(in[0]); }},
      {"gelu tanh", [](const Ins& in) { return gelu(in[0], GeluApproximate::Tanh); }},
  };
}

// Away from the kinks (|x| >= 0.4) and from softplus's threshold (βx <= 4.4 < 10).
TEST(ActivationSecondOrder, EveryOpMatchesFiniteDifferencesOfItsFirstBackward) {
  const Tensor x = leaf({2, 3}, {-1.3, 0.4, 2.2, -0.6, 1.1, -2.2});
  for (const auto& [label, f] : second_order_programs()) {
    SCOPED_TRACE(label);
    EXPECT_TRUE(second_order_matches_fd(f, {x}));
  }
}

// torch.autograd.grad(f(x), x, u, create_graph=True)[0].grad_fn in PyTorch 1.13, u constant or
// requiring grad (the same name both ways for these ops).
TEST(ActivationSecondOrder, CreateGraphResultsHavePyTorchsGradFnNames) {
  const std::map<std::string, std::string> names = {
      {"expm1", "MulBackward0"},     {"atan", "DivBackward0"},
      {"erf", "MulBackward0"},       {"silu", "MulBackward0"},
      {"leaky_relu", "LeakyReluBackwardBackward0"}, {"elu", "EluBackwardBackward0"},
      {"softplus", "SoftplusBackwardBackward0"},     {"gelu", "GeluBackwardBackward0"},
      {"gelu tanh", "GeluBackwardBackward0"}};
  const Tensor x = leaf({3}, {-1.5, 0.3, 2.0});
  for (const auto& [label, f] : second_order_programs()) {
    SCOPED_TRACE(label);
    for (bool up : {false, true}) EXPECT_EQ(grad_fn_names(f, {x}, up), std::vector<std::string>{names.at(label)});
    EXPECT_EQ(grad_fn_names(f, {x}, true, false), std::vector<std::string>{"nograd"});
  }
}

// The second derivatives PyTorch gives at the kinks and past softplus's threshold, from
// ∂/∂x and ∂/∂u of Σ u·f'(x): leaky_relu's is 0 everywhere (a zeros tensor); elu's is
// α·eˣ only where x < 0 strictly, so 0 at 0; softplus's is β·σ'(βx) only where βx < threshold.
TEST(ActivationSecondOrder, KinksAsPyTorch) {
  autograd::GradOptions cg;
  cg.create_graph = true;
  const auto second = [&](Tensor (*op)(const Tensor&), const std::vector<double>& xs, const std::vector<double>& d_dx,
                          const std::vector<double>& d_du) {
    const Shape shape{static_cast<int64_t>(xs.size())};
    const Tensor z = leaf(shape, xs);
    const Tensor u = leaf(shape, std::vector<double>(xs.size(), 1.0));
    const Ins gz = autograd::grad({op(z)}, {z}, {u}, cg);
    const Ins h = autograd::grad({sum(gz[0])}, {z, u});
    EXPECT_TENSOR_NEAR(h[0], d_dx, shape, 1e-15);
    EXPECT_TENSOR_NEAR(h[1], d_du, shape, 1e-15);
  };
  second([](const Tensor& a) { return leaky_relu(a, 0.2); }, {0, 2, -1}, {0, 0, 0}, {0.2, 1, 0.2});
  second([](const Tensor& a) { return elu(a, 2.0); }, {0, 2, -1}, {0, 0, 2 * std::exp(-1.0)},
         {2, 1, 2 * std::exp(-1.0)});
  // β = 2, threshold = 1: x = 0.5 is at it (βx = 1: log branch, mask βx < 1 off), 0.75 past it.
  const double s2 = sig(-2);
  second([](const Tensor& a) { return softplus(a, 2.0, 1.0); }, {0.5, 0.75, -1}, {0, 0, 2 * s2 * (1 - s2)},
         {sig(1), 1, s2});
}

TEST(Activation, RegistryAttrsAndErrors) {
  const registry::OpTable& ops = registry::builtin_ops();
  const Tensor x = leaf({3}, {-1, 0.5, 2});
  const auto call = [&](const char* op, const registry::Attrs& attrs) { return ops.find(op)->call({x}, attrs); };
  EXPECT_TENSOR_NEAR(call("leaky_relu", {}), (std::vector<double>{-0.01, 0.5, 2}), Shape{3}, 1e-15);
  EXPECT_TENSOR_NEAR(call("leaky_relu", {{"negative_slope", 0.5}}), (std::vector<double>{-0.5, 0.5, 2}), Shape{3}, 1e-15);
  EXPECT_TENSOR_NEAR(call("elu", {{"alpha", int64_t{3}}}), (std::vector<double>{3 * std::expm1(-1.0), 0.5, 2}), Shape{3},
                     1e-15);
  EXPECT_TENSOR_NEAR(call("softplus", {{"beta", 2.0}, {"threshold", 1.0}}),
                     (std::vector<double>{std::log1p(std::exp(-2.0)) / 2, std::log1p(std::exp(1.0)) / 2, 2}), Shape{3},
                     1e-15);
  EXPECT_TENSOR_NEAR(call("gelu", {{"approximate", std::string("tanh")}}),
                     apply({-1, 0.5, 2}, [](double v) { return 0.5 * v * (1 + std::tanh(gelu_tanh_inner(v))); }),
                     Shape{3}, 1e-15);
  EXPECT_TENSOR_NEAR(call("gelu", {}), apply({-1, 0.5, 2}, [](double v) { return v * Phi(v); }), Shape{3}, 1e-15);
  EXPECT_ERROR(call("gelu", {{"approximate", std::string("exact")}}), Value,
               "approximate argument must be either none or tanh.");
  EXPECT_ERROR(call("elu", {{"alpha", std::string("one")}}), Value, "attr alpha must be a number");
}

}  // namespace
}  // namespace gradoracle
