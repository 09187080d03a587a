// The stateful model test of the nn API (engine nn.hpp), a gate task (structural/nn_model/<dtype>):
// random sequences of commands (rapidcheck/state.h) on a Linear layer (with or without bias), a
// leaf `e` of the task's dtype and a leaf `o` of the other dtype, each checked against a model
// written without the engine (doubles and Eigen) with PyTorch 1.13's semantics:
//
//   forward      y = Σ U ⊙ linear(x) [+ Σ C ⊙ e] [+ Σ D ⊙ o.to(dtype)],  linear(x) = x·Wᵀ + b over
//                x's rows X (x of shape (*, in)): dy/dW = Uᵀ·X, dy/db = Σ_rows U, dy/dx = U·W,
//                dy/de = C, dy/do = D (in o's dtype)
//   backward(g)  each leaf y reaches: .grad += g·dy/dleaf, a new .grad (no graph) if it had none;
//                raises, changing nothing, after y.detach_() or a backward without retain_graph
//   zero_grad    in place: a .grad with a grad_fn is detach_()-ed, any other stops requiring grad,
//                then it is zeroed (the same tensor); detach_() of a view raises, leaving the
//                leaves before it zeroed; set_to_none: .grad becomes None; a leaf without .grad
//                keeps none. Module.zero_grad(set_to_none=False) over parameters()
//   detach_      y.requires_grad is False and y.grad_fn None afterwards
//   p.grad = t   t as given (plain, a leaf requiring grad, with a grad_fn, a view with a grad_fn)
//   clip_grad_norm_(ps, m, p, error_if_nonfinite): over the ps with a .grad, t = ‖(‖g₁‖ₚ, …)‖ₚ
//                (torch.norm: p = 0 counts non-zeros, ±inf max/min |g|); with error_if_nonfinite
//                a NaN or ±inf t raises, changing nothing; else every grad *= min(1, m/(t + 1e-6))
//                (NaN stays NaN) and t is returned in the grads' promoted dtype (without grads:
//                torch.tensor(0.), float32)
//   clip_grad_value_(ps, c): every grad = min(max(g, −c), c) (c wins when c < 0; NaN stays)
//
// Before the sequence every case checks Linear's parameters() and its init: weight and bias
// uniform in ±1/√in (see check_linear_init for the false-alarm bound of the spread check).
#include <rapidcheck/state.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "gradoracle/engine/nn.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {
namespace {

namespace gen = rc::gen;
using oracle::Tolerance;
using registry::Domain;
using Values = std::vector<double>;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Command sequences are 1 to 1 + size·kSequenceScale long: at RapidCheck's default max_size 100,
// up to 21 commands, about 6 on average over a run.
constexpr double kSequenceScale = 0.2;

DType other_dtype(DType d) { return d == DType::Float64 ? DType::Float32 : DType::Float64; }

// ---------------------------------------------------------------- the model's math (no engine)

// ‖v‖ₚ as torch.norm: p = 0 counts the non-zeros (NaN counts); ±inf: max/min |v| (NaN if any);
// otherwise (Σ|v|ᵖ)^(1/p) (p < 0 included: a zero gives 0). An empty v has norm 0.
double p_norm(const Values& v, double p) {
  if (v.empty()) return 0.0;
  if (p == 0) return static_cast<double>(std::count_if(v.begin(), v.end(), [](double x) { return x != 0; }));
  if (std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); })) return kNaN;
  if (std::isinf(p)) {
    double r = std::abs(v[0]);
    for (double x : v) r = p > 0 ? std::max(r, std::abs(x)) : std::min(r, std::abs(x));
    return r;
  }
  double s = 0;
  for (double x : v) s += std::pow(std::abs(x), p);
  return std::pow(s, 1.0 / p);
}

// clip_grad_norm_'s total: the p-norm of the per-grad p-norms (torch.stack, then torch.norm;
// for p = inf the max of the per-grad maxima, the same number).
double total_norm(const std::vector<const Values*>& grads, double p) {
  Values each;
  for (const Values* g : grads) each.push_back(p_norm(*g, p));
  return p_norm(each, p);
}

double max_finite_abs(const Values& v) {
  double m = 0;
  for (double x : v) {
    if (std::isfinite(x)) m = std::max(m, std::abs(x));
  }
  return m;
}

// dy/dleaf of the last forward: its values and, per element, a bound on Σ|terms| of the sum
// that gives it (the scale of the engine's rounding in computing it); `bound` is the largest.
struct Derivative {
  Values values;
  double bound = 0;
};

// A .grad in the model: its values, the flags of the tensor, and `slack`, an absolute allowance
// beyond its dtype's tolerance for rounding the engine does in sums and in clip coefficients
// (bounded below, per command); the model's values are double-precision math on the same inputs.
struct GradModel {
  Values values;
  double slack = 0;
  bool requires_grad = false;  // .grad.requires_grad
  bool has_graph = false;      // .grad.grad_fn is not None
  bool is_view = false;        // .grad._is_view() (made by reshape): detach_() on it raises
};

