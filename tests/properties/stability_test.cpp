// The stability property and the dim refusals bite: ops declared exactly as the engine's (their
// stability promises and attrs copied), each with one classic overflow or a missing refusal, are
// caught in both dtypes, by the promise alone (no reference input). The engine's own table
// passes both: those are the gate's tasks (tasks_test.cpp).
#include "broken_ops.hpp"
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

using registry::OpSpec;
using registry::ShapeRule;

// `planted` declared as the engine's op `like` is: attrs, domain and stability promises; no
// reference inputs, so only the property can catch it.
OpSpec declared_as(OpSpec planted, const char* like) {
  const OpSpec& real = *registry::builtin_ops().find(like);
  planted.attrs = real.attrs;
  planted.domain = real.domain;
  planted.stability = real.stability;
  planted.references = {};
  return planted;
}

OpSpec only_shift(OpSpec s) {
  s.stability.finite_float64 = s.stability.finite_float32 = std::nullopt;
  return s;
}
OpSpec only_finite(OpSpec s) {
  s.stability.shift_invariant_along.clear();
  return s;
}

// softmax as exp(x) / Σ exp(x): overflows past |x| ~ 709 (float32: 88).
OpSpec naive_softmax() { return declared_as(broken::softmax_without_max_shift(), "softmax"); }

// log_softmax as x - log Σ exp(x).
OpSpec naive_log_softmax() {
  OpSpec s = broken::op("naive_log_softmax", ShapeRule::SoftmaxDim, 1);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs& attrs) {
    const Tensor a = broken::tensor(args, 0);
    return sub(a, log(sum(exp(a), {registry::attr_int(attrs, "dim", 0)}, true)));
  };
  return declared_as(s, "log_softmax");
}

// sigmoid as eˣ / (1 + eˣ): inf / inf past x ~ 709.
OpSpec naive_sigmoid() {
  OpSpec s = broken::op("naive_sigmoid", ShapeRule::Unary, 1);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs&) {
    const Tensor e = exp(broken::tensor(args, 0));
    return div(e, add(e, 1.0));
  };
  return declared_as(s, "sigmoid");
}

// tanh as (e²ˣ - 1) / (e²ˣ + 1).
OpSpec naive_tanh() {
  OpSpec s = broken::op("naive_tanh", ShapeRule::Unary, 1);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs&) {
    const Tensor e = exp(mul(broken::tensor(args, 0), 2.0));
    return div(sub(e, 1.0), add(e, 1.0));
  };
  return declared_as(s, "tanh");
}

PropertyResult run_stability(const OpSpec& planted, DType dtype) {
  const registry::OpTable table({planted});
  return run_property("Stability/" + planted.name + "/" + name(dtype), [&] { prop_stability(dtype, table); },
                      kStructuralCases, testing::options());
}

void expect_caught(const PropertyResult& r, const std::string& op, const std::string& promise) {
  EXPECT_FALSE(r.passed);
  EXPECT_FALSE(r.gave_up) << r.message;
  EXPECT_NE(r.message.find(op), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(promise), std::string::npos) << r.message;
  EXPECT_NE(r.reproduce.find("reproduce="), std::string::npos) << r.reproduce;
}

constexpr const char* kShift = "f(x + c) against f(x)";
constexpr const char* kFinite = "where PyTorch 1.13 stays finite";

TEST(Stability, ShiftInvarianceAloneCatchesSoftmaxesWithoutTheirMaxShift) {
  for (const OpSpec& planted : {naive_softmax(), naive_log_softmax()}) {
    for (DType d : {DType::Float64, DType::Float32}) {
      SCOPED_TRACE(planted.name + " " + name(d));
      expect_caught(run_stability(only_shift(planted), d), planted.name, kShift);
    }
  }
}

TEST(Stability, FinitenessAloneCatchesOverflowingForms) {
  for (const OpSpec& planted : {naive_softmax(), naive_log_softmax(), naive_sigmoid(), naive_tanh()}) {
    for (DType d : {DType::Float64, DType::Float32}) {
      SCOPED_TRACE(planted.name + " " + name(d));
      expect_caught(run_stability(only_finite(planted), d), planted.name, kFinite);
    }
  }
}

TEST(Stability, AShiftAlongAnAttrThatIsNoIntAttrIsADeclarationError) {
  OpSpec s = naive_softmax();
  s.stability.shift_invariant_along = "axis";
  const PropertyResult r = run_stability(only_shift(s), DType::Float64);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.message.find("not one of its Int attrs"), std::string::npos) << r.message;
}

