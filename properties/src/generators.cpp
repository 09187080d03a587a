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

}  // namespace

int64_t RapidCheckChooser::integer(int64_t lo, int64_t hi) { return *in_range<int64_t>(lo, hi); }

rc::Gen<Shape> gen_shape(int min_rank, int max_rank) {
  return gen::exec([min_rank, max_rank] {
    RapidCheckChooser c;
    return registry::draw_shape(c, min_rank, max_rank);
  });
}

rc::Gen<BroadcastPair> gen_broadcast_pair() {
  return gen::exec([] {
    RapidCheckChooser c;
    const Shape full = registry::draw_shape(c);
    BroadcastPair p;
    p.a = c.coin() ? registry::draw_broadcast_partner(full, c) : full;
    p.b = registry::draw_broadcast_partner(full, c);
    return p;
  });
}

bool fuzzable(const OpSpec& op) { return op.differentiable && op.call && registry::rule_info(op.shape).drawable; }

rc::Gen<registry::OpLayout> gen_layout(const OpSpec& op_ref, const Shape& first) {
  const OpSpec* op = &op_ref;
  return gen::exec([op, first] {
    RapidCheckChooser c;
    return registry::draw_layout(*op, first, c);
  });
}

rc::Gen<double> gen_value(Domain domain) {
  return gen::exec([domain] {
    RapidCheckChooser c;
    return registry::draw_value(domain, c);
  });
}

rc::Gen<std::vector<double>> gen_values(Domain domain, int64_t n) {
  return gen::exec([domain, n] {
    RapidCheckChooser c;
    return registry::draw_values(domain, n, c);
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
    RapidCheckChooser c;
    const Shape first = registry::draw_first_shape(*op, c);
    const registry::OpLayout layout = registry::draw_layout(*op, first, c);
    OpCase oc;
    oc.op = op;
    oc.dtype = dtype;
    oc.attrs = layout.attrs;
    for (size_t i = 0; i < layout.args.size(); ++i) {
      if (i < layout.constants.size() && layout.constants[i]) {
        const registry::ReferenceTensor& k = *layout.constants[i];
        oc.args.emplace_back(TensorCase{k.shape, k.data, false, k.dtype});
      } else if (layout.args[i]) {
        oc.args.emplace_back(*gen_tensor(*layout.args[i], op->domain_of(i)));
      } else {
        oc.args.emplace_back(*gen_value(op->domain_of(i)));
      }
    }
    return oc;
  });
}