struct Leaf {
  std::string name;  // "weight", "bias", "e", "o"
  Shape shape;
  DType dtype = DType::Float64;
  std::optional<GradModel> grad;  // none: .grad is None
};

// How the engine's value may differ from the model's: the dtype's tolerance plus `slack`.
Tolerance allowance(DType dtype, double slack) {
  Tolerance t = oracle::default_tolerance(dtype);
  t.atol += slack;
  return t;
}

// g·d added to a .grad (a new one, without graph, if it has none). The engine computes g·d in
// the forward's dtype and casts it to the leaf's (o.to's backward), an error of a few ulps of
// |g|·bound in the coarser of the two, well within its rtol times that (the slack added); it adds
// it to the .grad within rtol of the result.
void accumulate(std::optional<GradModel>& grad, double g, const Derivative& d, DType computed_in, DType held_in) {
  if (!grad) grad.emplace().values.assign(d.values.size(), 0.0);
  for (size_t k = 0; k < d.values.size(); ++k) grad->values[k] += g * d.values[k];
  const double rtol = oracle::loosest(oracle::default_tolerance(computed_in), oracle::default_tolerance(held_in)).rtol;
  grad->slack += rtol * std::abs(g) * d.bound;
}

struct Model {
  int64_t in = 1, out = 1;
  bool bias = true;
  Values weight, bias_values;  // the layer's parameters as initialised (no command changes them)
  std::vector<Leaf> leaves;    // weight, [bias], e, o
  DType dtype = DType::Float64;
  // The last forward: y pending (not replaced), detach_()-ed, its graph freed by a backward.
  bool pending = false, detached = false, freed = false;
  std::vector<std::optional<Derivative>> dy;  // dy/dleaf; none where y does not reach the leaf
  std::optional<Derivative> dy_dx;            // when x requires grad
  std::optional<GradModel> x_grad;

  // Leaves in the order clip calls take them: float64 first (see ClipGradNorm).
  std::vector<size_t> clip_order() const {
    std::vector<size_t> order;
    for (DType d : {DType::Float64, DType::Float32}) {
      for (size_t i = 0; i < leaves.size(); ++i) {
        if (leaves[i].dtype == d) order.push_back(i);
      }
    }
    return order;
  }
};

struct Sut {
  explicit Sut(nn::Linear layer) : linear(std::move(layer)) {}
  nn::Linear linear;
  std::vector<Tensor> leaves;  // as Model::leaves
  Tensor x, y;
};

using Command = rc::state::Command<Model, Sut>;

// ---------------------------------------------------------------- checks

void assert_values(const Tensor& actual, const Shape& shape, const Values& expected, const Tolerance& tol,
                   const std::string& what) {
  const oracle::CompareResult r = oracle::compare(actual, shape, expected, tol);
  if (!r.passed) RC_FAIL(what + ": " + r.to_string());
}

void check_grad(const Tensor& grad, const std::optional<GradModel>& expected, const Shape& shape, DType dtype,
                const std::string& name) {
  if (grad.defined() != expected.has_value()) {
    RC_FAIL(name + ".grad is " + (grad.defined() ? "a tensor, expected None" : "None, expected a tensor"));
  }
  if (!expected) return;
  RC_ASSERT(grad.dtype() == dtype);
  assert_values(grad, shape, expected->values, allowance(dtype, expected->slack), name + ".grad");
  if (grad.requires_grad() != expected->requires_grad) {
    RC_FAIL(name + ".grad.requires_grad is " + (grad.requires_grad() ? "True" : "False"));
  }
  if ((grad.grad_fn() != nullptr) != expected->has_graph) {
    RC_FAIL(name + ".grad.grad_fn is " + (expected->has_graph ? "None, expected one" : grad.grad_fn_name()));
  }
  if (grad.is_view() != expected->is_view) RC_FAIL(name + ".grad._is_view() is " + (grad.is_view() ? "True" : "False"));
}

void check_all(const Model& m, const Sut& s) {
  for (size_t i = 0; i < m.leaves.size(); ++i) {
    const Leaf& l = m.leaves[i];
    check_grad(s.leaves[i].grad(), l.grad, l.shape, l.dtype, l.name);
  }
  if (s.x.defined()) check_grad(s.x.grad(), m.x_grad, s.x.shape(), m.dtype, "x");
}

// Runs `apply` on a copy of the model and checks the system against the result.
template <class Cmd>
void check_after(const Cmd& cmd, const Model& m, const Sut& s) {
  Model next = m;
  cmd.apply(next);
  check_all(next, s);
}

std::vector<Tensor> grads_of(const Sut& s) {
  std::vector<Tensor> g;
  for (const Tensor& t : s.leaves) g.push_back(t.grad());
  return g;
}

