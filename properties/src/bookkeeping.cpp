// Structural properties of autograd's bookkeeping and of PyTorch's layout model: what `.grad`,
// detach/detach_/to, grad mode, a node's fan-in and strides must be whatever the op, as
// PyTorch 1.13 defines them (each statement below was checked against torch 1.13). Cases are
// drawn through the registry's rules (generators.hpp), so a new op is covered by registering it;
// checks go through the engine's public API only, and state relations (transpose swaps strides,
// reshape of a contiguous tensor is a view) rather than re-deriving the engine's layout code.
#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <variant>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "gradoracle/oracle/tolerance.hpp"
#include "gradoracle/properties/properties.hpp"
#include "structural_checks.hpp"

namespace gradoracle::properties {

using oracle::Tolerance;
using registry::Domain;
using registry::OpSpec;
using registry::ShapeRule;
using Strides = std::vector<int64_t>;

namespace {

// PyTorch 1.13's messages, as torch 1.13 raises them.
constexpr std::string_view kNonLeafRequiresGradMessage =
    "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph "
    "that doesn't require differentiation use var_no_grad = var.detach().";
constexpr std::string_view kNoGradBackwardMessage =
    "element 0 of tensors does not require grad and does not have a grad_fn";
// PyTorch's message for detach_() of a view begins so (and goes on with advice for DDP users).
constexpr std::string_view kDetachViewMessagePrefix = "Can't detach views in-place. Use detach() instead.";

using detail::Grads;
using detail::assert_close;
using detail::assert_grads_close;
using detail::grads_of;


void assert_strides(const Tensor& t, const Strides& expected, const std::string& what) {
  if (t.stride() != expected) {
    RC_FAIL(what + ": strides " + to_string(t.stride()) + ", PyTorch's " + to_string(expected) + " (shape " +
            to_string(t.shape()) + ")");
  }
}

// RC_FAIL unless `f` raises an autograd Error whose message begins with `message`.
template <class F>
void assert_raises(F&& f, std::string_view message, const std::string& what) {
  try {
    f();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Autograd && std::string_view(e.what()).starts_with(message)) return;
    RC_FAIL(what + ": raised \"" + e.what() + "\"; PyTorch raises \"" + std::string(message) + "\"");
  }
  RC_FAIL(what + ": did not raise; PyTorch raises \"" + std::string(message) + "\"");
}

// PyTorch's strides of a fresh (contiguous) tensor: stride[d] = Π_{j>d} max(size_j, 1), so a
// zero-size dim counts as 1 (torch.empty(2, 0, 3).stride() == (3, 3, 1)).
Strides default_strides(const Shape& shape) {
  Strides out(shape.size());
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    out[d] = stride;
    stride *= std::max<int64_t>(shape[d], 1);
  }
  return out;
}

// PyTorch's is_contiguous: a tensor of no elements is contiguous; otherwise it is iff its
// strides equal the default strides at every dim of size != 1 (a size-1 dim's stride is never
// used to address an element, so any value is allowed there).
bool contiguous_by_rule(const Shape& shape, const Strides& strides) {
  if (numel(shape) == 0) return true;
  const Strides dflt = default_strides(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] != 1 && strides[d] != dflt[d]) return false;
  }
  return true;
}

bool has_size_one_dim(const Shape& shape) { return std::find(shape.begin(), shape.end(), 1) != shape.end(); }

DType other_dtype(DType d) { return d == DType::Float64 ? DType::Float32 : DType::Float64; }

// `v` as the other dtype stores it (float64 -> float32 rounds to nearest; float32 -> float64 is exact).
std::vector<double> cast_values(std::vector<double> v, DType to) {
  if (to == DType::Float32) {
    for (double& x : v) x = static_cast<double>(static_cast<float>(x));
  }
  return v;
}



// The fuzzable ops of the built-in table whose ShapeRule is one of `rules`.
std::vector<const OpSpec*> ops_with_rule(std::initializer_list<ShapeRule> rules) {
  std::vector<const OpSpec*> out;
  for (const OpSpec* op : fuzzable_ops()) {
    if (std::find(rules.begin(), rules.end(), op->shape) != rules.end()) out.push_back(op);
  }
  return out;
}

