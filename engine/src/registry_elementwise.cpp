// The elementwise family: unary ops over any shape, binary ops with broadcasting.
#include <cmath>

#include "registry_family.hpp"

namespace gradoracle::registry::family {

namespace {
// A unary op with attrs: `call(a, attrs)` reads them.
template <class F>
OpSpec unary_with_attrs(std::string name, std::string grad_fn, Domain domain, std::string summary,
                        std::vector<AttrSpec> attrs, F call) {
  OpSpec s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.grad_fn = std::move(grad_fn);
  s.domain = {domain};
  s.shape = ShapeRule::Unary;
  s.attrs = std::move(attrs);
  const std::string op = s.name;
  s.call = [call, op](const std::vector<Arg>& args, const Attrs& attrs) { return call(tensor_arg(args, 0, op.c_str()), attrs); };
  return s;
}

double sigmoid_of(double x) { return 1 / (1 + std::exp(-x)); }

// The activations and smooth unary functions of ops_activation.cpp.
void add_activations(std::vector<OpSpec>& ops) {
  using D = Domain;
  ops.push_back(unary("expm1", "Expm1Backward0", gradoracle::expm1, D::Bounded, "e^a - 1"));
  ops.back().references = {at("tiny |x|, where e^x - 1 loses digits", vec({1e-10, -1e-12, 0.0})),
                           at("x ~ -30, where e^x - 1 = -1", vec({-30, -20, 0.5}))};
  ops.push_back(unary("atan", "AtanBackward0", gradoracle::atan, D::Real, "arctangent"));
  ops.back().references = {at("large magnitudes", vec({1e4, -1e4, 0.5}))};
  ops.back().stability = finite_anywhere();
  ops.push_back(unary("erf", "ErfBackward0", gradoracle::erf, D::Real, "error function"));
  ops.back().references = {at("saturated", vec({6, -6, 0.25})), at("0-d", {Shape{}, {-0.5}})};
  ops.back().stability = finite_anywhere();
  ops.push_back(unary("silu", "SiluBackward0", gradoracle::silu, D::Real, "a·sigmoid(a)"));
  ops.back().references = {at("saturated, |x| up to 30", vec({-30, 30, 0.0}))};
  ops.back().stability = finite_anywhere();

  ops.push_back(unary_with_attrs(
      "leaky_relu", "LeakyReluBackward0", D::AwayFromKink, "a where a > 0, else a·negative_slope; kink at 0",
      {{"negative_slope", AttrType::Number, false, {}, {0.01, 0.2, -0.5, 2.0}}},
      [](const Tensor& a, const Attrs& attrs) { return gradoracle::leaky_relu(a, attr_number(attrs, "negative_slope", 0.01)); }));
  // NOTE: leaky_relu'(0) = negative_slope, as PyTorch (the mask is x > 0).
  ops.back().kinks = {{0, 0.0, "leaky_relu'(0) = negative_slope"}};
  ops.back().references = {pinned("at the kink, +0 and -0", vec({0.0, -0.0, 1.5, -2}), {0.01, 0.01, 1, 0.01}),
                           pinned("at the kink, negative_slope 0.2", vec({0.0, -0.0, 3}), {0.2, 0.2, 1},
                                  {{"negative_slope", 0.2}})};
  ops.back().stability = finite_anywhere();

  ops.push_back(unary_with_attrs(
      "elu", "EluBackward0", D::AwayFromKink, "a where a > 0, else alpha·(e^a - 1); kink at 0",
      {{"alpha", AttrType::Number}},
      [](const Tensor& a, const Attrs& attrs) { return gradoracle::elu(a, attr_number(attrs, "alpha", 1.0)); }));
  // NOTE: elu'(0) = alpha, as PyTorch (its backward's mask is x <= 0): a kink when alpha != 1,
  // and in the second derivative for every alpha.
  ops.back().kinks = {{0, 0.0, "elu'(0) = alpha"}};
  ops.back().references = {pinned("at the kink, +0 and -0", vec({0.0, -0.0, 2, -1}), {1, 1, 1, std::exp(-1.0)}),
                           pinned("at the kink, alpha 2", vec({0.0, -0.0, 2, -1}), {2, 2, 1, 2 * std::exp(-1.0)},
                                  {{"alpha", 2.0}}),
                           at("saturated", vec({-40, 40, -0.5}))};
  ops.back().stability = finite_anywhere();

  // The threshold is drawn past beta·|x| for every drawn x (|x| <= 3): the branches meet with a
  // jump there, which the reference inputs probe.
  ops.push_back(unary_with_attrs(
      "softplus", "SoftplusBackward0", D::Real, "log(1 + e^(beta·a))/beta; a where beta·a > threshold",
      {{"beta", AttrType::Number, false, {}, {1.0, 2.0, 0.5}}, {"threshold", AttrType::Number, false, {}, {20.0, 10.0, -10.0}}},
      [](const Tensor& a, const Attrs& attrs) {
        return gradoracle::softplus(a, attr_number(attrs, "beta", 1.0), attr_number(attrs, "threshold", 20.0));
      }));
  // NOTE: at beta·x = threshold PyTorch takes the log branch (linear only past it), so the
  // gradient there is sigmoid(threshold), and 1 past it.
  ops.back().kinks = {{0, 20.0, "beta·x = threshold: sigmoid(threshold); 1 past it"}};
  ops.back().references = {
      pinned("at and past the threshold", vec({20, 25, -1}), {sigmoid_of(20), 1, sigmoid_of(-1)}),
      pinned("at and past the threshold, beta 2, threshold 1", vec({0.5, 0.75, -1}), {sigmoid_of(1), 1, sigmoid_of(-2)},
             {{"beta", 2.0}, {"threshold", 1.0}}),
      at("x ~ -30", vec({-30, -40, 0.5}))};
  // On the linear branch beta·x past the threshold: e^(beta·x) overflows unselected.
  ops.back().stability = finite_anywhere();

  ops.push_back(unary_with_attrs(
      "gelu", "GeluBackward0", D::Real, "a·Phi(a); approximate \"none\" (default) or \"tanh\"",
      {{"approximate", AttrType::Choice, false, {"none", "tanh"}}}, [](const Tensor& a, const Attrs& attrs) {
        const std::string approximate = attr_string(attrs, "approximate", "none");
        if (approximate != "none" && approximate != "tanh") fail(ErrorKind::Value, "approximate argument must be either none or tanh.");
        return gradoracle::gelu(a, approximate == "tanh" ? GeluApproximate::Tanh : GeluApproximate::None);
      }));
  ops.back().references = {at("saturated", vec({-10, 10, 0.0})),
                           at("saturated, tanh", vec({-10, 10, 0.0}), {{"approximate", std::string("tanh")}})};
  // No stability promise: with tanh, PyTorch's gradient at |x| ~ 1e103 is (1 - 1)·∞ = NaN.
}
// sqrt at float's subnormals, smallest normal and largest value, in tensors of 1, 4, 5 and 17
// elements: a scalar loop, one packet, a packet and a tail, two wide packets and a tail (Eigen's
// float packets flushed subnormals to 0 here). Values √x and grads 1/(2√x), from the math.
std::vector<ReferenceInput> sqrt_at_float_extremes() {
  const std::vector<double> extremes = {1e-40, 3.4028234663852886e38, 1.1754943508222875e-38, 2.25, 5e-39};
  std::vector<ReferenceInput> refs;
  for (size_t length : {1, 4, 5, 17}) {
    std::vector<double> x(length), y(length), dx(length);
    for (size_t i = 0; i < length; ++i) {
      x[i] = extremes[i % extremes.size()];
      y[i] = std::sqrt(x[i]);
      dx[i] = 0.5 / y[i];
    }
    const std::string label = "float's subnormals and extremes, " + std::to_string(length) + " elements";
    refs.push_back(pinned(label, vec(x), dx));
    refs.back().value = vec(y);
  }
  return refs;
}
}  // namespace

std::vector<OpSpec> elementwise() {
  using D = Domain;
  std::vector<OpSpec> ops;
  // d/dx of each is stated beside its kernel in ops_elementwise.cpp.
  ops.push_back(unary("neg", "NegBackward0", gradoracle::neg, D::Real, "-a"));
  ops.back().stability = finite_anywhere();
  ops.push_back(unary("exp", "ExpBackward0", gradoracle::exp, D::Bounded, "e^a"));
  ops.push_back(unary("log", "LogBackward0", gradoracle::log, D::Positive, "natural log; a > 0"));
  ops.push_back(unary("log1p", "Log1PBackward0", gradoracle::log1p, D::AboveMinusOne, "log(1 + a); a > -1"));
  ops.back().references = {at("tiny |x|, where log(1 + x) loses digits", vec({1e-10, -1e-12, 0.0}))};
  ops.push_back(unary("sqrt", "SqrtBackward0", gradoracle::sqrt, D::Positive, "square root; a > 0"));
  ops.back().references = sqrt_at_float_extremes();
  ops.push_back(unary("sin", "SinBackward0", gradoracle::sin, D::Real, "sine"));
  ops.push_back(unary("cos", "CosBackward0", gradoracle::cos, D::Real, "cosine"));
  ops.push_back(unary("tanh", "TanhBackward0", gradoracle::tanh, D::Real, "hyperbolic tangent"));
  ops.back().references = {at("saturated", vec({20, -20, 0.5})), at("0-d", {Shape{}, {0.25}})};
  ops.back().stability = finite_anywhere();
  ops.push_back(unary("sigmoid", "SigmoidBackward0", gradoracle::sigmoid, D::Real, "1/(1+e^-a)"));
  ops.back().references = {at("saturated, |x| up to 100", vec({-100, 100, 30, -30}))};
  ops.back().stability = finite_anywhere();
  ops.push_back(unary("relu", "ReluBackward0", gradoracle::relu, D::AwayFromKink, "max(a, 0); kink at 0"));
  // NOTE: relu'(0) = 0, as PyTorch (the mask is x > 0).
  ops.back().kinks = {{0, 0.0, "relu'(0) = 0"}};
  ops.back().references = {pinned("at the kink, +0 and -0", vec({0.0, -0.0, 1.5, -2}), {0, 0, 1, 0}),
                           at("large magnitudes", vec({1e4, -1e4, 3}))};
  ops.back().stability = finite_anywhere();
  ops.push_back(unary("abs", "AbsBackward0", gradoracle::abs, D::AwayFromKink, "|a|; kink at 0"));
  // NOTE: abs'(0) = sign(0) = 0, as PyTorch.
  ops.back().kinks = {{0, 0.0, "abs'(0) = sign(0) = 0"}};
  ops.back().references = {pinned("at the kink, +0 and -0", vec({0.0, -0.0, 2, -3}), {0, 0, 1, -1})};
  ops.back().stability = finite_anywhere();
  add_activations(ops);

  ops.push_back(binary_op("add", "AddBackward0", {D::Real}, "a + b, broadcasting",
                          [](const auto& a, const auto& b) { return gradoracle::add(a, b); }));
  ops.push_back(binary_op("sub", "SubBackward0", {D::Real}, "a - b, broadcasting (number - b: RsubBackward1)",
                          [](const auto& a, const auto& b) { return gradoracle::sub(a, b); }));
  ops.push_back(binary_op("mul", "MulBackward0", {D::Real}, "a * b, broadcasting",
                          [](const auto& a, const auto& b) { return gradoracle::mul(a, b); }));
  ops.push_back(binary_op("div", "DivBackward0", {D::Real, D::NonZero}, "a / b, broadcasting; b away from 0",
                          [](const auto& a, const auto& b) { return gradoracle::div(a, b); }));
  ops.push_back(binary_op("pow", "PowBackward1", {D::Positive, D::Bounded},
                          "a ** b, broadcasting; a > 0 (tensor ** number: PowBackward0)",
                          [](const auto& a, const auto& b) { return gradoracle::pow(a, b); }));
  ops.back().kinks = {{1, 0.0, "d/da aᵇ is masked to 0 where b = 0, so its derivative in b there is 0"}};
  return ops;
}

}  // namespace gradoracle::registry::family