// Commands that change .grad in place leave each the same tensor (PyTorch's in-place ops).
void assert_same_tensors(const std::vector<Tensor>& before, const Model& m, const Sut& s,
                         const std::vector<bool>& in_place, const std::string& what) {
  for (size_t i = 0; i < before.size(); ++i) {
    if (in_place[i] && before[i].defined() && !s.leaves[i].grad().is_same(before[i])) {
      RC_FAIL(what + ": " + m.leaves[i].name + ".grad is a new tensor, expected the same one changed in place");
    }
  }
}

void show_values(std::ostream& os, const Values& v) {
  os << '[';
  for (size_t k = 0; k < v.size(); ++k) os << (k ? ", " : "") << v[k];
  os << ']';
}

// "[weight, e]": the names of the leaves `mask` picks out of `order`.
std::string names_of(const Model& m, const std::vector<bool>& mask, const std::vector<size_t>& order) {
  std::string out = "[";
  for (size_t k = 0; k < order.size(); ++k) {
    if (mask[k]) out += (out.size() > 1 ? ", " : "") + m.leaves[order[k]].name;
  }
  return out + "]";
}

std::vector<size_t> index_order(size_t n) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  return order;
}

std::vector<bool> draw_mask(size_t n) {
  std::vector<bool> mask;
  for (size_t i = 0; i < n; ++i) mask.push_back(*gen_weighted<bool>({{3, true}, {1, false}}));
  return mask;
}

// ---------------------------------------------------------------- commands

struct Forward : Command {
  Shape lead;                      // x has shape lead + (in,)
  Values x, u;                     // x's values, U (shape lead + (out,))
  bool x_requires_grad = false;
  std::optional<Values> c, d;      // C for e, D for o; none: the term is left out

  explicit Forward(const Model& m) {
    const int rank = *in_range(0, 3);
    for (int k = 0; k < rank; ++k) lead.push_back(*in_range<int64_t>(0, 4));
    const int64_t rows = numel(lead);
    x = *gen_values(Domain::Real, rows * m.in);
    u = *gen_values(Domain::Real, rows * m.out);
    x_requires_grad = *gen::arbitrary<bool>();
    const Leaf& e = m.leaves[m.leaves.size() - 2];
    const Leaf& o = m.leaves.back();
    if (*gen::arbitrary<bool>()) c = *gen_values(Domain::Real, numel(e.shape));
    if (*gen::arbitrary<bool>()) d = *gen_values(Domain::Real, numel(o.shape));
  }

  int64_t rows() const { return numel(lead); }

  void apply(Model& m) const override {
    const ConstMap X(x.data(), rows(), m.in), U(u.data(), rows(), m.out), W(m.weight.data(), m.out, m.in);
    const auto derivative = [](const RowMatrix& v, const RowMatrix& bound) {
      return Derivative{Values(v.data(), v.data() + v.size()), bound.size() ? bound.maxCoeff() : 0.0};
    };
    m.pending = true;
    m.detached = m.freed = false;
    m.dy.assign(m.leaves.size(), std::nullopt);
    m.dy[0] = derivative(U.transpose() * X, U.cwiseAbs().transpose() * X.cwiseAbs());  // dy/dW = Uᵀ·X
    if (m.bias) m.dy[1] = derivative(U.colwise().sum(), U.cwiseAbs().colwise().sum());  // dy/db = Σ_rows U
    const auto coefficients = [](const Values& v) { return Derivative{v, max_finite_abs(v)}; };
    if (c) m.dy[m.leaves.size() - 2] = coefficients(*c);
    if (d) m.dy.back() = coefficients(*d);
    m.dy_dx.reset();
    if (x_requires_grad) m.dy_dx = derivative(U * W, U.cwiseAbs() * W.cwiseAbs());  // dy/dx = U·W
    m.x_grad.reset();
  }

  void run(const Model& m, Sut& s) const override {
    Shape x_shape = lead, y_shape = lead;
    x_shape.push_back(m.in);
    y_shape.push_back(m.out);
    s.x = Tensor::from_data(x_shape, x, m.dtype, x_requires_grad);
    const Tensor out = s.linear(s.x);
    RC_ASSERT(out.requires_grad());
    // linear(x) = X·Wᵀ + b, each element within rounding of Σ|x||w| + |b|.
    const ConstMap X(x.data(), rows(), m.in), W(m.weight.data(), m.out, m.in);
    RowMatrix expected = X * W.transpose(), bound = X.cwiseAbs() * W.cwiseAbs().transpose();
    if (m.bias) {
      const Eigen::Map<const Eigen::RowVectorXd> b(m.bias_values.data(), m.out);
      expected.rowwise() += b;
      bound.rowwise() += b.cwiseAbs();
    }
    const double scale = bound.size() ? bound.maxCoeff() : 0.0;
    assert_values(out, y_shape, Values(expected.data(), expected.data() + expected.size()),
                  allowance(m.dtype, oracle::default_tolerance(m.dtype).rtol * scale), "linear(x)");
    Tensor y = sum(mul(out, Tensor::from_data(y_shape, u, m.dtype)));
    const Tensor& e = s.leaves[s.leaves.size() - 2];
    const Tensor& o = s.leaves.back();
    if (c) y = add(y, sum(mul(e, Tensor::from_data(e.shape(), *c, m.dtype))));
    if (d) y = add(y, sum(mul(o.to(m.dtype), Tensor::from_data(o.shape(), *d, m.dtype))));
    s.y = y;
    check_after(*this, m, s);
  }