TEST(Stability, NoPromiseNothingChecked) {
  OpSpec s = only_finite(only_shift(naive_softmax()));
  EXPECT_TRUE(run_stability(s, DType::Float64).passed);
}

// The large-magnitude cases lie in the declared range, in the dtype.
TEST(Stability, LargeMagnitudeCasesLieInTheDeclaredRange) {
  for (const char* op : {"softmax", "norm", "mse_loss"}) {
    for (DType d : {DType::Float64, DType::Float32}) {
      const OpSpec& spec = *registry::builtin_ops().find(op);
      const registry::MagnitudeRange range = *spec.stability.finite(d);
      const rc::Gen<OpCase> gen = gen_large_magnitude_case(spec, d);
      double least = kInf, most = 0;
      for (int seed = 0; seed < 200; ++seed) {
        const OpCase c = gen(rc::Random(static_cast<uint64_t>(seed)), 100).value();
        for (const ArgCase& a : c.args) {
          for (double v : std::get<TensorCase>(a).data) {
            EXPECT_EQ(v, d == DType::Float32 ? static_cast<double>(static_cast<float>(v)) : v);
            least = std::min(least, std::abs(v));
            most = std::max(most, std::abs(v));
          }
        }
      }
      SCOPED_TRACE(std::string(op) + " " + name(d));
      const double slack = d == DType::Float32 ? 1e-7 : 0;  // rounding into float32
      EXPECT_GE(least, range.least * (1 - slack));
      EXPECT_LE(most, range.most * (1 + slack));
      // Both ends of the range are reached (within a few decades).
      EXPECT_LT(least, range.least * 1e3);
      EXPECT_GT(most, range.most * 1e-3);
    }
  }
}

// ---------------------------------------------------------------- dim refusals

// sum whose dim list skips PyTorch's checks: repeats are dropped.
OpSpec sum_accepting_repeats() {
  OpSpec s = declared_as(broken::op("sum_accepting_repeats", ShapeRule::Reduction, 1), "sum");
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs& attrs) {
    const Tensor a = broken::tensor(args, 0);
    const int64_t r = std::max<int64_t>(a.dim(), 1);
    std::vector<int64_t> dims;
    for (int64_t d : registry::attr_int_list(attrs, "dim")) {
      const int64_t w = d < 0 ? d + r : d;
      if (std::find(dims.begin(), dims.end(), w) == dims.end()) dims.push_back(w);
    }
    if (a.dim() == 0) dims.clear();
    return dims.empty() && !attrs.count("dim") ? sum(a) : sum(a, dims, registry::attr_bool(attrs, "keepdim", false));
  };
  return s;
}

// sum that looks for repeated dims before it checks every dim's range.
OpSpec sum_repeats_first() {
  OpSpec s = declared_as(broken::op("sum_repeats_first", ShapeRule::Reduction, 1), "sum");
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs& attrs) {
    const Tensor a = broken::tensor(args, 0);
    const int64_t r = std::max<int64_t>(a.dim(), 1);
    const std::vector<int64_t> dims = registry::attr_int_list(attrs, "dim");
    std::vector<int64_t> seen;
    for (int64_t d : dims) {
      const int64_t w = ((d % r) + r) % r;
      if (std::find(seen.begin(), seen.end(), w) != seen.end())
        fail(ErrorKind::Dim, "dim " + std::to_string(w) + " appears multiple times in the list of dims");
      seen.push_back(w);
    }
    return registry::builtin_ops().find("sum")->call(args, attrs);
  };
  return s;
}

TEST(DimRefusals, CatchAReductionThatAcceptsRepeatsOrChecksThemFirst) {
  for (const OpSpec& planted : {sum_accepting_repeats(), sum_repeats_first()}) {
    const registry::OpTable table({planted});
    for (DType d : {DType::Float64, DType::Float32}) {
      SCOPED_TRACE(planted.name + " " + name(d));
      const PropertyResult r = run_property("DimRefusals/" + planted.name + "/" + name(d),
                                            [&] { prop_dim_refusals(d, table); }, kStructuralCases, testing::options());
      EXPECT_FALSE(r.passed);
      EXPECT_FALSE(r.gave_up) << r.message;
      EXPECT_NE(r.message.find(planted.name), std::string::npos) << r.message;
      EXPECT_NE(r.message.find("PyTorch 1.13 raises"), std::string::npos) << r.message;
    }
  }
}

}  // namespace
}  // namespace gradoracle::properties
