#pragma once
// What the registry's op families (registry_*.cpp) declare their ops with: argument readers,
// the unary and binary OpSpec builders, and the reference-input shorthands. Internal to the
// engine library.
#include <string>
#include <vector>

#include "gradoracle/engine/registry.hpp"

namespace gradoracle::registry::family {

inline const Tensor& tensor_arg(const std::vector<Arg>& args, size_t i, const char* op) {
  if (const Tensor* t = std::get_if<Tensor>(&args[i])) return *t;
  fail(ErrorKind::Value, std::string(op) + "(): argument " + std::to_string(i) + " must be a tensor, not a number");
}

inline std::vector<Tensor> tensor_args(const std::vector<Arg>& args, const char* op) {
  std::vector<Tensor> out;
  out.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) out.push_back(tensor_arg(args, i, op));
  return out;
}

// A binary op over tensor/number operands (never two numbers).
template <class F>
Tensor binary(const std::vector<Arg>& args, const char* op, F f) {
  const Tensor* a = std::get_if<Tensor>(&args[0]);
  const Tensor* b = std::get_if<Tensor>(&args[1]);
  if (a && b) return f(*a, *b);
  if (a) return f(*a, std::get<double>(args[1]));
  if (b) return f(std::get<double>(args[0]), *b);
  fail(ErrorKind::Value, std::string(op) + "(): at least one argument must be a tensor");
}

inline OpSpec unary(std::string name, std::string grad_fn, Tensor (*fn)(const Tensor&), Domain domain, std::string summary) {
  OpSpec s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.grad_fn = std::move(grad_fn);
  s.domain = {domain};
  s.shape = ShapeRule::Unary;
  const std::string op = s.name;
  s.call = [fn, op](const std::vector<Arg>& args, const Attrs&) { return fn(tensor_arg(args, 0, op.c_str())); };
  return s;
}

template <class F>
OpSpec binary_op(std::string name, std::string grad_fn, std::vector<Domain> domain, std::string summary, F f) {
  OpSpec s;
  s.name = std::move(name);
  s.summary = std::move(summary);
  s.grad_fn = std::move(grad_fn);
  s.min_args = s.max_args = 2;
  s.accepts_numbers = true;
  s.domain = std::move(domain);
  s.shape = ShapeRule::Broadcast;
  const std::string op = s.name;
  s.call = [f, op](const std::vector<Arg>& args, const Attrs&) { return binary(args, op.c_str(), f); };
  return s;
}

inline std::vector<int64_t> dims_attr(const Attrs& attrs) { return attr_int_list(attrs, "dim"); }

// Reference inputs are written with these. Pinned values and grads are PyTorch 1.13's (the
// torch suite, tests/cli/torch_crosscheck.py, replays every reference input in PyTorch).
inline ReferenceTensor vec(std::vector<double> v) { return {Shape{static_cast<int64_t>(v.size())}, std::move(v)}; }
inline ReferenceTensor mat(int64_t rows, int64_t cols, std::vector<double> v) { return {Shape{rows, cols}, std::move(v)}; }
// One tensor argument; judged by finite differences.
inline ReferenceInput at(std::string label, ReferenceTensor x, Attrs attrs = {}) {
  return {std::move(label), {std::move(x)}, std::move(attrs), {}};
}
// One tensor argument at a kink or tie, with PyTorch's gradient there (ones upstream).
inline ReferenceInput pinned(std::string label, ReferenceTensor x, std::vector<double> grad, Attrs attrs = {}) {
  return {std::move(label), {std::move(x)}, std::move(attrs), {std::move(grad)}};
}
// A result PyTorch defines (a reduction's dims, a 0-d result), gradients by finite differences.
inline ReferenceInput valued(std::string label, std::vector<ReferenceArg> args, Attrs attrs, ReferenceTensor value) {
  return {std::move(label), std::move(args), std::move(attrs), {}, std::move(value)};
}
// |x| ~ 1000 along dim: where a softmax without its max shift overflows.
inline std::vector<ReferenceInput> large_magnitudes(int64_t dim) {
  return {at("|x| ~ 1000", vec({1000, 1001, 999}), {{"dim", dim}}),
          at("x ~ -1000", vec({-1000, -1001, -999}), {{"dim", dim}}),
          at("rows of mixed magnitude", mat(2, 3, {1000, 1001, 0, -1000, -999, 1}), {{"dim", int64_t{-1}}})};
}

// Stability promises (OpSpec::stability); the ranges hold in PyTorch 1.13 for every attr drawn.
// Finite anywhere: elementwise ops whose values and grads saturate rather than overflow, and
// softmaxes (x - max(x) along the dim: a spread of 2e300, or 2e37 in float32, is finite).
inline constexpr MagnitudeRange kFiniteFloat64{1e-300, 1e300};
inline constexpr MagnitudeRange kFiniteFloat32{1e-30, 1e37};
inline Stability finite_within(MagnitudeRange float64, MagnitudeRange float32) { return {"", float64, float32}; }
inline Stability finite_anywhere() { return finite_within(kFiniteFloat64, kFiniteFloat32); }

// The families, in the built-in table's order.
std::vector<OpSpec> elementwise();  // registry_elementwise.cpp
std::vector<OpSpec> linalg();       // registry_linalg.cpp
std::vector<OpSpec> shape();        // registry_shape.cpp
std::vector<OpSpec> reduce();       // registry_reduce.cpp
std::vector<OpSpec> graph();        // registry_graph.cpp: detach and the nn clip utilities
std::vector<OpSpec> scan();         // registry_scan.cpp: cumsum, logsumexp, var, std, prod
std::vector<OpSpec> kinks();        // registry_kinks.cpp: clamp, maximum, minimum, max, min, amax, amin
std::vector<OpSpec> select();       // registry_select.cpp: where, index_select, gather, embedding
std::vector<OpSpec> loss_class();   // registry_loss_class.cpp: nll_loss, cross_entropy
std::vector<OpSpec> norm();         // registry_norm.cpp: layer_norm
std::vector<OpSpec> conv();         // registry_conv.cpp: conv2d
std::vector<OpSpec> window();       // registry_window.cpp: max_pool2d

}  // namespace gradoracle::registry::family