  void show(std::ostream& os) const override {
    os << "y = sum(U * linear(x))" << (c ? " + sum(C * e)" : "") << (d ? " + sum(D * o.to(dtype))" : "")
       << " with x of shape " << to_string(lead) << " + (in,)" << (x_requires_grad ? " requiring grad" : "") << ", x ";
    show_values(os, x);
    os << ", U ";
    show_values(os, u);
    if (c) show_values(os << ", C ", *c);
    if (d) show_values(os << ", D ", *d);
  }
};

struct Backward : Command {
  double upstream = *gen_choice<double>({1.0, -1.0, 2.0, 0.5, 3.0});
  bool retain = *gen::arbitrary<bool>();

  void checkPreconditions(const Model& m) const override { RC_PRE(m.pending); }

  void apply(Model& m) const override {
    if (m.detached || m.freed) return;  // raises, changes nothing
    for (size_t i = 0; i < m.leaves.size(); ++i) {
      if (m.dy[i]) accumulate(m.leaves[i].grad, upstream, *m.dy[i], m.dtype, m.leaves[i].dtype);
    }
    if (m.dy_dx) accumulate(m.x_grad, upstream, *m.dy_dx, m.dtype, m.dtype);
    m.freed = !retain;
  }

  void run(const Model& m, Sut& s) const override {
    const Tensor g = Tensor::scalar(upstream, m.dtype);
    if (m.detached || m.freed) {
      bool raised = false;
      try {
        s.y.backward(g, retain);
      } catch (const Error&) {
        raised = true;
      }
      if (!raised) {
        RC_FAIL(std::string("backward did not raise after ") +
                (m.detached ? "y.detach_()" : "a backward without retain_graph"));
      }
    } else {
      s.y.backward(g, retain);
    }
    check_after(*this, m, s);
  }

  void show(std::ostream& os) const override {
    os << "y.backward(" << upstream << ", retain_graph=" << (retain ? "True" : "False") << ')';
  }
};

struct ZeroGrad : Command {
  enum class Via { ModuleDefault, Module, Function };
  Via via = *gen_choice<Via>({Via::Function, Via::ModuleDefault, Via::Module});
  bool set_to_none = *gen::arbitrary<bool>();
  std::vector<bool> which;  // Function: the leaves passed, in index order
  std::string listed;       // their names

  explicit ZeroGrad(const Model& m) {
    which = draw_mask(m.leaves.size());
    listed = names_of(m, which, index_order(m.leaves.size()));
  }

  // What the call targets: Module.parameters() (weight, [bias]) or the chosen leaves.
  std::vector<bool> targets(const Model& m) const {
    if (via == Via::Function) return which;
    std::vector<bool> t(m.leaves.size(), false);
    t[0] = true;
    if (m.bias) t[1] = true;
    return t;
  }
  bool to_none() const { return via == Via::ModuleDefault ? false : set_to_none; }  // PyTorch 1.13's default

  // The leaf whose .grad detach_() refuses (a view with a grad_fn), if any: the call raises there.
  std::optional<size_t> raises_at(const Model& m) const {
    const std::vector<bool> t = targets(m);
    for (size_t i = 0; i < t.size() && !to_none(); ++i) {
      const std::optional<GradModel>& g = m.leaves[i].grad;
      if (t[i] && g && g->has_graph && g->is_view) return i;
    }
    return std::nullopt;
  }

  void apply(Model& m) const override {
    const std::vector<bool> t = targets(m);
    const size_t end = raises_at(m).value_or(t.size());
    for (size_t i = 0; i < end; ++i) {
      std::optional<GradModel>& g = m.leaves[i].grad;
      if (!t[i] || !g) continue;
      if (to_none()) {
        g.reset();
      } else {
        *g = GradModel{Values(g->values.size(), 0.0), 0.0, false, false, false};
      }
    }
  }

  void run(const Model& m, Sut& s) const override {
    const std::vector<Tensor> before = grads_of(s);
    bool raised = false;
    try {
      switch (via) {
        case Via::ModuleDefault: s.linear.zero_grad(); break;
        case Via::Module: s.linear.zero_grad(set_to_none); break;
        case Via::Function: {
          std::vector<Tensor> params;
          for (size_t i = 0; i < which.size(); ++i) {
            if (which[i]) params.push_back(s.leaves[i]);
          }
          nn::zero_grad(params, set_to_none);
          break;
        }
      }
    } catch (const Error&) {
      raised = true;
    }
    const std::optional<size_t> view = raises_at(m);
    if (raised != view.has_value()) {
      RC_FAIL(raised ? "zero_grad raised, expected no error"
                     : "zero_grad did not raise at " + m.leaves[*view].name + ", whose .grad is a view with a grad_fn");
    }
    check_after(*this, m, s);
    if (!to_none()) assert_same_tensors(before, m, s, targets(m), "zero_grad in place");
  }

