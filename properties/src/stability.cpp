// The stability property and the dim refusals: what each op of the table declares it keeps at
// magnitudes its random cases never take (OpSpec::stability), and the dim attrs PyTorch refuses
// (registry::draw_refused_layout). Driven by the declarations alone: no op is named here.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

#include "gradoracle/engine/op_rules.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {

using registry::MagnitudeRange;
using registry::OpSpec;

namespace {

// The shifts c of the shift-invariance check: |c| >= 100 >= 4·max|x| (moderate x lie in
// [-3, 3]), so x + c and c are within a factor 2 of each other and x' = fl(x + c) - c is exact
// (Sterbenz): the shifted input is exactly x' + c. Most shifts are modest, where x' keeps most
// of x's digits; some reach the largest magnitude whose sums stay finite in the dtype.
constexpr MagnitudeRange kModestShifts{100, 1e4};
MagnitudeRange all_shifts(DType d) { return {100, d == DType::Float64 ? 1e300 : 1e37}; }

double in_dtype(double v, DType d) { return d == DType::Float32 ? static_cast<double>(static_cast<float>(v)) : v; }

// |v| in the range, log-uniformly on a grid of 64 steps a decade, either sign; shrinks towards
// the range's low end, positive.
double draw_magnitude(const MagnitudeRange& r, registry::Chooser& c) {
  const double lo = std::log10(r.least), hi = std::log10(r.most);
  const auto steps = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((hi - lo) * 64)));
  const double t = static_cast<double>(c.integer(0, steps + 1)) / static_cast<double>(steps);
  const double v = std::clamp(std::pow(10.0, lo + (hi - lo) * t), r.least, r.most);
  return c.coin() ? -v : v;
}

// A run of an op case: its value and each tensor argument's grad under `upstream`.
struct Outcome {
  Shape shape;
  std::vector<double> value;
  std::vector<std::vector<double>> grads;  // per tensor argument (empty when it got none)
};

Outcome run(const OpCase& c, const std::function<std::vector<double>(const Shape&)>& upstream) {
  const std::vector<registry::Arg> args = make_args(c);
  const Tensor y = call_op(c, args);
  Outcome o{y.shape(), y.to_vector(), {}};
  if (y.requires_grad()) y.backward(Tensor::from_data(y.shape(), upstream(y.shape()), c.dtype));
  for (const registry::Arg& a : args) {
    if (const Tensor* t = std::get_if<Tensor>(&a)) o.grads.push_back(t->grad().defined() ? t->grad().to_vector() : std::vector<double>{});
  }
  return o;
}

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}
bool all_finite(const Outcome& o) {
  return all_finite(o.value) && std::all_of(o.grads.begin(), o.grads.end(), [](const auto& g) { return all_finite(g); });
}

// The first non-finite entry of the outcome, named ("grad of argument 1 [3] = nan"); "" if none.
std::string first_nonfinite(const Outcome& o) {
  const auto find = [](const std::vector<double>& v, const std::string& what) -> std::string {
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        std::ostringstream os;
        os << what << " [" << i << "] = " << v[i];
        return os.str();
      }
    }
    return "";
  };
  if (std::string s = find(o.value, "value"); !s.empty()) return s;
  for (size_t k = 0; k < o.grads.size(); ++k) {
    if (std::string s = find(o.grads[k], "grad of argument " + std::to_string(k)); !s.empty()) return s;
  }
  return "";
}

// The same structure with other values: a moderate upstream for the runs to share.
std::function<std::vector<double>(const Shape&)> drawn_upstream() {
  auto cache = std::make_shared<std::vector<double>>();
  return [cache](const Shape& s) {
    if (cache->empty()) *cache = *gen_values(registry::Domain::Real, numel(s));
    return *cache;
  };
}

void assert_same(const Outcome& actual, const Outcome& expected, DType dtype, const std::string& what) {
  const oracle::Tolerance tol = oracle::default_tolerance(dtype);
  const oracle::CompareResult v = oracle::compare(actual.shape, actual.value, expected.shape, expected.value, tol);
  if (!v.passed) RC_FAIL(what + ", value: " + v.to_string());
  RC_ASSERT(actual.grads.size() == expected.grads.size());
  for (size_t k = 0; k < actual.grads.size(); ++k) {
    const auto n = [](const std::vector<double>& g) { return Shape{static_cast<int64_t>(g.size())}; };
    const oracle::CompareResult g = oracle::compare(n(actual.grads[k]), actual.grads[k], n(expected.grads[k]), expected.grads[k], tol);
    if (!g.passed) RC_FAIL(what + ", grad of argument " + std::to_string(k) + ": " + g.to_string());
  }
}

