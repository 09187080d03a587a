#include "gradoracle/oracle/gradcheck.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <limits>
#include <sstream>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/nn.hpp"
#include "op_cases.hpp"

namespace gradoracle::oracle {
namespace {

using testing::as_function;
using testing::draw_inputs;
using testing::op_cases;

// Seeds per case: a few by default (the suite stays fast); GRADORACLE_GRADCHECK_SEEDS=N for more.
int seeds() {
  const char* s = std::getenv("GRADORACLE_GRADCHECK_SEEDS");
  return s ? std::max(1, std::atoi(s)) : 3;
}

// Every registered differentiable op, at several shapes, both dtypes, default tolerances:
// no false alarm, no kink inside the op's domain.
TEST(GradCheck, EveryRegistryOpPassesFullMode) {
  const auto cases = op_cases();
  ASSERT_GT(cases.size(), 50u);
  int checks = 0;
  for (const auto& c : cases) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      for (int seed = 0; seed < seeds(); ++seed) {
        Generator gen(static_cast<uint64_t>(seed) * 7919 + 1);
        const auto xs = draw_inputs(c, dtype, gen);
        const GradCheckResult r = gradcheck(as_function(c), xs);
        ++checks;
        EXPECT_TRUE(r.passed) << c.label << " " << name(dtype) << " seed " << seed << "\n" << r;
        EXPECT_FALSE(r.has_kinks()) << c.label << " " << name(dtype) << " seed " << seed << "\n" << r;
      }
    }
  }
  RecordProperty("checks", checks);
}

// Fast mode agrees with full mode on correct ops: it passes too, under other seeds.
TEST(GradCheck, FastModeAgreesWithFullModeOnEveryOp) {
  for (const auto& c : op_cases()) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      for (int seed = 0; seed < seeds(); ++seed) {
        Generator gen(static_cast<uint64_t>(seed) * 104729 + 3);
        const auto xs = draw_inputs(c, dtype, gen);
        GradCheckOptions o;
        o.fast_mode = true;
        o.seed = static_cast<uint64_t>(seed);
        const GradCheckResult fast = gradcheck(as_function(c), xs, o);
        const GradCheckResult full = gradcheck(as_function(c), xs);
        EXPECT_EQ(fast.passed, full.passed) << c.label << " " << name(dtype) << "\n" << fast << full;
        EXPECT_TRUE(fast.passed) << c.label << " " << name(dtype) << "\n" << fast;
      }
    }
  }
}

TEST(GradCheck, RichardsonAndAbsoluteStepPassOnEveryOp) {
  for (const auto& c : op_cases()) {
    Generator gen(11);
    const auto xs = draw_inputs(c, DType::Float64, gen);
    GradCheckOptions o;
    o.scheme = Scheme::Richardson;
    o.eps = 1e-4;
    const GradCheckResult r = gradcheck(as_function(c), xs, o);
    EXPECT_TRUE(r.passed) << c.label << "\n" << r;
    o = {};
    o.step = Step::Absolute;
    EXPECT_TRUE(gradcheck(as_function(c), xs, o).passed) << c.label;
  }
}

// Scale: the relative step keeps working where an absolute step breaks down (x ~ 1e8).
TEST(GradCheck, RelativeStepWorksAcrossScales) {
  const Function f = [](const std::vector<Tensor>& x) { return std::vector<Tensor>{x[0] * x[0]}; };
  const Tensor big = Tensor::from_data({3}, {1e8, -3e7, 2e8}, DType::Float64);
  EXPECT_TRUE(gradcheck(f, {big}).passed) << gradcheck(f, {big});
  GradCheckOptions o;
  o.step = Step::Absolute;  // h = 1e-6 against x = 1e8: the difference is rounding noise
  const GradCheckResult r = gradcheck(f, {big}, o);
  if (!r.passed) {
    ASSERT_FALSE(r.worst.empty()) << r;
    EXPECT_GT(r.worst.front().estimate, 0.0) << r;
  }
}

