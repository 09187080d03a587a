// The structural properties: facts every backward must satisfy whatever the op, checked
// without finite differences (engine, plus the oracle's comparison and closed forms).
#include <cmath>
#include <sstream>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/nn.hpp"
#include "gradoracle/oracle/closed_forms.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "gradoracle/properties/properties.hpp"
#include "structural_checks.hpp"

namespace gradoracle::properties {

namespace gen = rc::gen;
using oracle::Tolerance;
using registry::Domain;
using registry::OpSpec;

std::vector<const OpSpec*> fuzzable_ops(const registry::OpTable& table) {
  std::vector<const OpSpec*> ops;
  for (const OpSpec& op : table.ops()) {
    if (fuzzable(op)) ops.push_back(&op);
  }
  return ops;
}

namespace {

using detail::Grads;
using detail::assert_close;
using detail::assert_grads_close;
using detail::grads_of;

// A forward over fresh leaves: the output and the tensor leaves (undefined for numbers).
struct Run {
  Tensor out;
  std::vector<Tensor> leaves;
};

Run forward(const OpCase& c, const std::vector<bool>& constant = {}) {
  Run r;
  std::vector<registry::Arg> args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (const auto* t = std::get_if<TensorCase>(&c.args[i])) {
      TensorCase leaf = *t;
      if (i < constant.size() && constant[i]) leaf.requires_grad = false;
      r.leaves.push_back(make_tensor(leaf, c.dtype));
      args.emplace_back(r.leaves.back());
    } else {
      r.leaves.emplace_back();
      args.emplace_back(std::get<double>(c.args[i]));
    }
  }
  r.out = call_op(c, args);
  return r;
}


Tensor draw_upstream(const Shape& shape, DType dtype) {
  return Tensor::from_data(shape, *gen_values(Domain::Real, numel(shape)), dtype);
}

const OpSpec* draw_op() {
  static const std::vector<const OpSpec*> ops = fuzzable_ops();
  return *gen_choice(ops);
}

OpCase draw_case(DType dtype) {
  const OpSpec* op = draw_op();
  return *gen_op_case(*op, dtype);
}



std::vector<double> scaled_sum(double a, const std::vector<double>& u, double b, const std::vector<double>& v) {
  std::vector<double> out(u.size());
  for (size_t i = 0; i < u.size(); ++i) out[i] = a * u[i] + b * v[i];
  return out;
}

Tolerance structural_tolerance(DType dtype) { return oracle::gradcheck_tolerance(dtype); }

}  // namespace

void prop_backward_twice(DType dtype) {
  const OpCase c = draw_case(dtype);
  Run r = forward(c);
  const Tensor u = draw_upstream(r.out.shape(), dtype);
  r.out.backward(u, /*retain_graph=*/true);
  const Grads once = grads_of(r.leaves);
  r.out.backward(u, /*retain_graph=*/false);
  const Grads twice = grads_of(r.leaves);
  Grads doubled = once;
  for (auto& g : doubled) {
    if (g) {
      for (double& x : *g) x *= 2;
    }
  }
  // g + g is 2g exactly in floating point, and backward is deterministic: no tolerance.
  assert_grads_close(twice, doubled, Tolerance{0.0, 0.0}, c.op->name + ": second backward");
}

void prop_linear_in_upstream(DType dtype) {
  const OpCase c = draw_case(dtype);
  const Shape out = output_shape(c);
  const std::vector<double> u = *gen_values(Domain::Real, numel(out));
  const std::vector<double> v = *gen_values(Domain::Real, numel(out));
  const double a = *gen_choice<double>({1.0, -1.0, 2.0, 0.5, -3.0});
  const double b = *gen_choice<double>({1.0, 2.0, -0.5, 3.0});
  auto grads_for = [&](const std::vector<double>& upstream) {
    Run r = forward(c);
    r.out.backward(Tensor::from_data(out, upstream, dtype));
    return grads_of(r.leaves);
  };
  const Grads gu = grads_for(u);
  const Grads gv = grads_for(v);
  const Grads gw = grads_for(scaled_sum(a, u, b, v));
  Grads expected = gu;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] && gv[i]) expected[i] = scaled_sum(a, *gu[i], b, *gv[i]);
  }
  std::ostringstream what;
  what << c.op->name << ": g(" << a << "u + " << b << "v) vs " << a << "g(u) + " << b << "g(v)";
  assert_grads_close(gw, expected, structural_tolerance(dtype), what.str());
}