// f(x' + c) against f(x') for the first argument, c constant along the declared dim (one c for
// every slice, or one per slice); values and grads under one upstream.
void check_shift_invariance(const OpSpec& op, DType dtype) {
  const std::string& along = op.stability.shift_invariant_along;
  const auto spec = std::find_if(op.attrs.begin(), op.attrs.end(), [&](const auto& a) { return a.name == along; });
  if (spec == op.attrs.end() || spec->type != registry::AttrType::Int) {
    RC_FAIL(op.name + " declares shift invariance along \"" + along + "\", which is not one of its Int attrs");
  }
  OpCase moderate = *gen_op_case(op, dtype);
  auto* x = std::get_if<TensorCase>(&moderate.args.at(0));
  if (!x) RC_DISCARD("the first argument is a number");
  const auto rank = static_cast<int64_t>(x->shape.size());
  const int64_t r = std::max<int64_t>(rank, 1);
  int64_t dim = registry::attr_int(moderate.attrs, along, 0);
  dim = dim < 0 ? dim + r : dim;
  // Element i lies in the slice (outer, inner) around dim: i = (outer·n + j)·inner + inner_index.
  int64_t n = rank == 0 ? 1 : x->shape[static_cast<size_t>(dim)];
  int64_t inner = 1;
  for (int64_t k = dim + 1; k < rank; ++k) inner *= x->shape[static_cast<size_t>(k)];
  const int64_t slices = n == 0 ? 0 : numel(x->shape) / n;
  const bool per_slice = *gen_weighted<bool>({{1, false}, {1, true}});
  const int64_t shift_count = per_slice ? slices : std::min<int64_t>(slices, 1);
  // (a generator captures by value: RapidCheck reruns it while shrinking, after this frame)
  const std::vector<double> shifts = *rc::gen::exec([shift_count, dtype] {
    RapidCheckChooser c;
    std::vector<double> out;
    for (int64_t s = 0; s < shift_count; ++s) {
      const bool modest = c.weighted<bool>({{3, true}, {1, false}});
      out.push_back(in_dtype(draw_magnitude(modest ? kModestShifts : all_shifts(dtype), c), dtype));
    }
    return out;
  });
  OpCase shifted = moderate;
  auto& xs = std::get<TensorCase>(shifted.args[0]);
  for (size_t i = 0; i < x->data.size(); ++i) {
    const auto flat = static_cast<int64_t>(i);
    const int64_t slice = (flat / (n * inner)) * inner + flat % inner;
    const double c = shifts[static_cast<size_t>(per_slice ? slice : 0)];
    xs.data[i] = in_dtype(in_dtype(x->data[i], dtype) + c, dtype);
    x->data[i] = xs.data[i] - c;  // exact (Sterbenz), so the shifted input is exactly x' + c
  }
  const auto upstream = drawn_upstream();
  const Outcome expected = run(moderate, upstream);
  if (!all_finite(expected)) RC_DISCARD("not finite at moderate values: a domain edge");
  std::ostringstream what;
  what << op.name << " (" << name(dtype) << "): f(x + c) against f(x), c constant along " << along << " = " << dim
       << (per_slice ? ", one c per slice" : ", one c");
  assert_same(run(shifted, upstream), expected, dtype, what.str());
}

// Values and grads finite at the declared magnitudes, wherever they are at moderate values of
// the same structure (a mean over no elements is NaN at any magnitude).
void check_finite(const OpSpec& op, DType dtype) {
  const OpCase large = *gen_large_magnitude_case(op, dtype);
  OpCase moderate = large;
  for (size_t i = 0; i < moderate.args.size(); ++i) {
    if (auto* t = std::get_if<TensorCase>(&moderate.args[i])) {
      t->data = *gen_values(op.domain_of(i), numel(t->shape));
    } else {
      moderate.args[i] = *gen_value(op.domain_of(i));
    }
  }
  const auto upstream = drawn_upstream();
  if (!all_finite(run(moderate, upstream))) RC_DISCARD("not finite at moderate values: a domain edge");
  const Outcome o = run(large, upstream);
  if (!all_finite(o)) {
    const MagnitudeRange range = *op.stability.finite(dtype);
    std::ostringstream os;
    os << op.name << " (" << name(dtype) << ") at magnitudes in [" << range.least << ", " << range.most
       << "], where PyTorch 1.13 stays finite: " << first_nonfinite(o);
    RC_FAIL(os.str());
  }
}

// One promise of one op, as the property draws it.
struct Promise {
  const OpSpec* op = nullptr;
  bool shift = false;  // shift invariance; else finite values and grads
};
void showValue(const Promise& p, std::ostream& os) {
  os << p.op->name << ": " << (p.shift ? "shift invariance along " + p.op->stability.shift_invariant_along : "finite at large magnitudes");
}