// A kink is reported as a non-differentiable point, not as a wrong gradient.
TEST(GradCheck, KinkIsFlaggedNotFailed) {
  const Function f = [](const std::vector<Tensor>& x) { return std::vector<Tensor>{relu(x[0])}; };
  const Tensor x = Tensor::from_data({3}, {0.0, 1.0, -1.0}, DType::Float64);
  const GradCheckResult r = gradcheck(f, {x});
  EXPECT_TRUE(r.passed) << r;
  ASSERT_TRUE(r.has_kinks()) << r;
  EXPECT_EQ(r.kink_count, 1);
  ASSERT_FALSE(r.kinks.empty()) << r;
  EXPECT_EQ(r.kinks.front().input_index, std::vector<int64_t>{0});
  EXPECT_EQ(r.kinks.front().output_index, std::vector<int64_t>{0});
  EXPECT_NEAR(r.kinks.front().left, 0.0, 1e-9);
  EXPECT_NEAR(r.kinks.front().right, 1.0, 1e-9);
  GradCheckOptions o;
  o.kinks_fail = true;
  EXPECT_FALSE(gradcheck(f, {x}, o).passed);
  // abs at 0 in float32 too; a smooth, strongly curved function is not a kink.
  const Function g = [](const std::vector<Tensor>& x) { return std::vector<Tensor>{abs(x[0]), exp(x[0] * 8.0)}; };
  const GradCheckResult rg = gradcheck(g, {Tensor::from_data({2}, {0.0, 2.0}, DType::Float32)});
  EXPECT_EQ(rg.kink_count, 1) << rg;
  EXPECT_TRUE(rg.passed) << rg;
}

// A kink between h/16 and h moves only one one-sided slope. Where h/16 still straddles it (here
// 0.9·h/16 away), the finer difference would mix both sides: it is a kink, not a false failure.
// Where h/16 clears it (h/4 away), the finer difference is the float64 derivative and is judged.
TEST(GradCheck, KinkBetweenTheFineAndTheCoarseStep) {
  constexpr double h = 1e-6;  // the default relative step at |x| = 1
  for (const double d : {0.9 * h / 16, h / 4}) {
    const Function f = [d](const std::vector<Tensor>& x) { return std::vector<Tensor>{relu(x[0] - (1.0 + d))}; };
    const GradCheckResult r = gradcheck(f, {Tensor::from_data({1}, {1.0}, DType::Float64)});
    EXPECT_TRUE(r.passed) << "kink " << d << " away: " << r;
    EXPECT_EQ(r.kink_count, d < h / 16 ? 1 : 0) << r;
  }
}

// A tie that only float32's rounding makes exact (gate seed 10, shrunk): ‖1 + sin(x0 − x1)/2‖∞
// where x0 − x1 at [9] and [11] differ by 1.2e-7 in float64 and are equal in float32. The float32
// backward splits the gradient between the tie; finite differences in float64 see a kink within a
// step: those entries are kinks, not failures.
TEST(GradCheck, ATieFloat32RoundingMakesIsAKink) {
  const Function f = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{-norm(sin(x[0] - x[1]) * 0.5 + 1.0, std::numeric_limits<double>::infinity())};
  };
  std::vector<double> x0(12, 0.0), x1(12, 0.0);
  x0[9] = 2.122, x0[11] = -0.734, x1[9] = 0.703, x1[11] = -2.153;
  const GradCheckResult r = gradcheck(f, {Tensor::from_data({4, 3, 1}, x0, DType::Float32),
                                          Tensor::from_data({4, 3, 1}, x1, DType::Float32)});
  EXPECT_TRUE(r.passed) << r;
  EXPECT_GE(r.kink_count, 2) << r;
}

// A detach held by hold() is a constant on both sides: d(x·hold(x))/dx = hold(x) = x.
TEST(GradCheck, HeldDetachIsAConstantOnTheNumericSide) {
  const Tensor x = Tensor::from_data({3}, {0.5, -1.0, 2.0}, DType::Float64);
  const Function held = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * hold(v[0])}; };
  EXPECT_TRUE(gradcheck(held, {x}).passed) << gradcheck(held, {x});
  // A plain detach is a constant only on the analytic side: numeric 2x, analytic x.
  const Function plain = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * v[0].detach()}; };
  const GradCheckResult r = gradcheck(plain, {x});
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.failure_count, 3);
  // Outside a check, hold is detach.
  EXPECT_FALSE(hold(x.clone().requires_grad_()).requires_grad());
}

