#pragma once
// Planted bugs: ops declared exactly as registered ops are (an OpSpec each), whose backward is
// wrong in one classic way. Each is a custom op over the engine's record(). The property
// suite, pointed at this table (RunOptions::table), must catch every one and shrink it.
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/registry.hpp"

namespace gradoracle::properties::broken {

using registry::Arg;
using registry::Attrs;
using registry::OpSpec;

inline const Tensor& tensor(const std::vector<Arg>& args, size_t i) { return std::get<Tensor>(args.at(i)); }

// The forward of `f` over detached inputs, then recorded with `backward` against the real inputs.
template <class F>
Tensor custom(const char* name, const std::vector<Tensor>& inputs, F forward, BackwardFn backward) {
  std::vector<Tensor> detached;
  for (const Tensor& t : inputs) detached.push_back(t.detach());
  Tensor out = forward(detached);
  record(out, name, inputs, std::move(backward));
  return out;
}

inline OpSpec op(const char* name, registry::ShapeRule rule, int args, std::vector<registry::Domain> domain = {}) {
  OpSpec s;
  s.name = name;
  s.summary = "planted bug";
  s.grad_fn = "BrokenBackward0";
  s.min_args = s.max_args = args;
  s.shape = rule;
  s.domain = std::move(domain);
  return s;
}

// d/dx sin x = cos x; planted: −cos x (a wrong sign).
inline OpSpec wrong_sign() {
  OpSpec s = op("broken_sin_sign", registry::ShapeRule::Unary, 1);
  s.call = [](const std::vector<Arg>& args, const Attrs&) {
    const Tensor a = tensor(args, 0);
    return custom("BrokenSinBackward0", {a}, [](const auto& x) { return sin(x[0]); },
                  [a](const Tensor& g, NeedsGrad) -> std::vector<Tensor> { return {neg(mul(g, cos(a.detach())))}; });
  };
  return s;
}

// a + b, broadcasting; planted: b's grad is the first numel(b) elements of the upstream, not
// the upstream summed over b's broadcast dims (a missing broadcast reduction).
inline OpSpec missing_broadcast_reduction() {
  OpSpec s = op("broken_add_broadcast", registry::ShapeRule::Broadcast, 2);
  s.call = [](const std::vector<Arg>& args, const Attrs&) {
    const Tensor a = tensor(args, 0), b = tensor(args, 1);
    const Shape bshape = b.shape();
    return custom("BrokenAddBackward0", {a, b}, [](const auto& x) { return add(x[0], x[1]); },
                  [bshape](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                    std::vector<double> flat = g.to_vector();
                    flat.resize(static_cast<size_t>(numel(bshape)), 0.0);
                    return {g, Tensor::from_data(bshape, flat, g.dtype())};
                  });
  };
  return s;
}

// a·b for matrices: da = g·bᵀ, db = aᵀ·g; planted: db = (aᵀ·g)ᵀ (a transposed grad). Other
// ranks fall through to the real matmul.
inline OpSpec transposed_matmul_grad() {
  OpSpec s = op("broken_matmul_transposed", registry::ShapeRule::Matmul, 2);
  s.call = [](const std::vector<Arg>& args, const Attrs&) {
    const Tensor a = tensor(args, 0), b = tensor(args, 1);
    if (a.dim() != 2 || b.dim() != 2) return matmul(a, b);
    return custom("BrokenMmBackward0", {a, b}, [](const auto& x) { return matmul(x[0], x[1]); },
                  [a, b](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                    return {matmul(g, t(b.detach())), t(matmul(t(a.detach()), g))};
                  });
  };
  return s;
}

// sum over one dim d: the upstream, unsqueezed at d, expanded back; planted: unsqueezed at
// the next dim (a wrong dim in the reduction's backward). A dim list or no dim: the real sum.
inline OpSpec wrong_reduction_dim() {
  OpSpec s = op("broken_sum_dim", registry::ShapeRule::Reduction, 1);
  s.attrs = {{"dim", registry::AttrType::IntOrList}, {"keepdim", registry::AttrType::Bool}};
  s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
    const Tensor a = tensor(args, 0);
    const auto it = attrs.find("dim");
    const bool keepdim = registry::attr_bool(attrs, "keepdim", false);
    if (it == attrs.end() || !std::holds_alternative<int64_t>(it->second) || a.dim() < 2 || keepdim) {
      return sum(a, registry::attr_int_list(attrs, "dim"), keepdim);
    }
    const int64_t d = wrap_dim(std::get<int64_t>(it->second), a.dim());
    const Shape ashape = a.shape();
    return custom("BrokenSumBackward1", {a}, [d](const auto& x) { return sum(x[0], {d}, false); },
                  [d, ashape](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                    Shape kept = g.shape();
                    const auto wrong = (d + 1) % static_cast<int64_t>(ashape.size());
                    kept.insert(kept.begin() + wrong, 1);
                    return {expand(reshape(g, kept), ashape)};
                  });
  };
  return s;
}