// A refused layout of one op, as the refusal property draws it.
struct Refusal {
  const OpSpec* op = nullptr;
  std::optional<registry::RefusedLayout> refused;
};
void showValue(const Refusal& r, std::ostream& os) {
  os << r.op->name;
  if (!r.refused) return;
  os << '(';
  for (size_t i = 0; i < r.refused->layout.args.size(); ++i) {
    const auto& shape = r.refused->layout.args[i];
    os << (i ? ", " : "") << (shape ? "a tensor of shape " + to_string(*shape) : std::string("a number"));
  }
  os << ") ";
  show_attrs(r.refused->layout.attrs, os);
  os << ": PyTorch raises \"" << r.refused->message << '"';
}

}  // namespace

rc::Gen<OpCase> gen_large_magnitude_case(const OpSpec& op_ref, DType dtype) {
  const OpSpec* op = &op_ref;
  return rc::gen::exec([op, dtype] {
    const std::optional<MagnitudeRange> range = op->stability.finite(dtype);
    if (!range) throw Error(ErrorKind::Value, op->name + " declares no finite range in " + name(dtype));
    RapidCheckChooser c;
    const Shape first = registry::draw_first_shape(*op, c);
    const registry::OpLayout layout = registry::draw_layout(*op, first, c);
    OpCase oc{op, dtype, {}, layout.attrs};
    for (const auto& shape : layout.args) {
      if (!shape) {
        oc.args.emplace_back(in_dtype(draw_magnitude(*range, c), dtype));
        continue;
      }
      TensorCase t{*shape, {}, true};
      for (int64_t i = 0; i < numel(*shape); ++i) t.data.push_back(in_dtype(draw_magnitude(*range, c), dtype));
      oc.args.emplace_back(std::move(t));
    }
    return oc;
  });
}

void prop_stability(DType dtype, const registry::OpTable& table) {
  std::vector<Promise> promises;
  for (const OpSpec* op : fuzzable_ops(table)) {
    if (!op->stability.shift_invariant_along.empty()) promises.push_back({op, true});
    if (op->stability.finite(dtype)) promises.push_back({op, false});
  }
  if (promises.empty()) return;  // no op promises anything: nothing to check
  const Promise p = *gen_choice(promises);
  if (p.shift) {
    check_shift_invariance(*p.op, dtype);
  } else {
    check_finite(*p.op, dtype);
  }
}

void prop_dim_refusals(DType dtype, const registry::OpTable& table) {
  std::vector<const OpSpec*> ops;
  for (const OpSpec* op : fuzzable_ops(table)) {
    const auto dims = registry::rule_info(op->shape).dim_attrs;
    const bool has = std::any_of(op->attrs.begin(), op->attrs.end(), [&](const registry::AttrSpec& a) {
      return std::find(dims.begin(), dims.end(), a.name) != dims.end();
    });
    if (has) ops.push_back(op);
  }
  if (ops.empty()) return;
  const Refusal drawn = *rc::gen::exec([ops] {
    RapidCheckChooser c;
    const OpSpec* op = c.pick(ops);
    return Refusal{op, registry::draw_refused_layout(*op, registry::draw_first_shape(*op, c), c)};
  });
  const OpSpec* op = drawn.op;
  const auto& refused = drawn.refused;
  if (!refused) RC_DISCARD("PyTorch checks no dim here");
  // Ones lie in every domain; the values play no part in a refusal.
  std::vector<registry::Arg> args;
  for (size_t i = 0; i < refused->layout.args.size(); ++i) {
    const auto& shape = refused->layout.args[i];
    if (i < refused->layout.constants.size() && refused->layout.constants[i]) {  // an index, drawn valid
      const registry::ReferenceTensor& k = *refused->layout.constants[i];
      args.emplace_back(Tensor::from_data(k.shape, k.data, *k.dtype));
    } else if (shape) {
      args.emplace_back(Tensor::ones(*shape, dtype).requires_grad_());
    } else {
      args.emplace_back(1.0);
    }
  }
  std::ostringstream what;
  what << op->name << " (" << name(dtype) << ") with attrs ";
  show_attrs(refused->layout.attrs, what);
  what << " on a first argument of shape " << to_string(*refused->layout.args.at(refused->layout.first_at));
  try {
    op->call(args, refused->layout.attrs);
  } catch (const Error& e) {
    if (e.what() != refused->message) {
      RC_FAIL(what.str() + ": raised \"" + e.what() + "\", PyTorch 1.13 raises \"" + refused->message + "\"");
    }
    return;
  }
  RC_FAIL(what.str() + ": accepted, PyTorch 1.13 raises \"" + refused->message + "\"");
}

}  // namespace gradoracle::properties
