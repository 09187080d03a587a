#include "gradoracle/properties/generators.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace gradoracle::properties {

using registry::AttrSpec;
using registry::AttrType;
using registry::Domain;
using registry::OpSpec;
using registry::ShapeRule;
namespace gen = rc::gen;

namespace {

// prefix followed by i, e.g. x0 (built by append: GCC 12's -Wrestrict misfires on "x" + to_string).
std::string numbered(const char* prefix, size_t i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

// A dim in 0..6, small ones likelier; shrinks towards 0, then 1.
rc::Gen<int64_t> gen_dim() {
  return gen_weighted<int64_t>(
      {{1, int64_t{0}}, {4, int64_t{1}}, {4, int64_t{2}}, {3, int64_t{3}}, {2, int64_t{4}}, {1, int64_t{5}}, {1, int64_t{6}}});
}

// A dim in 1..max(1, limit): a new dim that keeps a tensor within kMaxNumel given the product of the others.
int64_t fit(int64_t dim, int64_t others) {
  if (others <= 0) return dim;
  return std::max<int64_t>(std::min<int64_t>(dim, kMaxNumel / others), dim == 0 ? 0 : 1);
}

Shape trim(Shape s) {
  while (numel(s) > kMaxNumel) {
    auto it = std::max_element(s.begin(), s.end());
    --*it;
  }
  return s;
}

// A dim index valid for `rank`, as PyTorch wraps it: 0, 1, ..., then the negative forms.
rc::Gen<int64_t> gen_dim_index(int64_t rank) {
  std::vector<int64_t> dims;
  const int64_t r = std::max<int64_t>(rank, 1);  // a 0-d tensor takes dim 0 and -1
  for (int64_t d = 0; d < r; ++d) dims.push_back(d);
  for (int64_t d = -1; d >= -r; --d) dims.push_back(d);
  return gen_choice(dims);
}

// k in [0, 2n) as 0, -1, 1, -2, 2, ...: shrinks towards 0 through small magnitudes.
int64_t zigzag(int64_t k) { return (k % 2) ? -(k + 1) / 2 : k / 2; }

bool is_kink_domain(Domain d) { return d == Domain::NonZero || d == Domain::AwayFromKink; }

// Whether a value known to lie in `have` lies in `want`. Unit stands for the adapter's [0.5, 1.5].
enum class Range { Real, Positive, NonZero, AwayFromKink, Bounded, Unit };
Range range_of(Domain d) {
  switch (d) {
    case Domain::Real: return Range::Real;
    case Domain::Positive: return Range::Positive;
    case Domain::NonZero: return Range::NonZero;
    case Domain::AwayFromKink: return Range::AwayFromKink;
    case Domain::Bounded: return Range::Bounded;
  }
  return Range::Real;
}
bool satisfies(Range have, Domain want) {
  if (want == Domain::Real || have == Range::Unit) return true;
  switch (have) {
    case Range::Real: return false;
    case Range::Positive: return true;  // [0.25, 3]
    case Range::NonZero:
    case Range::AwayFromKink: return is_kink_domain(want);
    case Range::Bounded: return want == Domain::Bounded;
    case Range::Unit: return true;
  }
  return false;
}

// Optional attrs are left out (the op's default) a third of the time.
rc::Gen<bool> gen_present() { return gen_weighted<bool>({{1, false}, {2, true}}); }

// Attrs no ShapeRule sets, from their AttrSpec alone.
void fill_generic_attrs(const OpSpec& op, registry::Attrs& attrs) {
  for (const AttrSpec& spec : op.attrs) {
    if (attrs.count(spec.name)) continue;
    if (!spec.required && !*gen_present()) continue;
    switch (spec.type) {
      case AttrType::Bool: attrs[spec.name] = *gen::arbitrary<bool>(); break;
      case AttrType::Choice:
        if (!spec.choices.empty()) attrs[spec.name] = *gen_choice(spec.choices);
        break;
      case AttrType::Number: attrs[spec.name] = *gen_choice<double>({1.0, 2.0, 0.5, 3.0}); break;
      case AttrType::Int:
      case AttrType::IntOrList:
      case AttrType::IntList: break;  // dims and shapes need the ShapeRule's meaning
    }
  }
}

rc::Gen<Shape> gen_reshape_target(const Shape& s) {
  const int64_t n = numel(s);
  std::vector<Shape> targets = {Shape{n}};
  Shape rev(s.rbegin(), s.rend());
  targets.push_back(rev);
  if (n > 0) targets.push_back(Shape{-1});
  for (size_t i = 0; i <= s.size(); ++i) {  // a 1 inserted
    Shape t = s;
    t.insert(t.begin() + static_cast<std::ptrdiff_t>(i), 1);
    targets.push_back(t);
  }
  for (size_t i = 0; i + 1 < s.size(); ++i) {  // two adjacent dims merged, or -1 for one of them
    Shape t = s;
    t[i] *= t[i + 1];
    t.erase(t.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    targets.push_back(t);
    if (n > 0) {
      Shape u = s;
      u[i] = -1;
      targets.push_back(u);
    }
  }
  return gen_choice(targets);
}

}  // namespace

rc::Gen<Shape> gen_shape(int min_rank, int max_rank) {
  return gen::mapcat(in_range(min_rank, max_rank + 1), [](int rank) {
    return gen::map(gen::container<Shape>(static_cast<size_t>(rank), gen_dim()), trim);
  });
}

rc::Gen<Shape> gen_broadcast_partner(const Shape& full) {
  return gen::exec([full] {
    const auto drop = static_cast<size_t>(*in_range<int64_t>(0, static_cast<int64_t>(full.size()) + 1));
    Shape s(full.begin() + static_cast<std::ptrdiff_t>(drop), full.end());
    for (int64_t& d : s) {
      if (*gen_weighted<bool>({{3, false}, {1, true}})) d = 1;
    }
    return s;
  });
}

rc::Gen<BroadcastPair> gen_broadcast_pair() {
  return gen::mapcat(gen_shape(), [](const Shape& full) {
    return gen::build<BroadcastPair>(gen::set(&BroadcastPair::a, gen::mapcat(gen::arbitrary<bool>(), [full](bool derive) {
                                       return derive ? gen_broadcast_partner(full) : gen::just(full);
                                     })),
                                     gen::set(&BroadcastPair::b, gen_broadcast_partner(full)));
  });
}

bool fuzzable(const OpSpec& op) {
  if (!op.differentiable || !op.call) return false;
  switch (op.shape) {
    case ShapeRule::Identity:
    case ShapeRule::Parameters: return false;
    case ShapeRule::Unary:
    case ShapeRule::Broadcast:
    case ShapeRule::Matmul:
    case ShapeRule::Linear:
    case ShapeRule::Transpose2D:
    case ShapeRule::Transpose:
    case ShapeRule::Reshape:
    case ShapeRule::Reduction:
    case ShapeRule::Norm:
    case ShapeRule::SoftmaxDim:
    case ShapeRule::Cat:
    case ShapeRule::Loss: return true;
  }
  return false;
}

bool accepts_first(const OpSpec& op, const Shape& first) {
  switch (op.shape) {
    case ShapeRule::Transpose2D: return first.size() <= 2;
    case ShapeRule::Matmul:
    case ShapeRule::Linear:
    case ShapeRule::Cat: return !first.empty();
    case ShapeRule::Parameters: return false;
    default: return true;
  }
}

rc::Gen<Shape> gen_first_shape(const OpSpec& op) {
  switch (op.shape) {
    case ShapeRule::Transpose2D: return gen_shape(0, 2);
    case ShapeRule::Matmul: return gen_shape(1, 3);
    case ShapeRule::Linear: return gen_shape(1, 3);
    case ShapeRule::Cat: return gen_shape(1, kMaxRank);
    default: return gen_shape(0, kMaxRank);
  }
}

rc::Gen<OpLayout> gen_layout(const OpSpec& op_ref, const Shape& first) {
  const OpSpec* op = &op_ref;
  return gen::exec([op, first] {
    OpLayout l;
    const auto rank = static_cast<int64_t>(first.size());
    switch (op->shape) {
      case ShapeRule::Unary:
      case ShapeRule::Identity:
      case ShapeRule::Transpose2D: l.args = {first}; break;
      case ShapeRule::Transpose:
        l.args = {first};
        l.attrs["dim0"] = *gen_dim_index(rank);
        l.attrs["dim1"] = *gen_dim_index(rank);
        break;
      case ShapeRule::Reshape:
        l.args = {first};
        l.attrs["shape"] = *gen_reshape_target(first);
        break;
      case ShapeRule::Reduction: {
        l.args = {first};
        const int kind = *gen_weighted<int>({{1, 0}, {2, 1}, {1, 2}});  // all, one dim, a list
        if (kind == 1) {
          l.attrs["dim"] = *gen_dim_index(rank);
        } else if (kind == 2) {
          std::vector<int64_t> dims;
          for (int64_t d = 0; d < rank; ++d) {
            if (*gen::arbitrary<bool>()) dims.push_back(*gen::arbitrary<bool>() ? d - rank : d);
          }
          l.attrs["dim"] = dims;
        }
        break;
      }
      case ShapeRule::Norm:
        l.args = {first};
        if (*gen_present()) l.attrs["p"] = *gen_choice<double>({2.0, 1.0, 3.0, 1.5, kInf});
        break;
      case ShapeRule::SoftmaxDim:
        l.args = {first};
        l.attrs["dim"] = *gen_dim_index(rank);
        break;
      case ShapeRule::Cat: {
        const bool has_dim = *gen_present();  // absent: the default, 0
        const int64_t dim = has_dim ? *gen_dim_index(rank) : 0;
        const auto d = static_cast<size_t>(dim < 0 ? dim + rank : dim);
        l.args = {first};
        const int64_t max_more = op->max_args < 0 ? 2 : std::min<int64_t>(2, op->max_args - 1);
        const int64_t more = *in_range<int64_t>(0, max_more + 1);
        for (int64_t i = 0; i < more; ++i) {
          Shape s = first;
          s[d] = 1;
          s[d] = fit(*gen_dim(), numel(s));
          l.args.push_back(s);
        }
        if (has_dim) l.attrs["dim"] = dim;
        break;
      }
      case ShapeRule::Broadcast:
      case ShapeRule::Loss: {
        std::optional<Shape> other;
        if (!(op->accepts_numbers && *gen_weighted<bool>({{3, false}, {1, true}}))) {
          other = *gen::arbitrary<bool>() ? *gen_broadcast_partner(first) : first;
        }
        if (*gen::arbitrary<bool>()) {
          l.args = {first, other};
        } else {
          l.args = {other, first};
          l.first_at = 1;
        }
        break;
      }
      case ShapeRule::Matmul: {
        const int64_t k = first.back();
        const int kind = *in_range(0, 3);  // vector, matrix, batched matrix
        Shape b;
        if (kind == 0) {
          b = {k};
        } else {
          b = {k, 1};
          b[1] = fit(*gen_dim(), k);
          if (kind == 2 && first.size() <= 2) b.insert(b.begin(), fit(*gen_dim(), numel(b)));
        }
        l.args = {first, b};
        break;
      }
      case ShapeRule::Linear: {
        const int64_t in = first.back();
        Shape w = {fit(*gen_dim(), in), in};
        l.args = {first, w};
        if (op->max_args >= 3 && *gen_present()) l.args.push_back(Shape{w[0]});
        break;
      }
      case ShapeRule::Parameters: l.args = {first}; break;
    }
    fill_generic_attrs(*op, l.attrs);
    return l;
  });
}

rc::Gen<double> gen_value(Domain domain) {
  constexpr double step = 1.0 / 2000;
  switch (domain) {
    case Domain::Real:
      return gen::map(in_range<int64_t>(0, 12000), [](int64_t k) { return zigzag(k) * step; });
    case Domain::Bounded:
      return gen::map(in_range<int64_t>(0, 8000), [](int64_t k) { return zigzag(k) * step; });
    case Domain::Positive:
      return gen::map(in_range<int64_t>(0, 5500), [](int64_t k) { return 0.25 + k * step; });
    case Domain::NonZero:
    case Domain::AwayFromKink:
      return gen::map(in_range<int64_t>(0, 11000), [](int64_t k) {
        const double m = 0.25 + static_cast<double>(k / 2) * step;
        return (k % 2) ? -m : m;
      });
  }
  return gen::just(0.0);
}

rc::Gen<std::vector<double>> gen_values(Domain domain, int64_t n) {
  return gen::map(gen::container<std::vector<double>>(static_cast<size_t>(n), gen_value(domain)),
                  [domain](std::vector<double> v) {
                    if (is_kink_domain(domain)) {
                      for (size_t i = 0; i < v.size(); ++i) v[i] += (v[i] < 0 ? -1.0 : 1.0) * static_cast<double>(i) * 1e-6;
                    }
                    return v;
                  });
}

rc::Gen<TensorCase> gen_tensor(const Shape& shape, Domain domain) {
  return gen::map(gen_values(domain, numel(shape)), [shape](std::vector<double> v) {
    return TensorCase{shape, std::move(v), true};
  });
}

rc::Gen<OpCase> gen_op_case(const OpSpec& op_ref, DType dtype) {
  const OpSpec* op = &op_ref;
  return gen::exec([op, dtype] {
    // Structure first (shrinks first), values second.
    const Shape first = *gen_first_shape(*op);
    const OpLayout layout = *gen_layout(*op, first);
    OpCase c;
    c.op = op->name;
    c.dtype = dtype;
    c.attrs = layout.attrs;
    for (size_t i = 0; i < layout.args.size(); ++i) {
      if (layout.args[i]) {
        c.args.emplace_back(*gen_tensor(*layout.args[i], op->domain_of(i)));
      } else {
        c.args.emplace_back(*gen_value(op->domain_of(i)));
      }
    }
    return c;
  });
}

ProgramCase to_program(const OpCase& c) {
  ProgramCase p;
  p.name = c.op;
  p.dtype = c.dtype;
  ProgramCase::Step step{"y", c.op, {}, c.attrs};
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (const auto* t = std::get_if<TensorCase>(&c.args[i])) {
      const std::string name = numbered("a", i);
      p.leaves.emplace_back(name, *t);
      step.args.emplace_back(name);
    } else {
      step.args.emplace_back(std::get<double>(c.args[i]));
    }
  }
  p.steps.push_back(std::move(step));
  p.roots = {"y"};
  try {
    p.root_shapes = {output_shape(c)};
  } catch (const std::exception&) {
    p.root_shapes = {Shape{}};  // the forward itself fails: the fixture replays that failure
  }
  return p;
}

// ---------------------------------------------------------------- random programs

namespace {

struct ProgramNode {
  std::string name;
  Shape shape;
  Range range = Range::Real;
  int depth = 0;
  bool leaf = false;
  bool consumed = false;
  int leaf_index = -1;
};

// The result shape of `op` over operands of these shapes (ones, which lie in every Domain).
std::optional<Shape> result_shape(const OpSpec& op, const std::vector<std::optional<Shape>>& shapes,
                                  const std::vector<double>& numbers, const registry::Attrs& attrs) {
  NoGradGuard no_grad;
  std::vector<registry::Arg> args;
  size_t n = 0;
  for (const auto& s : shapes) {
    if (s) {
      args.emplace_back(Tensor::ones(*s, DType::Float64));
    } else {
      args.emplace_back(numbers[n++]);
    }
  }
  try {
    Tensor y = op.call(args, attrs);
    if (!y.defined()) return std::nullopt;
    return y.shape();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

rc::Gen<ProgramCase> gen_program(DType dtype, const ProgramOptions& options) {
  return gen::exec([dtype, options] {
    std::vector<const OpSpec*> ops = options.ops;
    if (ops.empty()) {
      for (const OpSpec& op : registry::all()) {
        if (fuzzable(op)) ops.push_back(&op);
      }
    }
    ProgramCase p;
    p.dtype = dtype;
    std::vector<ProgramNode> nodes;
    std::vector<Range> leaf_ranges;
    int adapters = 0;

    auto new_leaf = [&](const Shape& shape, Domain domain) {
      ProgramNode n;
      n.name = numbered("x", p.leaves.size());
      n.shape = shape;
      n.range = range_of(domain);
      n.leaf = true;
      n.leaf_index = static_cast<int>(p.leaves.size());
      p.leaves.emplace_back(n.name, TensorCase{shape, {}, true});
      leaf_ranges.push_back(n.range);
      nodes.push_back(n);
      return nodes.size() - 1;
    };
    // The name to pass where `want` is required: a fresh leaf takes `want` as its own domain;
    // anything else outside `want` goes through an adapter.
    auto use = [&](size_t index, Domain want) -> std::pair<std::string, int> {
      ProgramNode& n = nodes[index];
      const int depth = n.depth;
      if (n.leaf && !n.consumed) {
        n.range = range_of(want);
        leaf_ranges[static_cast<size_t>(n.leaf_index)] = n.range;
      }
      n.consumed = true;
      if (satisfies(n.range, want)) return {n.name, depth};
      const std::string a = numbered("t", adapters++);
      const Shape shape = n.shape;
      const std::string from = n.name;
      // sin rather than tanh or sigmoid: no saturation, whose float32 backward (1 - y²)
      // cancels and would read as a wrong gradient.
      if (want == Domain::Bounded) {
        p.steps.push_back({a, "sin", {from}, {}});
      } else {
        const std::string b = numbered("t", adapters++);
        const std::string c = numbered("t", adapters++);
        p.steps.push_back({b, "sin", {from}, {}});
        p.steps.push_back({c, "mul", {b, 0.5}, {}});
        p.steps.push_back({a, "add", {c, 1.0}, {}});
      }
      ProgramNode adapted;
      adapted.name = a;
      adapted.shape = shape;
      adapted.range = want == Domain::Bounded ? Range::Bounded : Range::Unit;
      adapted.depth = depth;
      adapted.consumed = true;
      nodes.push_back(adapted);
      return {a, depth};
    };

    new_leaf(*gen_shape(), Domain::Real);
    const int steps = *in_range(1, options.max_steps + 1);
    int made = 0;
    for (int s = 0; s < steps || (made == 0 && s < steps + 8); ++s) {
      std::vector<size_t> eligible;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].depth < options.max_depth && nodes[i].name[0] != 't') eligible.push_back(i);
      }
      if (eligible.empty()) break;
      const size_t from = *gen_choice(eligible);
      const Shape first = nodes[from].shape;
      std::vector<const OpSpec*> fitting;
      for (const OpSpec* op : ops) {
        if (accepts_first(*op, first)) fitting.push_back(op);
      }
      if (fitting.empty()) continue;
      const OpSpec* op = *gen_choice(fitting);
      const OpLayout layout = *gen_layout(*op, first);
      std::vector<double> numbers;
      for (size_t i = 0; i < layout.args.size(); ++i) {
        if (!layout.args[i]) numbers.push_back(*gen_value(op->domain_of(i)));
      }
      const auto out = result_shape(*op, layout.args, numbers, layout.attrs);
      if (!out) continue;  // a layout the engine refuses: the single-op properties report it

      ProgramCase::Step step{numbered("y", made), op->name, {}, layout.attrs};
      int depth = 0;
      size_t next_number = 0;
      for (size_t i = 0; i < layout.args.size(); ++i) {
        const Domain want = op->domain_of(i);
        if (!layout.args[i]) {
          step.args.emplace_back(numbers[next_number++]);
          continue;
        }
        size_t index;
        if (i == layout.first_at) {
          index = from;
        } else {
          std::vector<size_t> same;
          for (size_t j = 0; j < nodes.size(); ++j) {
            if (nodes[j].shape == *layout.args[i] && nodes[j].depth < options.max_depth && nodes[j].name[0] != 't') {
              same.push_back(j);
            }
          }
          if (!same.empty() && *gen_weighted<bool>({{2, false}, {1, true}})) {
            index = *gen_choice(same);
          } else {
            index = new_leaf(*layout.args[i], want);
          }
        }
        auto [name, d] = use(index, want);
        step.args.emplace_back(name);
        depth = std::max(depth, d);
      }
      ProgramNode result;
      result.name = step.let;
      result.shape = *out;
      result.depth = depth + 1;
      p.steps.push_back(std::move(step));
      nodes.push_back(result);
      ++made;
    }
    for (const ProgramNode& n : nodes) {
      if (!n.leaf && !n.consumed) {
        p.roots.push_back(n.name);
        p.root_shapes.push_back(n.shape);
      }
    }
    // Values last, so that the structure shrinks first.
    for (size_t i = 0; i < p.leaves.size(); ++i) {
      const Range r = leaf_ranges[i];
      const Domain d = r == Range::Positive ? Domain::Positive
                       : r == Range::NonZero ? Domain::NonZero
                       : r == Range::AwayFromKink ? Domain::AwayFromKink
                       : r == Range::Bounded ? Domain::Bounded
                                              : Domain::Real;
      p.leaves[i].second.data = *gen_values(d, numel(p.leaves[i].second.shape));
    }
    return p;
  });
}

// ---------------------------------------------------------------- evaluation helpers

Tensor make_tensor(const TensorCase& t, DType dtype) {
  return Tensor::from_data(t.shape, t.data, dtype, t.requires_grad);
}

std::vector<registry::Arg> make_args(const OpCase& c) {
  std::vector<registry::Arg> args;
  for (const ArgCase& a : c.args) {
    if (const auto* t = std::get_if<TensorCase>(&a)) {
      args.emplace_back(make_tensor(*t, c.dtype));
    } else {
      args.emplace_back(std::get<double>(a));
    }
  }
  return args;
}

Tensor call_op(const OpCase& c, const std::vector<registry::Arg>& args) {
  const OpSpec* op = registry::find(c.op);
  if (!op) throw Error(ErrorKind::Value, "unknown op " + c.op);
  return op->call(args, c.attrs);
}

Shape output_shape(const OpCase& c) {
  NoGradGuard no_grad;
  return call_op(c, make_args(c)).shape();
}

// ---------------------------------------------------------------- showValue

std::string domain_name(Domain d) {
  switch (d) {
    case Domain::Real: return "Real";
    case Domain::Positive: return "Positive";
    case Domain::NonZero: return "NonZero";
    case Domain::AwayFromKink: return "AwayFromKink";
    case Domain::Bounded: return "Bounded";
  }
  return "?";
}

std::string shape_rule_name(ShapeRule r) {
  switch (r) {
    case ShapeRule::Unary: return "Unary";
    case ShapeRule::Broadcast: return "Broadcast";
    case ShapeRule::Matmul: return "Matmul";
    case ShapeRule::Linear: return "Linear";
    case ShapeRule::Transpose2D: return "Transpose2D";
    case ShapeRule::Transpose: return "Transpose";
    case ShapeRule::Reshape: return "Reshape";
    case ShapeRule::Reduction: return "Reduction";
    case ShapeRule::Norm: return "Norm";
    case ShapeRule::SoftmaxDim: return "SoftmaxDim";
    case ShapeRule::Cat: return "Cat";
    case ShapeRule::Loss: return "Loss";
    case ShapeRule::Identity: return "Identity";
    case ShapeRule::Parameters: return "Parameters";
  }
  return "?";
}

namespace {
void show_number(double v, std::ostream& os) {
  if (std::isinf(v)) {
    os << (v > 0 ? "\"inf\"" : "\"-inf\"");
  } else if (std::isnan(v)) {
    os << "\"nan\"";
  } else {
    os << v;
  }
}
void show_list(const std::vector<int64_t>& v, std::ostream& os) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
}
}  // namespace