void prop_values_without_grad(DType dtype) {
  const OpCase c = draw_case(dtype);
  const Run tracked = forward(c);
  Tensor untracked;
  {
    NoGradGuard no_grad;
    untracked = forward(c).out;
  }
  RC_ASSERT(tracked.out.requires_grad());
  RC_ASSERT(!tracked.out.grad_fn_name().empty());
  RC_ASSERT(!untracked.requires_grad());
  RC_ASSERT(untracked.grad_fn() == nullptr);
  RC_ASSERT(tracked.out.shape() == untracked.shape());
  assert_close(untracked.to_vector(), tracked.out.to_vector(), Tolerance{0.0, 0.0}, c.op->name + ": value under no_grad");
}

void prop_detach_cuts_path(DType dtype) {
  const OpCase c = draw_case(dtype);
  std::vector<size_t> tensor_args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (std::holds_alternative<TensorCase>(c.args[i])) tensor_args.push_back(i);
  }
  const size_t cut = *gen_choice(tensor_args);
  const Shape out = output_shape(c);
  const Tensor u = draw_upstream(out, dtype);

  // s = op(args) + op(args with args[cut] detached), on shared leaves.
  Run both = forward(c);
  std::vector<registry::Arg> args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (both.leaves[i].defined()) {
      args.emplace_back(i == cut ? both.leaves[i].detach() : both.leaves[i]);
    } else {
      args.emplace_back(std::get<double>(c.args[i]));
    }
  }
  add(both.out, call_op(c, args)).backward(u);

  // Each path alone: y through every leaf; w with args[cut] a constant.
  Run y = forward(c);
  y.out.backward(u);
  std::vector<bool> constant(c.args.size(), false);
  constant[cut] = true;
  Run w = forward(c, constant);
  if (w.out.requires_grad()) w.out.backward(u);

  const Grads gy = grads_of(y.leaves);
  const Grads gw = grads_of(w.leaves);
  Grads expected = gy;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (i != cut && expected[i] && gw[i]) expected[i] = scaled_sum(1.0, *gy[i], 1.0, *gw[i]);
  }
  assert_grads_close(grads_of(both.leaves), expected, structural_tolerance(dtype),
                     c.op->name + ": argument " + std::to_string(cut) + " detached on one of two paths");
}

void prop_split_batch(DType dtype) {
  const int64_t in = *in_range<int64_t>(1, 5);
  const int64_t hidden = *in_range<int64_t>(1, 5);
  const int64_t out = *in_range<int64_t>(1, 4);
  const int64_t n1 = *in_range<int64_t>(0, 4);
  const int64_t n2 = *in_range<int64_t>(0, 4);
  // The activation: none (one linear layer, with a closed form), or any registered unary op over the reals.
  std::vector<const OpSpec*> activations = {nullptr};
  for (const OpSpec* op : fuzzable_ops()) {
    if (op->shape == registry::ShapeRule::Unary && op->max_args == 1 && op->domain_of(0) == Domain::Real) {
      activations.push_back(op);
    }
  }
  const OpSpec* activation = *gen_choice(activations);
  const double c1 = *gen_choice<double>({1.0, 2.0, -1.0, 0.5});
  const double c2 = *gen_choice<double>({2.0, 1.0, -1.0, 0.5});
  auto leaf = [&](const Shape& s) { return make_tensor(*gen_tensor(s, Domain::Real), dtype); };
  const Tensor w1 = leaf({activation ? hidden : out, in});
  const Tensor b1 = leaf({w1.size(0)});
  const Tensor w2 = leaf({out, hidden});
  const Tensor b2 = leaf({out});
  const Tensor x1 = Tensor::from_data({n1, in}, *gen_values(Domain::Real, n1 * in), dtype);
  const Tensor x2 = Tensor::from_data({n2, in}, *gen_values(Domain::Real, n2 * in), dtype);
  std::vector<Tensor> params = {w1, b1};
  if (activation) params.insert(params.end(), {w2, b2});

  auto model = [&](const Tensor& x) {
    Tensor h = linear(x, w1, b1);
    if (!activation) return h;
    h = activation->call({h}, {});
    return linear(h, w2, b2);
  };
  // The concatenated batch, each row weighted by its part's c: Σ c·(1 − y).
  std::vector<double> row_weights;
  row_weights.insert(row_weights.end(), static_cast<size_t>(n1), c1);
  row_weights.insert(row_weights.end(), static_cast<size_t>(n2), c2);
  const Tensor weights = Tensor::from_data({n1 + n2, 1}, row_weights, dtype);
  sum(mul(weights, sub(1.0, model(cat({x1, x2}, 0))))).backward();
  const Grads whole = grads_of(params);

  // The two parts, one backward each, accumulating: c1·Σ(1 − y1), then c2·Σ(1 − y2).
  nn::zero_grad(params, /*set_to_none=*/true);
  mul(c1, sum(sub(1.0, model(x1)))).backward();
  mul(c2, sum(sub(1.0, model(x2)))).backward();
  const Grads parts = grads_of(params);
  assert_grads_close(parts, whole, structural_tolerance(dtype),
                     "split batch (activation " + (activation ? activation->name : std::string("none")) + ")");

  if (!activation) {
    const auto closed = oracle::closed_forms::weighted_batches({x1, x2}, {c1, c2}, out);
    assert_grads_close(parts, Grads{closed.weight.to_vector(), closed.bias.to_vector()}, structural_tolerance(dtype),
                       "split batch against the closed form");
  }
}