// The tensor arguments of an op case as fresh leaves, in order.
std::vector<Tensor> case_leaves(const OpCase& c) {
  std::vector<Tensor> leaves;
  for (const ArgCase& a : c.args) {
    if (const auto* t = std::get_if<TensorCase>(&a)) leaves.push_back(make_tensor(*t, c.dtype));
  }
  return leaves;
}

// The case's arguments with its tensors taken from `leaves` (case_leaves' order; extra ones ignored).
std::vector<registry::Arg> case_args(const OpCase& c, const std::vector<Tensor>& leaves) {
  std::vector<registry::Arg> args;
  size_t next = 0;
  for (const ArgCase& a : c.args) {
    if (std::holds_alternative<TensorCase>(a)) {
      args.emplace_back(leaves[next++]);
    } else {
      args.emplace_back(std::get<double>(a));
    }
  }
  return args;
}

// ---- programs: a ProgramCase run on the engine, every binding kept ----

struct Evaluated {
  std::map<std::string, Tensor> env;  // leaves and step results by name
  std::vector<Tensor> leaves;         // in the program's order
};

Evaluated evaluate(const ProgramCase& p) {
  Evaluated e;
  for (const auto& [name, leaf] : p.leaves) {
    e.leaves.push_back(make_tensor(leaf, p.dtype));
    e.env[name] = e.leaves.back();
  }
  for (const ProgramCase::Step& s : p.steps) {
    std::vector<registry::Arg> args;
    for (const ProgramCase::Operand& a : s.args) {
      if (const auto* n = std::get_if<std::string>(&a)) {
        args.emplace_back(e.env.at(*n));
      } else {
        args.emplace_back(std::get<double>(a));
      }
    }
    e.env[s.let] = s.op->call(args, s.attrs);
  }
  return e;
}

// ---- view chains: transpose, t and reshape steps drawn through the registry's rules ----

struct ViewStep {
  const OpSpec* op;
  registry::Attrs attrs;
};

Tensor apply(const ViewStep& s, const Tensor& a) { return s.op->call({a}, s.attrs); }

// min_steps..max_steps view ops (fewer where none accepts the shape), each drawn among those
// whose rule accepts its input's shape, with the attrs that rule draws.
std::vector<ViewStep> draw_view_chain(Shape shape, int min_steps, int max_steps) {
  const auto views = ops_with_rule({ShapeRule::Transpose, ShapeRule::Transpose2D, ShapeRule::Reshape});
  std::vector<ViewStep> chain;
  const int steps = *in_range(min_steps, max_steps + 1);
  for (int i = 0; i < steps; ++i) {
    std::vector<const OpSpec*> fitting;
    for (const OpSpec* op : views) {
      if (registry::accepts_first(*op, shape)) fitting.push_back(op);
    }
    if (fitting.empty()) break;
    const OpSpec* op = *gen_choice(fitting);
    chain.push_back({op, (*gen_layout(*op, shape)).attrs});
    NoGradGuard no_grad;
    shape = apply(chain.back(), Tensor::zeros(shape, DType::Float64)).shape();
  }
  return chain;
}

// The tensors along a chain: the input, then each step's result.
std::vector<Tensor> run_chain(const Tensor& x, const std::vector<ViewStep>& chain) {
  std::vector<Tensor> out = {x};
  for (const ViewStep& s : chain) out.push_back(apply(s, out.back()));
  return out;
}

std::string describe(const ViewStep& s) {
  std::ostringstream os;
  os << s.op->name << ' ';
  show_attrs(s.attrs, os);
  return os.str();
}