  void show(std::ostream& os) const override {
    if (via == Via::ModuleDefault) {
      os << "linear.zero_grad()";
    } else if (via == Via::Module) {
      os << "linear.zero_grad(set_to_none=" << (set_to_none ? "True" : "False") << ')';
    } else {
      os << "nn::zero_grad(" << listed << ", set_to_none=" << (set_to_none ? "True" : "False") << ')';
    }
  }
};

struct DetachOutput : Command {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.pending); }
  void apply(Model& m) const override { m.detached = true; }
  void run(const Model& m, Sut& s) const override {
    s.y.detach_();
    if (s.y.requires_grad()) RC_FAIL("y.requires_grad is True after y.detach_()");
    if (s.y.grad_fn() != nullptr) RC_FAIL("y.grad_fn is " + s.y.grad_fn_name() + " after y.detach_()");
    check_after(*this, m, s);
  }
  void show(std::ostream& os) const override { os << "y.detach_()"; }
};

// p.grad = t: values on the grid of the reals, some exactly ±0.5, ±1, ±2 (clip_grad_value_'s
// bounds), scaled by 1 or 1e-3 (small totals, where clip_grad_norm_'s 1e-6 and max_norm 1e-4
// matter), and in one of eight draws one of inf, -inf, NaN.
struct SetGrad : Command {
  enum class Kind { Plain, LeafRequiringGrad, WithGraph, ViewWithGraph };
  size_t leaf = 0;
  std::string name;  // the leaf's
  Kind kind = Kind::Plain;
  Values values;

  explicit SetGrad(const Model& m) {
    leaf = *in_range<size_t>(0, m.leaves.size());
    name = m.leaves[leaf].name;
    kind = *gen_weighted<Kind>(
        {{3, Kind::Plain}, {1, Kind::LeafRequiringGrad}, {1, Kind::WithGraph}, {1, Kind::ViewWithGraph}});
    const int64_t n = numel(m.leaves[leaf].shape);
    const double scale = *gen_choice<double>({1.0, 1e-3});
    for (int64_t k = 0; k < n; ++k) {
      values.push_back(*gen_weighted<bool>({{3, true}, {1, false}})
                           ? *gen_value(Domain::Real) * scale
                           : *gen_choice<double>({0.5, -0.5, 1.0, -1.0, 2.0, -2.0}));
    }
    if (n > 0 && *gen_weighted<bool>({{7, false}, {1, true}})) {
      values[*in_range<size_t>(0, values.size())] = *gen_choice<double>({kInf, -kInf, kNaN});
    }
  }

  void apply(Model& m) const override {
    const bool graph = kind == Kind::WithGraph || kind == Kind::ViewWithGraph;
    m.leaves[leaf].grad = GradModel{values, 0.0, kind != Kind::Plain, graph, kind == Kind::ViewWithGraph};
  }

  void run(const Model& m, Sut& s) const override {
    const Leaf& l = m.leaves[leaf];
    const bool view = kind == Kind::ViewWithGraph;
    Tensor t = Tensor::from_data(view ? Shape{numel(l.shape)} : l.shape, values, l.dtype, kind != Kind::Plain);
    if (kind != Kind::Plain && kind != Kind::LeafRequiringGrad) t = mul(t, Tensor::scalar(1.0, l.dtype));  // a grad_fn
    if (view) t = reshape(t, l.shape);  // a view of a contiguous tensor (ReshapeAliasBackward0)
    s.leaves[leaf].set_grad(t);
    RC_ASSERT(s.leaves[leaf].grad().is_same(t));
    check_after(*this, m, s);
  }

  void show(std::ostream& os) const override {
    os << name << ".grad = "
       << (kind == Kind::Plain                ? "a tensor"
           : kind == Kind::LeafRequiringGrad ? "a leaf requiring grad"
           : kind == Kind::WithGraph         ? "q * 1"
                                             : "(q * 1).reshape(shape)")
       << ' ';
    show_values(os, values);
  }
};

// NOTE: the leaves go float64 first. PyTorch stacks the per-grad norms with type promotion (the
// total is float64 when any grad is); the engine takes the first grad's dtype, so with float32
// first it would compute the total and the coefficient in float32 (a disagreement left to the
// engine's owners). Float64 first, both agree, and the float32 grads are the ones scaled by a
// coefficient of another dtype.
struct ClipGradNorm : Command {
  std::vector<bool> which;  // over Model::clip_order()
  std::string listed;       // the names of the leaves passed
  double norm_type = *gen_choice<double>({2.0, 1.0, kInf, 3.0, 0.0, 0.5, -1.0, -kInf});
  double max_norm = 0.0;
  bool error_if_nonfinite = *gen::arbitrary<bool>();