TEST(GradCheck, ShapeDtypeStabilityAndSelection) {
  // Output shape depending on the input values is reported.
  const Function unstable = [](const std::vector<Tensor>& v) {
    const double first = v[0].to_vector()[0];
    return std::vector<Tensor>{first > 0.5 ? v[0] * 2.0 : sum(v[0])};
  };
  const GradCheckResult r = gradcheck(unstable, {Tensor::from_data({2}, {0.5, 1.0}, DType::Float64)});
  EXPECT_FALSE(r.passed);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems.front().find("changed under perturbation"), std::string::npos) << r;

  // Per-input/output selection: only the selected pair is checked.
  const Function two = [](const std::vector<Tensor>& v) {
    return std::vector<Tensor>{v[0] * v[1], v[0].detach() * 3.0 + v[1]};
  };
  const std::vector<Tensor> xs = {Tensor::from_data({2}, {1, 2}, DType::Float64), Tensor::from_data({2}, {3, 4}, DType::Float64)};
  GradCheckOptions o;
  o.inputs = {1};
  o.outputs = {1};
  const GradCheckResult sel = gradcheck(two, xs, o);
  EXPECT_TRUE(sel.passed) << sel;
  ASSERT_EQ(sel.pairs.size(), 1u);
  EXPECT_EQ(sel.pairs[0].input, 1);
  EXPECT_EQ(sel.pairs[0].output, 1);
  EXPECT_EQ(sel.pairs[0].checked, 4);
  o.inputs = {0};  // out1 = detach(x0)·3 + x1: the unheld detach is a mismatch on input 0
  EXPECT_FALSE(gradcheck(two, xs, o).passed);
}

TEST(GradCheck, MixedDtypesUseTheLoosestTolerance) {
  const Function f = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * v[1]}; };
  const GradCheckResult r = gradcheck(f, {Tensor::ones({2}, DType::Float32), Tensor::ones({2}, DType::Float64)});
  EXPECT_EQ(r.tolerance.atol, gradcheck_tolerance(DType::Float32).atol);
  EXPECT_TRUE(r.passed) << r;
  GradCheckOptions o;
  o.atol = 1e-3;
  o.rtol = 0.0;
  const GradCheckResult over = gradcheck(f, {Tensor::ones({2}, DType::Float64), Tensor::ones({2}, DType::Float64)}, o);
  EXPECT_EQ(over.tolerance.rtol, 0.0);
  EXPECT_EQ(over.tolerance.atol, 1e-3);
}

TEST(GradCheck, RaiseExceptionCarriesTheResult) {
  const Function plain = [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0] * v[0].detach()}; };
  GradCheckOptions o;
  o.raise_exception = true;
  try {
    gradcheck(plain, {Tensor::from_data({2}, {1.0, 2.0}, DType::Float64)}, o);
    FAIL() << "no exception";
  } catch (const GradCheckError& e) {
    EXPECT_FALSE(e.result().passed);
    EXPECT_NE(std::string(e.what()).find("FAILED"), std::string::npos);
  }
}

TEST(GradCheck, ConstantOutputsAndMultipleOutputs) {
  const Function f = [](const std::vector<Tensor>& v) {
    return std::vector<Tensor>{Tensor::ones({2}, DType::Float64), sin(v[0]), v[0] * v[0]};
  };
  const GradCheckResult r = gradcheck(f, {Tensor::from_data({2, 2}, {1, 2, 3, 4}, DType::Float64)});
  EXPECT_TRUE(r.passed) << r;
  EXPECT_EQ(r.pairs.size(), 3u);
}

// Structural checks: a backward that is not linear in its upstream, or not deterministic.
TEST(GradCheck, ZeroUpstreamAndNondeterminism) {
  const Function affine = [](const std::vector<Tensor>& v) {
    Tensor out = v[0].detach() * 2.0;
    record(out, "AffineBackward", {v[0]}, [](const Tensor& g, NeedsGrad) { return std::vector<Tensor>{g * 2.0 + 1e-3}; });
    return std::vector<Tensor>{out};
  };
  const Tensor x = Tensor::from_data({2}, {1.0, 2.0}, DType::Float64);
  const GradCheckResult r = gradcheck(affine, {x});
  EXPECT_FALSE(r.passed);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems.front().find("zero upstream"), std::string::npos) << r;
  GradCheckOptions lax;
  lax.check_undefined_grad = false;
  lax.atol = 1e-2;
  EXPECT_TRUE(gradcheck(affine, {x}, lax).passed);

  auto counter = std::make_shared<int>(0);
  const Function noisy = [counter](const std::vector<Tensor>& v) {
    Tensor out = v[0].detach() * 2.0;
    record(out, "NoisyBackward", {v[0]}, [counter](const Tensor& g, NeedsGrad) {
      return std::vector<Tensor>{g * (2.0 + 1e-9 * ++*counter)};
    });
    return std::vector<Tensor>{out};
  };
  const GradCheckResult n = gradcheck(noisy, {x});
  EXPECT_FALSE(n.passed);
  ASSERT_FALSE(n.problems.empty());
  EXPECT_NE(n.problems.front().find("nondeterministic"), std::string::npos) << n;
  GradCheckOptions tol;
  tol.nondet_tol = 1e-6;
  EXPECT_TRUE(gradcheck(noisy, {x}, tol).passed) << gradcheck(noisy, {x}, tol);
  // a backward that raises is a reported problem, not a crash
  const Function raising = [](const std::vector<Tensor>& v) {
    Tensor out = v[0].detach() * 2.0;
    record(out, "RaisingBackward", {v[0]}, [](const Tensor&, NeedsGrad) -> std::vector<Tensor> {
      fail(ErrorKind::Value, "planted");
    });
    return std::vector<Tensor>{out};
  };
  const GradCheckResult e = gradcheck(raising, {x});
  EXPECT_FALSE(e.passed);
  EXPECT_NE(e.to_string().find("planted"), std::string::npos) << e;
  const nlohmann::json j = e.to_json();
  EXPECT_FALSE(j.at("problems").empty());
}