// What one view step must give, by its rule:
//  - transpose(a, d0, d1) swaps a's sizes and strides at d0 and d1 and is a view;
//  - t(a) does so for d0, d1 = 0, 1 on a 2-D a, leaves a 0-d or 1-D a's strides, and is a view;
//  - reshape of a contiguous a is a view, contiguous (by the rule above: PyTorch's computeStride
//    may keep a size-1 dim's odd stride, so not always the default strides); a reshape that
//    copies (not a view) gives a fresh tensor's default strides.
void check_view_step(const ViewStep& s, const Tensor& a, const Tensor& b) {
  const std::string what = describe(s) + " of shape " + to_string(a.shape()) + ", strides " + to_string(a.stride());
  Strides swapped = a.stride();
  Shape swapped_shape = a.shape();
  auto swap_dims = [&](int64_t d0, int64_t d1) {
    if (a.dim() == 0) return;
    const auto i = static_cast<size_t>(d0 < 0 ? d0 + a.dim() : d0), j = static_cast<size_t>(d1 < 0 ? d1 + a.dim() : d1);
    std::swap(swapped[i], swapped[j]);
    std::swap(swapped_shape[i], swapped_shape[j]);
  };
  switch (s.op->shape) {
    case ShapeRule::Transpose:
      swap_dims(registry::attr_int(s.attrs, "dim0", 0), registry::attr_int(s.attrs, "dim1", 0));
      break;
    case ShapeRule::Transpose2D:
      if (a.dim() == 2) swap_dims(0, 1);
      break;
    case ShapeRule::Reshape:
      if (a.is_contiguous()) {
        if (!b.is_view()) RC_FAIL(what + ": reshape of a contiguous tensor is a view in PyTorch");
        if (!contiguous_by_rule(b.shape(), b.stride()))
          RC_FAIL(what + ": reshape of a contiguous tensor gives strides " + to_string(b.stride()) + ", not contiguous");
      }
      if (!b.is_view()) assert_strides(b, default_strides(b.shape()), what + ": a reshape that copies");
      return;
    default:
      return;
  }
  RC_ASSERT(b.shape() == swapped_shape);
  assert_strides(b, swapped, what);
  if (!b.is_view()) RC_FAIL(what + ": " + s.op->name + " is a view in PyTorch, is_view() false");
}

// Layout facts of one tensor `a` of a chain, with `b` made like it (same shape and strides):
//  - is_contiguous() is PyTorch's rule (contiguous_by_rule);
//  - detach() and to(other dtype) keep the strides (to's memory_format is preserve_format);
//  - an elementwise op over operands of a's shape and strides (TensorIterator's fast setup):
//    contiguous operands give the default strides; non-overlapping dense ones of one layout
//    give that layout. Checked where PyTorch's rule is that simple: numel > 0 and no dim of
//    size 1 (with size-1 dims a 4-D input goes through the channels-last rule instead).
void check_layout_facts(const Tensor& a, const Tensor& b, const OpSpec& unary, const OpSpec& binary,
                        const std::string& what) {
  const Strides st = a.stride();
  const std::string here = what + " (shape " + to_string(a.shape()) + ", strides " + to_string(st) + ")";
  if (a.is_contiguous() != contiguous_by_rule(a.shape(), st)) {
    RC_FAIL(here + ": is_contiguous() " + (a.is_contiguous() ? "true" : "false") + ", PyTorch's rule says " +
            (a.is_contiguous() ? "false" : "true"));
  }
  assert_strides(a.detach(), st, here + ": detach()");
  assert_strides(a.to(other_dtype(a.dtype())), st, here + ": to(" + std::string(name(other_dtype(a.dtype()))) + ")");
  std::optional<Strides> expected;
  if (a.is_contiguous()) {
    expected = default_strides(a.shape());
  } else if (a.numel() > 0 && !has_size_one_dim(a.shape())) {
    expected = st;
  }
  if (!expected) return;
  RC_ASSERT(b.stride() == st);
  assert_strides(unary.call({a}, {}), *expected, here + ": " + unary.name);
  assert_strides(binary.call({a, b}, {}), *expected, here + ": " + binary.name + " of two tensors of that layout");
}

}  // namespace

// ---------------------------------------------------------------- .grad