ProgramCase to_program(const OpCase& c) {
  ProgramCase p;
  p.name = c.op->name;
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

// A value range no drawn leaf or adapter gives: an op's result, whose values are unknown.
constexpr registry::ValueRange kAnyValue{-kInf, kInf, 0.0};
// The adapter sin(v)·0.5 + 1 lies in [0.5, 1.5]; sin(v) in [-1, 1].
constexpr registry::ValueRange kUnitAdapter{0.5, 1.5, 0.5};
constexpr registry::ValueRange kSinAdapter{-1.0, 1.0, 0.0};

struct ProgramNode {
  std::string name;
  Shape shape;
  registry::ValueRange range = kAnyValue;
  int depth = 0;
  bool leaf = false;
  bool consumed = false;
  int leaf_index = -1;
};

// The result shape of `op` over operands of these shapes (ones, which lie in every Domain).
std::optional<Shape> result_shape(const OpSpec& op, const std::vector<std::optional<Shape>>& shapes,
                                  const std::vector<double>& numbers, const registry::Attrs& attrs,
                                  const std::vector<std::optional<registry::ReferenceTensor>>& constants) {
  NoGradGuard no_grad;
  std::vector<registry::Arg> args;
  size_t n = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& s = shapes[i];
    if (i < constants.size() && constants[i]) {
      args.emplace_back(Tensor::from_data(constants[i]->shape, constants[i]->data, *constants[i]->dtype));
    } else if (s) {
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
      for (const OpSpec& op : options.table->ops()) {
        if (fuzzable(op)) ops.push_back(&op);
      }
    }
    auto adapter_op = [&](const char* name) {
      const OpSpec* op = options.table->find(name);
      if (!op) throw Error(ErrorKind::Value, std::string("the op table has no ") + name + " for the domain adapters");
      return op;
    };
    const OpSpec* sin_op = adapter_op("sin");
    const OpSpec* mul_op = adapter_op("mul");
    const OpSpec* add_op = adapter_op("add");
    RapidCheckChooser chooser;
    ProgramCase p;
    p.dtype = dtype;
    std::vector<ProgramNode> nodes;
    std::vector<Domain> leaf_domains;
    int adapters = 0;

    auto new_leaf = [&](const Shape& shape, Domain domain) {
      ProgramNode n;
      n.name = numbered("x", p.leaves.size());
      n.shape = shape;
      n.range = registry::domain_info(domain).drawn;
      n.leaf = true;
      n.leaf_index = static_cast<int>(p.leaves.size());
      p.leaves.emplace_back(n.name, TensorCase{shape, {}, true});
      leaf_domains.push_back(domain);
      nodes.push_back(n);
      return nodes.size() - 1;
    };
    // The name to pass where `want` is required: a fresh leaf takes `want` as its own domain;
    // anything else outside `want` goes through an adapter.
    auto use = [&](size_t index, Domain want) -> std::pair<std::string, int> {
      ProgramNode& n = nodes[index];
      const int depth = n.depth;
      if (n.leaf && !n.consumed) {
        n.range = registry::domain_info(want).drawn;
        leaf_domains[static_cast<size_t>(n.leaf_index)] = want;
      }
      n.consumed = true;
      if (registry::within(n.range, want)) return {n.name, depth};
      if (want == Domain::Spread) {
        // No adapter spreads values apart (an expand's copies stay equal, and std there is its
        // kink): a fresh leaf of the shape, drawn spread.
        const Shape shape = n.shape;
        const size_t leaf = new_leaf(shape, want);
        nodes[leaf].consumed = true;
        return {nodes[leaf].name, nodes[leaf].depth};
      }
      const std::string a = numbered("t", adapters++);
      const Shape shape = n.shape;
      const std::string from = n.name;
      // sin rather than tanh or sigmoid: no saturation, whose float32 backward (1 - y²)
      // cancels and would read as a wrong gradient.
      const bool sin_enough = registry::within(kSinAdapter, want);
      if (sin_enough) {
        p.steps.push_back({a, sin_op, {from}, {}});
      } else {
        const std::string b = numbered("t", adapters++);
        const std::string c = numbered("t", adapters++);
        p.steps.push_back({b, sin_op, {from}, {}});
        p.steps.push_back({c, mul_op, {b, 0.5}, {}});
        p.steps.push_back({a, add_op, {c, 1.0}, {}});
      }
      ProgramNode adapted;
      adapted.name = a;
      adapted.shape = shape;
      adapted.range = sin_enough ? kSinAdapter : kUnitAdapter;
      adapted.depth = depth;
      adapted.consumed = true;
      nodes.push_back(adapted);
      return {a, depth};
    };

    new_leaf(registry::draw_shape(chooser), Domain::Real);
    const int steps = *in_range(1, options.max_steps + 1);
    int made = 0;
    for (int s = 0; s < steps || (made == 0 && s < steps + 8); ++s) {
      std::vector<size_t> eligible;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].depth < options.max_depth && nodes[i].name[0] != 't') eligible.push_back(i);
      }
      if (eligible.empty()) break;
      const size_t from = chooser.pick(eligible);
      const Shape first = nodes[from].shape;
      std::vector<const OpSpec*> fitting;
      for (const OpSpec* op : ops) {
        if (registry::accepts_first(*op, first)) fitting.push_back(op);
      }
      if (fitting.empty()) continue;
      const OpSpec* op = chooser.pick(fitting);
      const registry::OpLayout layout = registry::draw_layout(*op, first, chooser);
      std::vector<double> numbers;
      for (size_t i = 0; i < layout.args.size(); ++i) {
        if (!layout.args[i]) numbers.push_back(registry::draw_value(op->domain_of(i), chooser));
      }
      const auto out = result_shape(*op, layout.args, numbers, layout.attrs, layout.constants);
      if (!out) continue;  // a layout the engine refuses: the single-op properties report it

      ProgramCase::Step step{numbered("y", made), op, {}, layout.attrs};
      int depth = 0;
      size_t next_number = 0;
      for (size_t i = 0; i < layout.args.size(); ++i) {
        const Domain want = op->domain_of(i);
        if (i < layout.constants.size() && layout.constants[i]) {  // an index or condition: a leaf of its own
          const registry::ReferenceTensor& k = *layout.constants[i];
          // "x<i>" as every leaf: a fixture read from a JSON object lists tensors by name
          const std::string name = numbered("x", p.leaves.size());
          p.leaves.emplace_back(name, TensorCase{k.shape, k.data, false, k.dtype});
          leaf_domains.push_back(Domain::Real);
          step.args.emplace_back(name);
          continue;
        }
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
          if (!same.empty() && chooser.weighted<bool>({{2, false}, {1, true}})) {
            index = chooser.pick(same);
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
      if (p.leaves[i].second.dtype) continue;  // an index or condition, drawn with its layout
      p.leaves[i].second.data = registry::draw_values(leaf_domains[i], numel(p.leaves[i].second.shape), chooser);
    }
    return p;
  });
}