  explicit ClipGradNorm(const Model& m) {
    which = draw_mask(m.leaves.size());
    listed = names_of(m, which, m.clip_order());
    // For p = 0, 0.5, -1 and -inf the total is not bounded by the grads' rounding (a residue
    // where the model has 0 adds one to p = 0's count, its square root to p = 0.5's sum, and
    // lifts p < 0's total off 0), so the model could not bound the engine's coefficient: they
    // get max_norm = inf, coefficient 1 (NaN for a non-finite total), and their total is checked
    // on the grads the engine holds.
    const bool norm = norm_type >= 1;
    max_norm = norm ? *gen_choice<double>({1.0, 0.5, 5.0, 100.0, 1e-4, 0.0, kInf}) : kInf;
  }

  std::vector<size_t> targets(const Model& m) const {
    std::vector<size_t> t;
    const std::vector<size_t> order = m.clip_order();
    for (size_t k = 0; k < order.size(); ++k) {
      if (which[k] && m.leaves[order[k]].grad) t.push_back(order[k]);
    }
    return t;
  }

  static std::vector<const Values*> values_of(const Model& m, const std::vector<size_t>& t) {
    std::vector<const Values*> v;
    for (size_t i : t) v.push_back(&m.leaves[i].grad->values);
    return v;
  }

  // The loosest of the default tolerances of the grads' dtypes (their norms are computed in them).
  static Tolerance loosest_of(const Model& m, const std::vector<size_t>& t) {
    Tolerance tol = oracle::default_tolerance(DType::Float64);
    for (size_t i : t) tol = oracle::loosest(tol, oracle::default_tolerance(m.leaves[i].dtype));
    return tol;
  }

  bool raises(const Model& m) const {
    const std::vector<size_t> t = targets(m);
    return error_if_nonfinite && !t.empty() && !std::isfinite(total_norm(values_of(m, t), norm_type));
  }

  void apply(Model& m) const override {
    const std::vector<size_t> t = targets(m);
    if (t.empty() || raises(m)) return;
    const double total = total_norm(values_of(m, t), norm_type);
    const double coef = max_norm / (total + 1e-6);
    const double clamped = std::isnan(coef) ? coef : std::min(coef, 1.0);
    const double delta = coefficient_error(m, t, total, coef);
    for (size_t i : t) {
      GradModel& g = *m.leaves[i].grad;
      const Tolerance tol = oracle::default_tolerance(m.leaves[i].dtype);
      const double magnitude = max_finite_abs(g.values);
      for (double& x : g.values) x *= clamped;
      // |c'·v' − c·v| ≤ c·|v' − v| + |c' − c|·(|v| + |v' − v|) with |c' − c| ≤ delta and
      // |v' − v| ≤ atol + slack + rtol·|v|; c·atol ≤ atol and c·rtol·|v| = rtol·|c·v| stay in the tolerance.
      g.slack = std::isnan(clamped) ? 0.0
                                    : clamped * g.slack + delta * (tol.atol + g.slack + (1 + tol.rtol) * magnitude);
    }
  }

  // A bound on |c' − c| for the engine's clamped coefficient c' against the model's c. Exact
  // (0) when both are: max_norm 0 or inf, a non-finite total (it comes from inf or NaN grads,
  // which both hold exactly). Else, for a norm (p ≥ 1) the engine's total differs from the
  // model's by at most ‖a‖ₚ (Minkowski), a being the elementwise allowances the last check
  // held the grads to, plus its own rounding ρ·t; c = m/(t + 1e-6) moves by at most
  // m·Δt / ((t + 1e-6)(t + 1e-6 − Δt)); min(·, 1) does not increase that and keeps c' in [0, 1];
  // the engine rounds c in its dtype (ρ·c).
  double coefficient_error(const Model& m, const std::vector<size_t>& t, double total, double coef) const {
    if (max_norm == 0 || std::isinf(max_norm) || !std::isfinite(total)) return 0.0;
    const double rho = loosest_of(m, t).rtol;
    Values allowances;
    for (size_t i : t) {
      const GradModel& g = *m.leaves[i].grad;
      const Tolerance tol = oracle::default_tolerance(m.leaves[i].dtype);
      for (double x : g.values) allowances.push_back(tol.atol + g.slack + tol.rtol * std::abs(x));
    }
    const double dt = p_norm(allowances, norm_type) + rho * total;
    const double denominator = total + 1e-6;
    if (dt >= denominator) return 1.0;
    const double dc = max_norm * dt / (denominator * (denominator - dt));
    return std::min(1.0, dc + rho * std::min(coef, 1.0));
  }