// After backward, a leaf's .grad (PyTorch 1.13, without create_graph):
//  - requires_grad false, no grad_fn, not a view, the leaf's shape, dtype and strides;
//  - its own storage: it aliases neither an upstream passed to backward (upstream.fill_()
//    afterwards leaves it unchanged) nor a leaf, an intermediate or another leaf's .grad;
//  - backward leaves the upstreams unchanged;
//  - a later backward accumulates into it in place: .grad stays the same tensor (torch: the
//    same object, the same data_ptr) and holds the sum.
// The upstream may itself require grad: .grad still does not.
void prop_grad_bookkeeping(DType dtype) {
  ProgramCase p = *gen_program(dtype);
  for (auto& [leaf_name, leaf] : p.leaves) {
    if (!leaf.dtype) leaf.requires_grad = *gen_weighted<bool>({{3, true}, {1, false}});  // an index never does
  }
  Evaluated e = evaluate(p);
  std::vector<Tensor> roots, upstreams;
  std::vector<std::vector<double>> upstream_values;
  for (const std::string& r : p.roots) {
    const Tensor& root = e.env.at(r);
    if (!root.requires_grad()) continue;
    roots.push_back(root);
    const bool upstream_requires_grad = *gen_weighted<bool>({{3, false}, {1, true}});
    upstreams.push_back(Tensor::from_data(root.shape(), *gen_values(Domain::Real, root.numel()), dtype,
                                          upstream_requires_grad));
    upstream_values.push_back(upstreams.back().to_vector());
  }
  auto backward_all = [&] {
    for (size_t i = 0; i < roots.size(); ++i) roots[i].backward(upstreams[i], /*retain_graph=*/true);
  };
  auto check_grads = [&](const std::string& when) {
    for (size_t i = 0; i < e.leaves.size(); ++i) {
      const Tensor& leaf = e.leaves[i];
      const Tensor g = leaf.grad();
      if (!g.defined()) continue;
      const std::string what = when + ", .grad of leaf " + p.leaves[i].first;
      if (g.requires_grad()) RC_FAIL(what + ": requires_grad true");
      if (g.grad_fn() != nullptr) RC_FAIL(what + ": has a grad_fn (" + g.grad_fn_name() + ")");
      if (g.is_view()) RC_FAIL(what + ": is a view");
      RC_ASSERT(g.shape() == leaf.shape());
      RC_ASSERT(g.dtype() == leaf.dtype());
      assert_strides(g, leaf.stride(), what);
      for (const auto& [name, t] : e.env) {
        if (g.shares_storage(t)) RC_FAIL(what + ": shares storage with " + name);
      }
      for (size_t j = 0; j < upstreams.size(); ++j) {
        if (g.shares_storage(upstreams[j])) RC_FAIL(what + ": shares storage with the upstream of root " + p.roots[j]);
      }
      for (size_t j = 0; j < e.leaves.size(); ++j) {
        if (j != i && e.leaves[j].grad().defined() && g.shares_storage(e.leaves[j].grad()))
          RC_FAIL(what + ": shares storage with the .grad of leaf " + p.leaves[j].first);
      }
    }
    for (size_t j = 0; j < upstreams.size(); ++j) {
      assert_close(upstreams[j].to_vector(), upstream_values[j], Tolerance{0.0, 0.0},
                   when + ": the upstream of a root after backward");
    }
  };

  backward_all();
  check_grads("first backward");
  std::vector<Tensor> first_grads;
  Grads first_values = grads_of(e.leaves);
  for (const Tensor& leaf : e.leaves) first_grads.push_back(leaf.grad());
  for (Tensor& u : upstreams) u.fill_(1e3);
  assert_grads_close(grads_of(e.leaves), first_values, Tolerance{0.0, 0.0}, "after upstream.fill_(1000)");

  for (size_t i = 0; i < upstreams.size(); ++i) {
    upstreams[i] = Tensor::from_data(roots[i].shape(), upstream_values[i], dtype);
  }
  backward_all();
  check_grads("second backward");
  Grads doubled = first_values;
  for (auto& g : doubled) {
    if (g) {
      for (double& x : *g) x *= 2;
    }
  }
  for (size_t i = 0; i < e.leaves.size(); ++i) {
    if (first_grads[i].defined() && !e.leaves[i].grad().is_same(first_grads[i])) {
      RC_FAIL("leaf " + p.leaves[i].first + ": the second backward replaced .grad instead of accumulating into it");
    }
  }
  // The same backward twice: the grads double (summation order aside: several roots).
  assert_grads_close(grads_of(e.leaves), doubled, oracle::gradcheck_tolerance(dtype), "second backward");
}

