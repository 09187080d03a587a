// The elementwise family: unary ops over any shape, binary ops with broadcasting.
#include "registry_family.hpp"

namespace gradoracle::registry::family {

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