  void run(const Model& m, Sut& s) const override {
    std::vector<Tensor> params;
    for (size_t k = 0, n = m.clip_order().size(); k < n; ++k) {
      if (which[k]) params.push_back(s.leaves[m.clip_order()[k]]);
    }
    const std::vector<size_t> t = targets(m);
    // The total the engine must return, from the grads it holds (the last check matched them to
    // the model): exact for the count p = 0 and the square roots of p = 0.5.
    std::vector<Values> held;
    bool any_float64 = false;
    for (size_t i : t) {
      held.push_back(s.leaves[i].grad().to_vector());
      any_float64 = any_float64 || m.leaves[i].dtype == DType::Float64;
    }
    std::vector<const Values*> held_ptrs;
    for (const Values& v : held) held_ptrs.push_back(&v);
    const std::vector<Tensor> before = grads_of(s);
    if (raises(m)) {
      bool raised = false;
      try {
        nn::clip_grad_norm_(params, max_norm, norm_type, true);
      } catch (const Error& e) {
        raised = std::string(e.what()).find("is non-finite") != std::string::npos;
      }
      if (!raised) RC_FAIL("clip_grad_norm_ did not raise 'non-finite' for a non-finite total with error_if_nonfinite");
      check_after(*this, m, s);
      return;
    }
    const Tensor total = nn::clip_grad_norm_(params, max_norm, norm_type, error_if_nonfinite);
    // torch.tensor(0.) without grads; else the promoted dtype of the grads.
    const DType total_dtype = any_float64 ? DType::Float64 : DType::Float32;
    if (total.dim() != 0 || total.dtype() != total_dtype) {
      RC_FAIL("the returned total is " + to_string(total.shape()) + " " + name(total.dtype()) + ", expected [] " +
              name(total_dtype));
    }
    assert_values(total, {}, {t.empty() ? 0.0 : total_norm(held_ptrs, norm_type)}, loosest_of(m, t),
                  "the returned total norm");
    check_after(*this, m, s);
    assert_same_tensors(before, m, s, std::vector<bool>(before.size(), true), "clip_grad_norm_");
  }

  void show(std::ostream& os) const override {
    os << "clip_grad_norm_(" << listed << ", max_norm=" << max_norm << ", norm_type=" << norm_type
       << ", error_if_nonfinite=" << (error_if_nonfinite ? "True" : "False") << ')';
  }
};

struct ClipGradValue : Command {
  std::vector<bool> which;  // over Model::clip_order()
  std::string listed;       // the names of the leaves passed
  double clip_value = *gen_choice<double>({1.0, 0.5, 2.0, 0.0, -1.0});

  explicit ClipGradValue(const Model& m) {
    which = draw_mask(m.leaves.size());
    listed = names_of(m, which, m.clip_order());
  }

  void apply(Model& m) const override {
    const std::vector<size_t> order = m.clip_order();
    for (size_t k = 0; k < order.size(); ++k) {
      std::optional<GradModel>& g = m.leaves[order[k]].grad;
      if (!which[k] || !g) continue;
      // torch.clamp(min=-c, max=c) = min(max(v, -c), c), 1-Lipschitz (slack kept); c < 0 gives c exactly.
      for (double& x : g->values) x = std::isnan(x) ? x : std::min(std::max(x, -clip_value), clip_value);
      if (clip_value < 0) g->slack = 0;
    }
  }

  void run(const Model& m, Sut& s) const override {
    std::vector<Tensor> params;
    for (size_t k = 0, n = m.clip_order().size(); k < n; ++k) {
      if (which[k]) params.push_back(s.leaves[m.clip_order()[k]]);
    }
    const std::vector<Tensor> before = grads_of(s);
    nn::clip_grad_value_(params, clip_value);
    check_after(*this, m, s);
    assert_same_tensors(before, m, s, std::vector<bool>(before.size(), true), "clip_grad_value_");
  }

  void show(std::ostream& os) const override {
    os << "clip_grad_value_(" << listed << ", clip_value=" << clip_value << ')';
  }
};

// ---------------------------------------------------------------- Linear's construction