// ---------------------------------------------------------------- evaluation helpers

Tensor make_tensor(const TensorCase& t, DType dtype) {
  return Tensor::from_data(t.shape, t.data, t.dtype.value_or(dtype), t.requires_grad);
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

Tensor call_op(const OpCase& c, const std::vector<registry::Arg>& args) { return c.op->call(args, c.attrs); }

OpCase reference_case(const OpSpec& op, const registry::ReferenceInput& r, DType dtype) {
  OpCase c;
  c.op = &op;
  c.dtype = dtype;
  c.attrs = r.attrs;
  for (const registry::ReferenceArg& a : r.args) {
    if (const auto* t = std::get_if<registry::ReferenceTensor>(&a)) {
      c.args.emplace_back(TensorCase{t->shape, t->data, !t->dtype, t->dtype});
    } else {
      c.args.emplace_back(std::get<double>(a));
    }
  }
  return c;
}

Shape output_shape(const OpCase& c) {
  NoGradGuard no_grad;
  return call_op(c, make_args(c)).shape();
}

// ---------------------------------------------------------------- showValue

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

// Whether an argument of the op's case sits exactly at one of the op's declared kinks
// (OpSpec::kinks). PyTorch's first derivative there is a choice (relu'(0) = 0, pow's mask at
// exponent 0) whose own derivative finite differences cannot reproduce: not a point to judge
// second order at.
bool at_declared_kink(const OpCase& c) {
  for (const registry::Kink& k : c.op->kinks) {
    if (k.arg >= c.args.size()) continue;
    if (const auto* t = std::get_if<TensorCase>(&c.args[k.arg])) {
      for (double v : t->data) {
        if (v == k.at) return true;
      }
    } else if (std::get<double>(c.args[k.arg]) == k.at) {
      return true;
    }
  }
  return false;
}

void showValue(const TensorCase& t, std::ostream& os) {
  os << "{\"shape\": ";
  show_list(t.shape, os);
  if (t.dtype) os << ", \"dtype\": \"" << name(*t.dtype) << '"';
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

}  // namespace gradoracle::properties

namespace gradoracle::registry {
void showValue(const OpSpec& op, std::ostream& os) { os << "op " << op.name; }
void showValue(const OpSpec* op, std::ostream& os) {
  if (op) showValue(*op, os);
  else os << "no op";
}
}  // namespace gradoracle::registry

namespace gradoracle::properties {

void showValue(const ProgramCase& p, std::ostream& os) {
  os << p.name << " (" << name(p.dtype) << ")\n";
  for (const auto& [leaf, t] : p.leaves) {
    os << "  " << leaf << " = ";
    showValue(t, os);
    os << '\n';
  }
  for (const auto& s : p.steps) {
    os << "  " << s.let << " = " << s.op->name << '(';
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