// The README's example, as written there.
// Nondeterminism's cost (analytic_row_runs): an output of ≤ 2 elements runs each row twice; a
// taller one each row once and one random upstream twice, which still sees a row that varies;
// the zero upstream runs once.
TEST(GradCheck, ATallOutputRunsEachRowOnceAndOneRandomUpstreamTwice) {
  auto calls = std::make_shared<int>(0);
  const Function noisy_last = [calls](const std::vector<Tensor>& v) {
    Tensor out = v[0].detach() * 2.0;
    record(out, "NoisyLastBackward", {v[0]}, [calls](const Tensor& g, NeedsGrad) {
      Tensor grad = g * 2.0;  // fresh and contiguous
      const int64_t last = g.numel() - 1;
      if (g.to_vector()[static_cast<size_t>(last)] != 0.0) grad.data<double>()[last] += 1e-9 * ++*calls;
      else ++*calls;
      return std::vector<Tensor>{grad};
    });
    return std::vector<Tensor>{out};
  };
  GradCheckOptions o;
  o.nondet_tol = 1e-6;  // the noise passes: count the backwards only
  Generator gen(1);
  for (int64_t m : {2, 5}) {
    *calls = 0;
    const GradCheckResult r = gradcheck(noisy_last, {Tensor::uniform({m}, -1.0, 1.0, gen, DType::Float64)}, o);
    EXPECT_TRUE(r.passed) << r;
    EXPECT_EQ(*calls, 1 + (m <= 2 ? 2 * m : m + 2)) << "m = " << m;  // and the zero upstream, once
  }
  const GradCheckResult tall = gradcheck(noisy_last, {Tensor::from_data({5}, {1, 2, 3, 4, 5}, DType::Float64)});
  EXPECT_FALSE(tall.passed);
  ASSERT_FALSE(tall.problems.empty()) << tall;
  EXPECT_NE(tall.problems.front().find("nondeterministic"), std::string::npos) << tall;
}

TEST(GradCheck, ReadmeExample) {
  Function f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{tanh(matmul(in[0], in[1])) * sum(hold(in[1]))};
  };
  Generator gen(0);
  GradCheckResult r = gradcheck(f, {Tensor::randn({3, 4}, gen), Tensor::randn({4, 2}, gen)});
  EXPECT_TRUE(r.passed) << r;
  EXPECT_EQ(r.input_dtypes[0], DType::Float32);
  EXPECT_EQ(r.pairs.size(), 2u);
}

// Every op case passes at the float32 defaults from one fixed draw. (Speed is measured by
// bench/ and tools/, never asserted here.)
TEST(GradCheck, EveryOpCasePassesInFloat32FromAFixedDraw) {
  size_t passed = 0;
  for (const auto& c : op_cases()) {
    Generator gen(5);
    const GradCheckResult r = gradcheck(as_function(c), draw_inputs(c, DType::Float32, gen));
    EXPECT_TRUE(r.passed) << r;
    passed += r.passed ? 1 : 0;
  }
  EXPECT_EQ(passed, op_cases().size());
}