// ---------------------------------------------------------------- grad mode and misuse

// Grad mode (PyTorch 1.13):
//  - with grad mode on, an op's result requires grad iff some tensor argument does, and then has
//    a grad_fn (it is not a leaf); otherwise it is a leaf without grad_fn;
//  - under NoGradGuard (torch.no_grad()) no result requires grad or has a grad_fn, whatever its
//    arguments; leaving the guard restores grad mode;
//  - requires_grad_(true) on a non-leaf is a no-op, requires_grad_(false) raises PyTorch's error;
//  - backward() of a tensor that does not require grad raises "element 0 of tensors does not
//    require grad ..." (with or without an upstream, whatever its numel).
void prop_grad_mode(DType dtype) {
  const OpSpec* op = *gen_choice(fuzzable_ops());
  OpCase c = *gen_op_case(*op, dtype);
  bool any = false;
  for (ArgCase& a : c.args) {
    if (auto* t = std::get_if<TensorCase>(&a); t && !t->dtype) {  // an index or condition never requires grad
      t->requires_grad = *gen_weighted<bool>({{2, true}, {1, false}});
      any = any || t->requires_grad;
    }
  }
  const std::string what = op->name + " (" + (any ? "some" : "no") + " argument requiring grad)";
  const Tensor y = call_op(c, make_args(c));
  if (y.requires_grad() != any) RC_FAIL(what + ": result requires_grad " + (any ? "false" : "true"));
  if ((y.grad_fn() != nullptr) != any) RC_FAIL(what + (any ? ": result has no grad_fn" : ": result has a grad_fn"));
  RC_ASSERT(y.is_leaf() == !any);

  Tensor untracked;
  {
    NoGradGuard no_grad;
    untracked = call_op(c, make_args(c));
    RC_ASSERT(!grad_mode_enabled());
  }
  RC_ASSERT(grad_mode_enabled());
  if (untracked.requires_grad() || untracked.grad_fn() != nullptr) {
    RC_FAIL(what + " under NoGradGuard: the result requires grad or has a grad_fn");
  }

  if (any) {
    Tensor tracked = y;
    const auto node = tracked.grad_fn();
    tracked.requires_grad_(true);
    RC_ASSERT(tracked.requires_grad() && tracked.grad_fn() == node);
    assert_raises([&] { tracked.requires_grad_(false); }, kNonLeafRequiresGradMessage,
                  what + ": requires_grad_(false) on the result (a non-leaf)");
    RC_ASSERT(tracked.requires_grad());
  }

  // Tensors that do not require grad: the untracked result, its sum (0-d), a detached result.
  for (const Tensor& t : {untracked, sum(untracked), y.detach(), any ? Tensor() : y}) {
    if (!t.defined()) continue;
    const bool implicit = t.numel() == 1 && *gen_weighted<bool>({{1, true}, {1, false}});
    const Tensor u = implicit ? Tensor() : Tensor::ones(t.shape(), dtype);
    assert_raises([&] { t.backward(u); }, kNoGradBackwardMessage,
                  what + ": backward(" + (implicit ? "" : "upstream") + ") of a " + to_string(t.shape()) +
                      " tensor that does not require grad");
  }
}

// ---------------------------------------------------------------- detach, detach_, to