// softmax along dim: dx = y·(g − Σ g·y); planted: y·g (the subtraction missing).
inline OpSpec softmax_missing_subtraction() {
  OpSpec s = op("broken_softmax", registry::ShapeRule::SoftmaxDim, 1);
  s.attrs = {{"dim", registry::AttrType::Int, true}};
  s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
    const Tensor a = tensor(args, 0);
    const int64_t dim = registry::attr_int(attrs, "dim", 0);
    Tensor y = softmax(a.detach(), dim);
    const Tensor saved = y.detach();
    record(y, "BrokenSoftmaxBackward0", {a},
           [saved](const Tensor& g, NeedsGrad) -> std::vector<Tensor> { return {mul(saved, g)}; });
    return y;
  };
  return s;
}

// Bugs only an op's reference inputs catch: the random cases keep away from kinks and draw
// moderate magnitudes. Each is declared with the built-in op's kinks and reference inputs.
inline OpSpec with_references_of(OpSpec s, const char* builtin) {
  const OpSpec& real = *registry::builtin_ops().find(builtin);
  s.domain = real.domain;
  s.attrs = real.attrs;
  s.kinks = real.kinks;
  s.references = real.references;
  return s;
}

// relu'(0) = 0 in PyTorch; planted: the mask x >= 0 (relu'(0) = 1).
inline OpSpec relu_grad_one_at_zero() {
  OpSpec s = with_references_of(op("broken_relu_at_zero", registry::ShapeRule::Unary, 1), "relu");
  s.call = [](const std::vector<Arg>& args, const Attrs&) {
    const Tensor a = tensor(args, 0);
    return custom("BrokenReluBackward0", {a}, [](const auto& x) { return relu(x[0]); },
                  [a](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                    std::vector<double> mask = a.detach().to_vector();
                    for (double& m : mask) m = m >= 0 ? 1.0 : 0.0;
                    return {mul(g, Tensor::from_data(a.shape(), mask, a.dtype()))};
                  });
  };
  return s;
}

// softmax as exp(x) / Σ exp(x), without the max shift: exact at moderate magnitudes, NaN at
// |x| ~ 1000 where PyTorch's is a distribution. The backward is right.
inline OpSpec softmax_without_max_shift() {
  OpSpec s = with_references_of(op("broken_softmax_unshifted", registry::ShapeRule::SoftmaxDim, 1), "softmax");
  s.call = [](const std::vector<Arg>& args, const Attrs& attrs) {
    const Tensor a = tensor(args, 0);
    const int64_t dim = registry::attr_int(attrs, "dim", 0);
    const Tensor e = exp(a);
    return div(e, sum(e, {dim}, true));
  };
  return s;
}

// a·b, broadcasting: da = g·b, db = g·a (summed to each shape); planted: the saved a and b are
// detached, so the first derivative is right and, under create_graph, the gradients lose
// their dependence on a and b (the second derivative d²(a·b)/da db = 1 becomes 0). Only the
// second-order task (op2/…) can see it.
inline OpSpec mul_detached_saved_inputs() {
  OpSpec s = op("broken_mul_detached", registry::ShapeRule::Broadcast, 2);
  s.call = [](const std::vector<Arg>& args, const Attrs&) {
    const Tensor a = tensor(args, 0), b = tensor(args, 1);
    const Shape ashape = a.shape(), bshape = b.shape();
    return custom("BrokenMulBackward0", {a, b}, [](const auto& x) { return mul(x[0], x[1]); },
                  [a, b, ashape, bshape](const Tensor& g, NeedsGrad) -> std::vector<Tensor> {
                    return {sum_to(mul(g, b.detach()), ashape), sum_to(mul(g, a.detach()), bshape)};
                  });
  };
  return s;
}

// The engine's ops plus the planted ones: the table the broken-op tests point the suite at.
inline const registry::OpTable& table() {
  static const registry::OpTable ops(registry::builtin_ops(),
                                     {wrong_sign(), missing_broadcast_reduction(), transposed_matmul_grad(),
                                      wrong_reduction_dim(), softmax_missing_subtraction(), relu_grad_one_at_zero(),
                                      softmax_without_max_shift(), mul_detached_saved_inputs()});
  return ops;
}

// The planted ops' names.
inline std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const OpSpec& s : table().ops())
    if (!registry::builtin_ops().find(s.name)) out.push_back(s.name);
  return out;
}

}  // namespace gradoracle::properties::broken