// Prefetch names, ahead and at most kPrefetchPoints at a time, every point full mode's numeric
// side, or fast mode's probes, then evaluate f at (bit for bit), in both schemes: what an
// outside engine batches.
TEST(GradCheck, PrefetchNamesEveryNumericPointAhead) {
  for (const bool fast : {false, true})
  for (Scheme scheme : {Scheme::Central, Scheme::Richardson}) {
    SCOPED_TRACE(fast ? "fast mode" : "full mode");
    std::multiset<std::vector<double>> named, evaluated;
    const Function f = [&](const std::vector<Tensor>& x) {
      if (!x[0].requires_grad()) {
        std::vector<double> point = x[0].to_vector();
        for (double v : x[1].to_vector()) point.push_back(v);
        if (named.count(point)) evaluated.insert(point);
        else ADD_FAILURE() << "a point not prefetched";
      }
      return std::vector<Tensor>{tanh(x[0]) * sum(x[1])};
    };
    GradCheckOptions o;
    o.scheme = scheme;
    o.fast_mode = fast;
    o.spot_checks = 0;  // single columns, not prefetched
    o.prefetch = [&](const std::vector<std::vector<Tensor>>& points) {
      EXPECT_LE(points.size(), static_cast<size_t>(kPrefetchPoints));
      for (const auto& p : points) {
        std::vector<double> point = p[0].to_vector();
        for (double v : p[1].to_vector()) point.push_back(v);
        named.insert(point);
      }
    };
    std::vector<double> x0(40), x1(50);
    for (size_t k = 0; k < x0.size(); ++k) x0[k] = 0.1 * static_cast<double>(k) - 2.0;
    for (size_t k = 0; k < x1.size(); ++k) x1[k] = 1e3 * static_cast<double>(k);  // relative steps
    const Tensor a = Tensor::from_data({40}, x0, DType::Float64), b = Tensor::from_data({50}, x1, DType::Float64);
    std::vector<double> base = x0;  // the unperturbed run is not a column's: named here
    base.insert(base.end(), x1.begin(), x1.end());
    named.insert(base);
    const GradCheckResult r = gradcheck(f, {a, b}, o);
    EXPECT_TRUE(r.passed) << r;
    const size_t per_column_or_probe = scheme == Scheme::Richardson ? 4u : 2u;  // ± the step (and the half step)
    EXPECT_EQ(named.size(), 1 + (fast ? 3 * 2 : 90) * per_column_or_probe);  // 3 probes of 2 inputs, or 90 columns
    EXPECT_EQ(evaluated.size(), named.size());
  }
}

// With vjp_upstreams, full mode also gives Σ_j v_jᵀ·∂out_j/∂in_i from its columns: what
// backward of every output with its v_j accumulates (here against the engine's backward), and
// NaN where f raised at a perturbed point. Upstreams not matching the outputs are refused.
TEST(GradCheck, NumericVjpIsWhatBackwardWithThoseUpstreamsGives) {
  const Function f = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{tanh(x[0]) * x[1], sum(x[0] * x[0])};
  };
  const Tensor a = Tensor::from_data({3}, {-0.5, 0.25, 1.5}, DType::Float64);
  const Tensor b = Tensor::from_data({3}, {2.0, -1.0, 0.5}, DType::Float64);
  const Tensor v0 = Tensor::from_data({3}, {0.3, -1.2, 0.7}, DType::Float64), v1 = Tensor::scalar(-2.0, DType::Float64);
  GradCheckOptions o;
  o.vjp_upstreams = {v0, v1};
  const GradCheckResult r = gradcheck(f, {a, b}, o);
  ASSERT_EQ(r.numeric_vjp.size(), 2u);
  Tensor x = a.clone(), w = b.clone();
  x.requires_grad_(true);
  w.requires_grad_(true);
  const std::vector<Tensor> y = f({x, w});
  y[0].backward(v0, true);
  y[1].backward(v1);
  for (const auto& [numeric, grad] : {std::pair{r.numeric_vjp[0], x.grad()}, std::pair{r.numeric_vjp[1], w.grad()}}) {
    ASSERT_EQ(numeric.shape(), grad.shape());
    for (int64_t k = 0; k < grad.numel(); ++k) EXPECT_NEAR(numeric.to_vector()[k], grad.to_vector()[k], 1e-8);
  }
  GradCheckOptions one_input = o;
  one_input.inputs = {1};
  EXPECT_FALSE(gradcheck(f, {a, b}, one_input).numeric_vjp[0].defined());  // not selected
  const Function raising = [&](const std::vector<Tensor>& x) {
    if (!x[0].requires_grad() && x[0].to_vector()[0] > -0.5) throw Error(ErrorKind::Value, "planted");
    return f(x);
  };
  const GradCheckResult partial = gradcheck(raising, {a, b}, o);
  EXPECT_TRUE(std::isnan(partial.numeric_vjp[0].to_vector()[0]));
  EXPECT_FALSE(std::isnan(partial.numeric_vjp[0].to_vector()[1]));
  GradCheckOptions wrong = o;
  wrong.vjp_upstreams = {v0};
  EXPECT_THROW(gradcheck(f, {a, b}, wrong), Error);
  wrong.vjp_upstreams = {v0, v0};
  EXPECT_THROW(gradcheck(f, {a, b}, wrong), Error);
}

}  // namespace
}  // namespace gradoracle::oracle