// parameters() is [weight, bias] (the same tensors), or [weight] without bias; both are leaves
// requiring grad, without .grad, of shapes (out, in) and (out,), uniform in ±1/√in (0 for in = 0,
// PyTorch's bound). With `spread`, the draws also reach beyond ±0.9·bound on each side. For n
// independent uniform draws on [−b, b) P(max < 0.9b) = 0.95ⁿ, so with n ≥ 600 draws per tensor the
// check fails a correct init with probability ≤ 2·2·0.95⁶⁰⁰ < 1.8e-13 per layer.
void check_linear_init(const nn::Linear& layer, int64_t in, int64_t out, bool bias, DType dtype, bool spread) {
  const std::vector<Tensor> params = layer.parameters();
  RC_ASSERT(params.size() == (bias ? 2u : 1u));
  RC_ASSERT(params[0].is_same(layer.weight));
  RC_ASSERT(layer.bias.defined() == bias);
  if (bias) RC_ASSERT(params[1].is_same(layer.bias));
  const double bound = in > 0 ? 1.0 / std::sqrt(static_cast<double>(in)) : 0.0;
  // The bound as the dtype holds it (a draw rounded to float32 may reach float32(bound)).
  const double held = dtype == DType::Float32 ? static_cast<double>(static_cast<float>(bound)) : bound;
  for (const Tensor& p : params) {
    const std::string what = p.is_same(layer.weight) ? "weight" : "bias";
    RC_ASSERT(p.is_leaf() && p.requires_grad() && !p.grad().defined() && p.dtype() == dtype);
    RC_ASSERT(p.shape() == (p.is_same(layer.weight) ? Shape{out, in} : Shape{out}));
    const Values v = p.to_vector();
    for (double x : v) {
      if (!(std::abs(x) <= held)) {
        std::ostringstream os;
        os << "Linear(" << in << ", " << out << ")." << what << " has " << x << ", outside ±1/√in = ±" << bound;
        RC_FAIL(os.str());
      }
    }
    if (spread && bound > 0) {
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      if (*hi < 0.9 * bound || *lo > -0.9 * bound) {
        std::ostringstream os;
        os << "Linear(" << in << ", " << out << ")." << what << "'s " << v.size() << " draws span [" << *lo << ", "
           << *hi << "], not beyond ±0.9·" << bound << " (a correct init fails this with probability < 1e-13)";
        RC_FAIL(os.str());
      }
    }
  }
}

// A case's start: the wide layer whose init is checked, the layer the commands use, the shapes of e and o.
struct Setup {
  int64_t wide_in = 0;  // Linear(wide_in, 600)
  uint64_t wide_seed = 0;
  int64_t in = 1, out = 1;
  bool bias = true;
  uint64_t seed = 0;
  Shape e_shape, o_shape;
};

void showValue(const Setup& s, std::ostream& os) {
  os << "init checked on Linear(" << s.wide_in << ", 600) (generator seed " << s.wide_seed << "); linear = Linear("
     << s.in << ", " << s.out << ", bias=" << (s.bias ? "True" : "False") << ") (generator seed " << s.seed
     << "); e of shape " << to_string(s.e_shape) << ", o of shape " << to_string(s.o_shape);
}

rc::Gen<Setup> gen_setup() {
  return gen::exec([] {
    const auto small_shape = [] {
      Shape s;
      for (int k = 0, rank = *in_range(0, 3); k < rank; ++k) s.push_back(*in_range<int64_t>(1, 4));
      return s;
    };
    Setup s;
    s.wide_in = *in_range<int64_t>(0, 5);
    s.wide_seed = *gen::arbitrary<uint64_t>();
    s.in = *in_range<int64_t>(1, 5);
    s.out = *in_range<int64_t>(1, 5);
    s.bias = *gen::arbitrary<bool>();
    s.seed = *gen::arbitrary<uint64_t>();
    s.e_shape = small_shape();
    s.o_shape = small_shape();
    return s;
  });
}

}  // namespace

void prop_nn_model(DType dtype) {
  const Setup setup = *gen_setup();
  {  // the init's bounds and spread on a wide layer (600 outputs: ≥ 600 draws per tensor for in ≥ 1)
    Generator rng(setup.wide_seed);
    check_linear_init(nn::Linear(setup.wide_in, 600, rng, dtype), setup.wide_in, 600, true, dtype, true);
  }
  Model model;
  model.dtype = dtype;
  model.in = setup.in;
  model.out = setup.out;
  model.bias = setup.bias;
  Generator rng(setup.seed);
  Sut sut(nn::Linear(model.in, model.out, model.bias, rng, dtype));
  check_linear_init(sut.linear, model.in, model.out, model.bias, dtype, false);
  model.weight = sut.linear.weight.to_vector();
  if (model.bias) model.bias_values = sut.linear.bias.to_vector();
  sut.leaves = sut.linear.parameters();
  model.leaves.push_back({"weight", {model.out, model.in}, dtype, std::nullopt});
  if (model.bias) model.leaves.push_back({"bias", {model.out}, dtype, std::nullopt});
  model.leaves.push_back({"e", setup.e_shape, dtype, std::nullopt});
  model.leaves.push_back({"o", setup.o_shape, other_dtype(dtype), std::nullopt});
  for (size_t i = sut.leaves.size(); i < model.leaves.size(); ++i) {
    sut.leaves.push_back(Tensor::zeros(model.leaves[i].shape, model.leaves[i].dtype).requires_grad_());
  }
  // Sequences of 1 to 1 + size·kSequenceScale commands (rc::state::check's are 1 to 1 + size).
  const auto commands = *gen::scale(
      kSequenceScale, rc::state::gen::commands(model, rc::state::gen::execOneOfWithArgs<Forward, Backward, ZeroGrad,
                                                                                       DetachOutput, SetGrad,
                                                                                       ClipGradNorm, ClipGradValue>()));
  rc::state::runAll(commands, model, sut);
}

}  // namespace gradoracle::properties