// On a tensor y (a leaf, a view of one, or an op's result, with or without grad):
//  - d = y.detach() shares y's storage (a write through either is seen by the other), keeps
//    its shape, strides and values, does not require grad, has no grad_fn, is not a view;
//  - z = y.to(other dtype) keeps the strides (preserve_format), holds the cast values, requires
//    grad iff y does and then has grad_fn ToCopyBackward0; y.to(y's dtype) is y itself;
//    backward through to() gives y's inputs the grads the upstream cast to y's dtype gives
//    (ToCopyBackward0: g.to(source dtype)), in y's dtype;
//  - y.detach_() raises PyTorch's error on a view (y unchanged); otherwise it returns y,
//    which then does not require grad and has no grad_fn. detach_() of a detach() is allowed.
void prop_detach_and_to(DType dtype) {
  const Shape shape = *gen_shape();
  const std::vector<ViewStep> chain = draw_view_chain(shape, 0, 2);
  const auto unary_ops = ops_with_rule({ShapeRule::Unary});
  const OpSpec* unary = *gen_weighted<const OpSpec*>({{1, *gen_choice(unary_ops)}, {1, nullptr}});
  const bool requires_grad = *gen_weighted<bool>({{3, true}, {1, false}});
  const std::vector<double> values = *gen_values(unary ? unary->domain_of(0) : Domain::Real, numel(shape));

  Tensor x = Tensor::from_data(shape, values, dtype, requires_grad);
  Tensor y = run_chain(x, chain).back();
  if (unary) y = unary->call({y}, {});
  std::string what = "x " + to_string(shape);
  for (const ViewStep& s : chain) what += ", " + describe(s);
  if (unary) what += ", " + unary->name;
  const bool view_last = !unary && !chain.empty() && chain.back().op->shape != ShapeRule::Reshape;
  if (view_last && !y.is_view()) RC_FAIL(what + ": the result of " + chain.back().op->name + " is a view in PyTorch");
  if ((chain.empty() || unary) && y.is_view()) RC_FAIL(what + ": is_view() true, but it is not made by a view op");

  const Tensor d = y.detach();
  what += " (shape " + to_string(y.shape()) + ", strides " + to_string(y.stride()) + ")";
  if (!d.shares_storage(y)) RC_FAIL(what + ": detach() does not share storage with its source");
  RC_ASSERT(d.shape() == y.shape());
  assert_strides(d, y.stride(), what + ": detach()");
  if (d.requires_grad() || d.grad_fn() != nullptr || d.is_view() || !d.is_leaf()) {
    RC_FAIL(what + ": detach() requires grad, has a grad_fn or is a view");
  }
  assert_close(d.to_vector(), y.to_vector(), Tolerance{0.0, 0.0}, what + ": detach()'s values");

  const DType other = other_dtype(dtype);
  const Tensor z = y.to(other);
  RC_ASSERT(z.dtype() == other);
  RC_ASSERT(z.shape() == y.shape());
  assert_strides(z, y.stride(), what + ": to(" + std::string(name(other)) + ")");
  assert_close(z.to_vector(), cast_values(y.to_vector(), other), Tolerance{0.0, 0.0}, what + ": to()'s values");
  RC_ASSERT(!z.shares_storage(y));
  RC_ASSERT(y.to(dtype).is_same(y));
  RC_ASSERT(z.requires_grad() == y.requires_grad());
  if (y.requires_grad()) {
    RC_ASSERT(z.grad_fn_name() == "ToCopyBackward0");
    const std::vector<double> u = *gen_values(Domain::Real, z.numel());
    z.backward(Tensor::from_data(z.shape(), u, other), /*retain_graph=*/true);
    RC_ASSERT(x.grad().defined());
    RC_ASSERT(x.grad().dtype() == dtype);
    const Tensor through_to = x.grad().clone();
    x.set_grad(Tensor());
    y.backward(Tensor::from_data(y.shape(), cast_values(u, other), dtype));
    assert_close(through_to.to_vector(), x.grad().to_vector(), Tolerance{0.0, 0.0},
                 what + ": grad through to(" + std::string(name(other)) + ") vs the upstream cast back");
  }

  if (y.numel() > 0) {
    Tensor writer = y.detach();
    writer.fill_(0.25);
    assert_close(y.to_vector(), std::vector<double>(static_cast<size_t>(y.numel()), 0.25), Tolerance{0.0, 0.0},
                 what + ": y after y.detach().fill_(0.25)");
    y.fill_(-0.5);
    assert_close(d.to_vector(), std::vector<double>(static_cast<size_t>(y.numel()), -0.5), Tolerance{0.0, 0.0},
                 what + ": y.detach() after y.fill_(-0.5)");
  }

  Tensor detached = d;
  RC_ASSERT(detached.detach_().is_same(d));
  if (y.is_view()) {
    const bool had_grad = y.requires_grad();
    assert_raises([&] { y.detach_(); }, kDetachViewMessagePrefix, what + ": detach_() of a view");
    RC_ASSERT(y.requires_grad() == had_grad);
  } else {
    Tensor& r = y.detach_();
    RC_ASSERT(r.is_same(y));
    if (y.requires_grad() || y.grad_fn() != nullptr) RC_FAIL(what + ": after detach_(), requires grad or has a grad_fn");
  }
}