void prop_clip_grad_norm(DType dtype) {
  const int count = *in_range(1, 4);
  std::vector<Tensor> params;
  std::vector<Tensor> before;
  for (int i = 0; i < count; ++i) {
    const Shape s = *gen_shape(0, 3);
    Tensor p = Tensor::zeros(s, dtype).requires_grad_();
    if (*gen_weighted<bool>({{3, true}, {1, false}})) {
      p.set_grad(Tensor::from_data(s, *gen_values(Domain::Real, numel(s)), dtype));
      before.push_back(p.grad().clone());
    } else {
      before.emplace_back();
    }
    params.push_back(p);
  }
  const double max_norm = *gen_choice<double>({1.0, 0.5, 3.0, 10.0, 100.0});
  const double norm_type = *gen_choice<double>({2.0, 1.0, 3.0, kInf});
  const auto expected = oracle::closed_forms::clip_grad_norm(before, max_norm, norm_type);
  const Tensor total = nn::clip_grad_norm_(params, max_norm, norm_type);
  const Tolerance tol = oracle::default_tolerance(dtype);
  std::ostringstream what;
  what << "clip_grad_norm_(max_norm " << max_norm << ", norm_type " << norm_type << ")";
  assert_close({total.item()}, {expected.total_norm}, tol, what.str() + ": returned total norm");

  double after = 0.0;
  for (int i = 0; i < count; ++i) {
    const Tensor g = params[static_cast<size_t>(i)].grad();
    RC_ASSERT(g.defined() == before[static_cast<size_t>(i)].defined());
    if (!g.defined()) continue;
    // Direction kept: the grad is the closed form's min(1, coefficient) times the old one.
    assert_close(g.to_vector(), expected.clipped[static_cast<size_t>(i)].to_vector(), tol,
                 what.str() + ": grad " + std::to_string(i) + " after clipping");
    for (double x : g.to_vector()) {
      after = std::isinf(norm_type) ? std::max(after, std::abs(x)) : after + std::pow(std::abs(x), norm_type);
    }
  }
  if (!std::isinf(norm_type)) after = std::pow(after, 1.0 / norm_type);
  if (!(after <= max_norm * (1 + tol.rtol) + tol.atol)) {
    std::ostringstream os;
    os << what.str() << ": total norm after clipping " << after << " > max_norm";
    RC_FAIL(os.str());
  }
}

}  // namespace gradoracle::properties

namespace gradoracle::properties::detail {

Grads grads_of(const std::vector<Tensor>& leaves) {
  Grads g;
  for (const Tensor& t : leaves) {
    if (t.defined() && t.grad().defined()) {
      g.emplace_back(t.grad().to_vector());
    } else {
      g.emplace_back(std::nullopt);
    }
  }
  return g;
}

void assert_close(const std::vector<double>& actual, const std::vector<double>& expected, const oracle::Tolerance& tol,
                  const std::string& what) {
  const auto n = static_cast<int64_t>(expected.size());
  const oracle::CompareResult r =
      oracle::compare(Shape{static_cast<int64_t>(actual.size())}, actual, Shape{n}, expected, tol);
  if (!r.passed) RC_FAIL(what + ": " + r.to_string());
}

void assert_grads_close(const Grads& actual, const Grads& expected, const oracle::Tolerance& tol,
                        const std::string& what) {
  RC_ASSERT(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    const std::string leaf = what + ", grad of leaf " + std::to_string(i);
    if (actual[i].has_value() != expected[i].has_value()) {
      RC_FAIL(leaf + (actual[i] ? ": defined, expected none" : ": none, expected one"));
    }
    if (actual[i]) assert_close(*actual[i], *expected[i], tol, leaf);
  }
}

}  // namespace gradoracle::properties::detail