void show_attrs(const registry::Attrs& attrs, std::ostream& os) {
  os << '{';
  bool first = true;
  for (const auto& [name, value] : attrs) {
    os << (first ? "" : ", ") << '"' << name << "\": ";
    first = false;
    std::visit(
        [&os](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, bool>) {
            os << (v ? "true" : "false");
          } else if constexpr (std::is_same_v<V, double>) {
            show_number(v, os);
          } else if constexpr (std::is_same_v<V, std::string>) {
            os << '"' << v << '"';
          } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
            show_list(v, os);
          } else {
            os << v;
          }
        },
        value);
  }
  os << '}';
}

void showValue(const TensorCase& t, std::ostream& os) {
  os << "{\"shape\": ";
  show_list(t.shape, os);
  os << ", \"data\": [";
  for (size_t i = 0; i < t.data.size(); ++i) {
    os << (i ? ", " : "");
    show_number(t.data[i], os);
  }
  os << ']' << (t.requires_grad ? ", \"requires_grad\": true}" : "}");
}

void showValue(const OpCase& c, std::ostream& os) {
  showValue(to_program(c), os);
}

void showValue(const ProgramCase& p, std::ostream& os) {
  os << p.name << " (" << name(p.dtype) << ")\n";
  for (const auto& [leaf, t] : p.leaves) {
    os << "  " << leaf << " = ";
    showValue(t, os);
    os << '\n';
  }
  for (const auto& s : p.steps) {
    os << "  " << s.let << " = " << s.op << '(';
    for (size_t i = 0; i < s.args.size(); ++i) {
      os << (i ? ", " : "");
      if (const auto* n = std::get_if<std::string>(&s.args[i])) {
        os << *n;
      } else {
        show_number(std::get<double>(s.args[i]), os);
      }
    }
    os << ')';
    if (!s.attrs.empty()) {
      os << ' ';
      show_attrs(s.attrs, os);
    }
    os << '\n';
  }
  os << "  backward:";
  for (const auto& r : p.roots) os << ' ' << r;
}

void showValue(const BroadcastPair& p, std::ostream& os) {
  show_list(p.a, os);
  os << " with ";
  show_list(p.b, os);
}

}  // namespace gradoracle::properties