// ---------------------------------------------------------------- fan-in

// A node consumed k times (k in 1..5, by random ops, some taking it twice) receives the sum of
// its consumers' grads: one backward of Σ_i sum(c_i · u_i) (no retain_graph) gives the leaves
// what k backwards of each sum(c_i · u_i) alone, accumulating, give (backward is linear in the
// upstream). A scheduler that runs a node before all its consumers are done either runs it
// twice (a node that saved tensors then raises: its graph was freed) or passes on a partial sum.
namespace {
struct FromProducer {};  // an argument that is the consumed node v itself
using ConsumerArg = std::variant<FromProducer, TensorCase, double>;
struct Consumer {
  const OpSpec* op;
  registry::Attrs attrs;
  std::vector<ConsumerArg> args;
  std::vector<double> upstream;  // u_i, of the consumer's result shape
};

// v, or v mapped into [0.5, 1.5] (sin(v)·0.5 + 1, as the program generator's adapter) where the
// consumer's argument has a domain other than the reals.
Tensor adapted(const Tensor& v, Domain want) { return want == Domain::Real ? v : add(mul(sin(v), 0.5), 1.0); }

Tensor consume(const Consumer& c, const Tensor& v, std::vector<Tensor>& leaves) {
  std::vector<registry::Arg> args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (std::holds_alternative<FromProducer>(c.args[i])) {
      args.emplace_back(adapted(v, c.op->domain_of(i)));
    } else if (const auto* t = std::get_if<TensorCase>(&c.args[i])) {
      leaves.push_back(make_tensor(*t, v.dtype()));
      args.emplace_back(leaves.back());
    } else {
      args.emplace_back(std::get<double>(c.args[i]));
    }
  }
  return c.op->call(args, c.attrs);
}

Tensor weighted_sum(const Consumer& c, const Tensor& y) {
  return sum(mul(y, Tensor::from_data(y.shape(), c.upstream, y.dtype())));
}
}  // namespace

