// Structural properties of second order: facts every twice-differentiable backward satisfies
// whatever the op, checked through the engine's autograd::grad without finite differences.
// Cases are drawn through the registry's rules, so a new op is covered by registering it.
#include <cmath>
#include <sstream>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/tolerance.hpp"
#include "gradoracle/properties/properties.hpp"
#include "structural_checks.hpp"

namespace gradoracle::properties {

using oracle::Tolerance;
using registry::Domain;

namespace {

// A forward of a drawn case over fresh leaves: its output and the tensor leaves that require grad.
struct Drawn {
  OpCase c;
  Tensor out;
  std::vector<Tensor> leaves;
};

Drawn draw(DType dtype, const registry::OpTable& table) {
  static const std::vector<const registry::OpSpec*> builtin = fuzzable_ops();
  const std::vector<const registry::OpSpec*> ops = &table == &registry::builtin_ops() ? builtin : fuzzable_ops(table);
  Drawn d{*gen_op_case(**gen_choice(ops), dtype), Tensor(), {}};
  std::vector<registry::Arg> args;
  for (const auto& a : d.c.args) {
    if (const auto* t = std::get_if<TensorCase>(&a)) {
      args.emplace_back(make_tensor(*t, dtype));
      if (t->requires_grad) d.leaves.push_back(std::get<Tensor>(args.back()));
    } else {
      args.emplace_back(std::get<double>(a));
    }
  }
  d.out = call_op(d.c, args);
  return d;
}

Tensor draw_like(const Shape& shape, DType dtype) {
  return Tensor::from_data(shape, *gen_values(Domain::Real, numel(shape)), dtype);
}

autograd::GradOptions options(bool create_graph, bool retain_graph) {
  autograd::GradOptions o;
  o.create_graph = create_graph;
  o.retain_graph = retain_graph;
  o.allow_unused = true;  // a leaf the output does not reach, or reaches only linearly, gets none
  return o;
}

// ⟨a, b⟩ summed over the leaves in float64 (an undefined a or b counts as zeros), and the sum of
// |aᵢ·bᵢ|: the scale a rounding error in ⟨a, b⟩ is relative to.
struct Dot {
  double value = 0.0, scale = 0.0;
};
Dot dot(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  Dot d;
  for (size_t k = 0; k < a.size(); ++k) {
    if (!a[k].defined() || !b[k].defined()) continue;
    const std::vector<double> x = a[k].to_vector(), y = b[k].to_vector();
    for (size_t i = 0; i < x.size(); ++i) {
      d.value += x[i] * y[i];
      d.scale += std::abs(x[i] * y[i]);
    }
  }
  return d;
}

// ⟨g, v⟩ as an engine scalar (differentiable through g's graph).
Tensor engine_dot(const std::vector<Tensor>& g, const std::vector<Tensor>& v, DType dtype) {
  Tensor s = Tensor::zeros({}, dtype);
  for (size_t k = 0; k < g.size(); ++k) {
    if (g[k].defined()) s = add(s, sum(mul(g[k], v[k])));
  }
  return s;
}

// H·v for H the Hessian of ⟨u, f⟩ over the leaves: ∂⟨g, v⟩/∂leaves, g = ∂⟨u, f⟩/∂leaves built
// with create_graph. A ⟨g, v⟩ that carries no graph (f linear in the leaves) gives H·v = 0.
std::vector<Tensor> hvp(const std::vector<Tensor>& g, const std::vector<Tensor>& leaves, const std::vector<Tensor>& v,
                        DType dtype) {
  const Tensor s = engine_dot(g, v, dtype);
  if (!s.requires_grad()) return std::vector<Tensor>(leaves.size());
  return autograd::grad({s}, leaves, {}, options(false, true));
}

}  // namespace

namespace {
// ⟨w, H·v⟩ and ⟨v, H·w⟩ for the case c built in `dtype`, u the upstream; u, v, w as values.
std::pair<Dot, Dot> hessian_products(const OpCase& c, DType dtype, const std::vector<double>& u,
                                     const std::vector<std::vector<double>>& v_values,
                                     const std::vector<std::vector<double>>& w_values) {
  std::vector<registry::Arg> args;
  std::vector<Tensor> leaves;
  for (const auto& a : c.args) {
    if (const auto* t = std::get_if<TensorCase>(&a)) {
      args.emplace_back(make_tensor(*t, dtype));
      if (t->requires_grad) leaves.push_back(std::get<Tensor>(args.back()));
    } else {
      args.emplace_back(std::get<double>(a));
    }
  }
  const Tensor out = call_op(c, args);
  const Tensor upstream = Tensor::from_data(out.shape(), u, dtype);
  const std::vector<Tensor> g = autograd::grad({out}, leaves, {upstream}, options(true, true));
  std::vector<Tensor> v, w;
  for (size_t k = 0; k < leaves.size(); ++k) {
    v.push_back(Tensor::from_data(leaves[k].shape(), v_values[k], dtype));
    w.push_back(Tensor::from_data(leaves[k].shape(), w_values[k], dtype));
  }
  return {dot(w, hvp(g, leaves, v, dtype)), dot(v, hvp(g, leaves, w, dtype))};
}

bool symmetric(const std::pair<Dot, Dot>& p, DType dtype) {
  const Tolerance tol = oracle::gradcheck_tolerance(dtype);
  return std::abs(p.first.value - p.second.value) <= tol.atol + tol.rtol * (p.first.scale + p.second.scale);
}
}  // namespace

void prop_hessian_symmetry(DType dtype, const registry::OpTable& ops) {
  Drawn d = draw(dtype, ops);
  // At a declared kink PyTorch's mixed partials differ by its choice of subgradient (pow at
  // exponent 0: d/da aᵇ is masked to 0, d/db aᵇ = aᵇ·ln a is not): no symmetry to check.
  RC_PRE(!at_declared_kink(d.c));
  const std::vector<double> u = *gen_values(Domain::Real, numel(d.out.shape()));
  std::vector<std::vector<double>> v, w;
  for (const Tensor& leaf : d.leaves) {
    v.push_back(*gen_values(Domain::Real, numel(leaf.shape())));
    w.push_back(*gen_values(Domain::Real, numel(leaf.shape())));
  }
  // ⟨w, H·v⟩ = ⟨v, H·w⟩: ∂²f/∂x∂y = ∂²f/∂y∂x over every pair of leaf elements. A float32 gap
  // that the same case in float64 does not show is rounding (the HVP's terms cancel, e.g.
  // std's 1/σ³ near a small σ), as the program properties judge float32.
  const std::pair<Dot, Dot> p = hessian_products(d.c, dtype, u, v, w);
  if (!symmetric(p, dtype) &&
      (dtype != DType::Float32 || !symmetric(hessian_products(d.c, DType::Float64, u, v, w), DType::Float64))) {
    std::ostringstream what;
    what << d.c.op->name << ": Hessian of <u, f> not symmetric: <w, Hv> = " << p.first.value
         << ", <v, Hw> = " << p.second.value;
    RC_FAIL(what.str());
  }
}

void prop_grad_of_sum(DType dtype, const registry::OpTable& ops) {
  Drawn d = draw(dtype, ops);
  const Tensor y1 = d.out, y2 = mul(d.out, d.out);
  const Tensor u1 = draw_like(y1.shape(), dtype), u2 = draw_like(y2.shape(), dtype);
  const bool create_graph = *rc::gen::arbitrary<bool>();
  // grad([y1, y2], [u1, u2]) = grad(y1, u1) + grad(y2, u2): the engine sums the outputs' paths.
  const std::vector<Tensor> both = autograd::grad({y1, y2}, d.leaves, {u1, u2}, options(create_graph, true));
  const std::vector<Tensor> g1 = autograd::grad({y1}, d.leaves, {u1}, options(create_graph, true));
  const std::vector<Tensor> g2 = autograd::grad({y2}, d.leaves, {u2}, options(create_graph, true));
  for (size_t k = 0; k < d.leaves.size(); ++k) {
    std::vector<double> expected(static_cast<size_t>(d.leaves[k].numel()), 0.0);
    for (const Tensor& g : {g1[k], g2[k]}) {
      if (!g.defined()) continue;
      const std::vector<double> gv = g.to_vector();
      for (size_t i = 0; i < gv.size(); ++i) expected[i] += gv[i];
    }
    const std::vector<double> actual = both[k].defined() ? both[k].to_vector() : std::vector<double>(expected.size(), 0.0);
    detail::assert_close(actual, expected, oracle::gradcheck_tolerance(dtype),
                         d.c.op->name + ": grad of [y, y*y] vs the sum of their grads, leaf " + std::to_string(k));
  }
}

void prop_no_graph_without_create_graph(DType dtype, const registry::OpTable& ops) {
  Drawn d = draw(dtype, ops);
  const Tensor u = draw_like(d.out.shape(), dtype).requires_grad_(*rc::gen::arbitrary<bool>());
  // grad and backward without create_graph: results and .grad carry no graph, even for an
  // upstream that requires grad; a grad() result may be the upstream itself, passed through
  // unchanged, which PyTorch returns as it is.
  const std::vector<Tensor> plain = autograd::grad({d.out}, d.leaves, {u}, options(false, true));
  for (const Tensor& g : plain) {
    if (g.defined() && !g.is_same(u) && (g.requires_grad() || g.grad_fn())) {
      RC_FAIL(d.c.op->name + ": a grad() result without create_graph carries a graph (" + g.grad_fn_name() + ")");
    }
  }
  d.out.backward(u, true);
  for (const Tensor& leaf : d.leaves) {
    if (leaf.grad().defined() && (leaf.grad().requires_grad() || leaf.grad().grad_fn())) {
      RC_FAIL(d.c.op->name + ": .grad after backward without create_graph carries a graph");
    }
  }
  // With create_graph, backward's .grad has grad()'s values, and a graph exactly when grad()'s has.
  for (const Tensor& leaf : d.leaves) Tensor(leaf).set_grad(Tensor());
  const std::vector<Tensor> g = autograd::grad({d.out}, d.leaves, {u}, options(true, true));
  d.out.backward(u, true, true);
  // create_graph changes how a gradient is computed (recorded ops, or a backward op of its own,
  // instead of a fused kernel), never its values: the gradchecks of second order differentiate
  // only the recorded form, so a recorded formula wrong but self-consistent is seen only here.
  for (size_t k = 0; k < d.leaves.size(); ++k) {
    if (g[k].defined() != plain[k].defined()) RC_FAIL(d.c.op->name + ": grad() reaches a leaf with create_graph only, or without it only");
    if (!g[k].defined()) continue;
    detail::assert_close(g[k].to_vector(), plain[k].to_vector(), oracle::gradcheck_tolerance(dtype),
                         d.c.op->name + ": grad(create_graph) vs grad() of leaf " + std::to_string(k));
  }
  for (size_t k = 0; k < d.leaves.size(); ++k) {
    const Tensor grad = d.leaves[k].grad();
    if (g[k].defined() != grad.defined()) RC_FAIL(d.c.op->name + ": grad() and backward() disagree on reaching a leaf");
    if (!grad.defined()) continue;
    RC_ASSERT(grad.requires_grad() == g[k].requires_grad());
    detail::assert_close(grad.to_vector(), g[k].to_vector(), Tolerance{0.0, 0.0},
                         d.c.op->name + ": .grad after backward(create_graph) vs grad(create_graph)");
  }
  // .grad with a graph refers back to its leaf (a cycle, as in PyTorch): let it go.
  for (const Tensor& leaf : d.leaves) Tensor(leaf).set_grad(Tensor());
}

std::vector<TableProperty> second_order_properties() {
  return {
      {"hessian_symmetry", prop_hessian_symmetry},
      {"grad_of_sum", prop_grad_of_sum},
      {"no_graph_without_create_graph", prop_no_graph_without_create_graph},
  };
}

}  // namespace gradoracle::properties