void prop_fan_in(DType dtype) {
  const OpCase producer = *gen_op_case(**gen_choice(fuzzable_ops()), dtype);
  const Shape v_shape = output_shape(producer);
  std::vector<const OpSpec*> fitting;
  for (const OpSpec* op : fuzzable_ops()) {
    if (registry::accepts_first(*op, v_shape)) fitting.push_back(op);
  }
  RC_PRE(!fitting.empty());
  const int k = *in_range(1, 6);
  std::vector<Consumer> consumers;
  std::string what = producer.op->name + " consumed by";
  for (int i = 0; i < k; ++i) {
    Consumer c{*gen_choice(fitting), {}, {}, {}};
    const registry::OpLayout layout = *gen_layout(*c.op, v_shape);
    c.attrs = layout.attrs;
    for (size_t a = 0; a < layout.args.size(); ++a) {
      if (a < layout.constants.size() && layout.constants[a]) {  // an index or a condition
        const registry::ReferenceTensor& k = *layout.constants[a];
        c.args.emplace_back(TensorCase{k.shape, k.data, false, k.dtype});
      } else if (!layout.args[a]) {
        c.args.emplace_back(*gen_value(c.op->domain_of(a)));
      } else if (a == layout.first_at || (*layout.args[a] == v_shape && *gen_weighted<bool>({{2, false}, {1, true}}))) {
        c.args.emplace_back(FromProducer{});
      } else {
        c.args.emplace_back(*gen_tensor(*layout.args[a], c.op->domain_of(a)));
      }
    }
    std::vector<Tensor> scratch;
    Tensor shape_probe;
    {
      NoGradGuard no_grad;
      shape_probe = consume(c, Tensor::zeros(v_shape, dtype), scratch);
    }
    c.upstream = *gen_values(Domain::Real, shape_probe.numel());
    what += " " + c.op->name;
    consumers.push_back(std::move(c));
  }

  // One backward over every consumer, the graph freed as it goes (retain_graph false).
  std::vector<Tensor> together = case_leaves(producer);
  {
    const Tensor v = call_op(producer, case_args(producer, together));
    Tensor root;
    for (const Consumer& c : consumers) {
      const Tensor s = weighted_sum(c, consume(c, v, together));
      root = root.defined() ? add(root, s) : s;
    }
    root.backward();
  }
  // Each consumer alone, on fresh graphs over the same leaves' values, accumulating.
  std::vector<Tensor> apart = case_leaves(producer);
  const size_t producer_leaves = apart.size();
  for (const Consumer& c : consumers) {
    std::vector<Tensor> args(apart.begin(), apart.begin() + static_cast<std::ptrdiff_t>(producer_leaves));
    const Tensor v = call_op(producer, case_args(producer, args));
    std::vector<Tensor> fresh;
    weighted_sum(c, consume(c, v, fresh)).backward();
    apart.insert(apart.end(), fresh.begin(), fresh.end());
  }
  assert_grads_close(grads_of(together), grads_of(apart), oracle::gradcheck_tolerance(dtype),
                     what + " (one backward vs one per consumer)");
}

// ---------------------------------------------------------------- layout

// Strides as PyTorch 1.13 gives them (the engine models them; storage is row-major always):
//  - a fresh tensor has default_strides(shape), zero-size dims included;
//  - along a random chain of transpose/t/reshape, each step as check_view_step states, and on
//    every tensor of the chain the facts of check_layout_facts (is_contiguous's rule, detach
//    and to keep strides, elementwise ops keep one shared layout).
void prop_layout(DType dtype) {
  const Shape shape = *gen_shape();
  const Tensor fresh = Tensor::zeros(shape, dtype);
  assert_strides(fresh, default_strides(shape), "a fresh tensor");
  RC_ASSERT(fresh.is_contiguous());
  RC_ASSERT(!fresh.is_view());

  const std::vector<ViewStep> chain = draw_view_chain(shape, 1, 4);
  const OpSpec* unary = *gen_choice(ops_with_rule({ShapeRule::Unary}));
  const OpSpec* binary = *gen_choice(ops_with_rule({ShapeRule::Broadcast}));
  auto leaf = [&] {
    const bool requires_grad = *gen_weighted<bool>({{1, true}, {1, false}});
    return Tensor::from_data(shape, *gen_values(Domain::Real, numel(shape)), dtype, requires_grad);
  };
  const std::vector<Tensor> as = run_chain(leaf(), chain);
  const std::vector<Tensor> bs = run_chain(leaf(), chain);
  std::string what = "x " + to_string(shape);
  check_layout_facts(as[0], bs[0], *unary, *binary, what);
  for (size_t i = 0; i < chain.size(); ++i) {
    check_view_step(chain[i], as[i], as[i + 1]);
    what += ", " + describe(chain[i]);
    check_layout_facts(as[i + 1], bs[i + 1], *unary, *binary, what);
  }
}

std::vector<NamedProperty> bookkeeping_properties() {
  return {
      {"grad_bookkeeping", prop_grad_bookkeeping},
      {"grad_mode", prop_grad_mode},
      {"detach_and_to", prop_detach_and_to},
      {"fan_in", prop_fan_in},
      {"layout", prop_layout},
  };
}

}  // namespace gradoracle::properties
