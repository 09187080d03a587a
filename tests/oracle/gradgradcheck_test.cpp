// The second-order checker and the JVP check: they pass on twice-differentiable compositions,
// catch each planted second-order bug in full and fast mode and both dtypes, and name the element.
#include <bit>

#include <gtest/gtest.h>

#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "planted_bugs2.hpp"

namespace gradoracle::oracle {
namespace {

using testing::Bug2;

GradCheckOptions mode(bool fast, uint64_t seed) {
  GradCheckOptions o;
  o.fast_mode = fast;
  o.seed = seed;
  return o;
}

// tanh(a·b)·c / (c·c + 1) − a·b and −c, with a (n, 1), b (1, m) broadcast, c (n, m).
// (matmul is not twice differentiable on main yet: its backward's GEMM records nothing, which
// gradgradcheck reports as a zero d grad / d in.)
std::vector<Tensor> composition(const std::vector<Tensor>& in) {
  const Tensor ab = mul(in[0], in[1]);
  return {sub(div(mul(tanh(ab), in[2]), add(mul(in[2], in[2]), 1.0)), ab), neg(in[2])};
}

std::vector<Tensor> draw_composition(Generator& gen, DType d) {
  const int64_t n = gen.integer(1, 3), m = gen.integer(1, 3);
  return {Tensor::randn({n, 1}, gen, d), Tensor::randn({1, m}, gen, d), Tensor::randn({n, m}, gen, d)};
}

std::vector<Tensor> draw_cube(Generator& gen, DType d) {
  const int64_t n = gen.integer(2, 5);
  return {Tensor::randn({n}, gen, d), Tensor::randn({n}, gen, d)};
}

TEST(GradGradCheck, PassesOnTwiceDifferentiableCompositions) {
  for (DType d : {DType::Float64, DType::Float32}) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      for (bool fast : {false, true}) {
        Generator gen(seed);
        const auto xs = draw_composition(gen, d);
        const GradCheckResult r = gradgradcheck(composition, xs, mode(fast, seed));
        EXPECT_TRUE(r.passed) << name(d) << " seed " << seed << "\n" << r;
        EXPECT_EQ(r.check, "gradgradcheck");
        const GradCheckResult j = jvpcheck(composition, xs, mode(fast, seed));
        EXPECT_TRUE(j.passed) << name(d) << " seed " << seed << "\n" << j;
      }
    }
  }
}

// A held value is a constant on both sides; an input no output reaches has a zero grad.
TEST(GradGradCheck, HoldAndUnusedInputs) {
  const Function f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{mul(tanh(in[0]), hold(in[0]))}; };
  const Function g = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{tanh(in[0])}; };
  Generator gen(5);
  const std::vector<Tensor> xs = {Tensor::randn({3}, gen, DType::Float64), Tensor::randn({2}, gen, DType::Float64)};
  const GradCheckResult held = gradgradcheck(f, xs);
  EXPECT_TRUE(held.passed) << held;
  const GradCheckResult unused = gradgradcheck(g, xs);
  EXPECT_TRUE(unused.passed) << unused;
  EXPECT_EQ(unused.output_shapes.size(), 2u);  // grad(in0), grad(in1) = zeros
  // A detach not made through hold() fails, as in first order: the numeric side varies it.
  const Function d = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{mul(tanh(in[0]), in[0].detach())}; };
  EXPECT_FALSE(gradgradcheck(d, xs).passed);
}

TEST(GradGradCheck, CorrectPlantedOpsPass) {
  for (Bug2 bug : {Bug2::None, Bug2::NoneOwnBackwardOp}) {
    for (DType d : {DType::Float64, DType::Float32}) {
      for (bool fast : {false, true}) {
        Generator gen(11);
        const auto xs = draw_cube(gen, d);
        const GradCheckResult r = gradgradcheck(testing::planted_function2(bug), xs, mode(fast, 11));
        EXPECT_TRUE(r.passed) << testing::bug_name(bug) << " " << name(d) << "\n" << r;
        EXPECT_TRUE(jvpcheck(testing::planted_function2(bug), xs, mode(fast, 11)).passed) << testing::bug_name(bug);
      }
    }
  }
}

TEST(GradGradCheck, CatchesEachPlantedBugInEveryModeAndDtype) {
  for (Bug2 bug : testing::all_bugs2()) {
    for (DType d : {DType::Float64, DType::Float32}) {
      for (uint64_t seed = 0; seed < 3; ++seed) {
        Generator gen(seed);
        const auto xs = draw_cube(gen, d);
        // first order is right: only the second order can see these bugs
        EXPECT_TRUE(gradcheck(testing::planted_function2(bug), xs).passed) << testing::bug_name(bug);
        for (bool fast : {false, true}) {
          const GradCheckResult r = gradgradcheck(testing::planted_function2(bug), xs, mode(fast, seed));
          EXPECT_FALSE(r.passed) << testing::bug_name(bug) << " " << name(d) << (fast ? " fast" : " full") << "\n" << r;
          EXPECT_GT(r.failure_count, 0) << testing::bug_name(bug);
        }
      }
    }
  }
}

// The report names which grad of which input, or of the upstream, and the element.
TEST(GradGradCheck, ReportNamesGradInputAndUpstream) {
  Generator gen(3);
  const auto xs = draw_cube(gen, DType::Float64);
  const GradCheckResult second = gradgradcheck(testing::planted_function2(Bug2::WrongSecondTerm), xs);
  ASSERT_FALSE(second.worst.empty()) << second;
  const EntryReport& e = second.worst.front();
  EXPECT_EQ(e.output, 0);  // grad(in0)
  EXPECT_EQ(e.input, 0);   // in0
  EXPECT_EQ(e.input_index, e.output_index);  // elementwise: the wrong terms are on the diagonal
  const std::string text = second.to_string();
  EXPECT_NE(text.find("gradgradcheck FAILED"), std::string::npos) << text;
  EXPECT_NE(text.find("d grad(in0)" + index_string(e.output_index) + " / d in0" + index_string(e.input_index)),
            std::string::npos)
      << text;
  // analytic = half the numeric ∂/∂x term: 3x·g·w·v against 6x·g·w·v (+ nothing else on x)
  EXPECT_NEAR(e.analytic / e.numeric, 0.5, 1e-5) << text;

  const GradCheckResult up = gradgradcheck(testing::planted_function2(Bug2::WrongUpstreamTerm), xs);
  ASSERT_FALSE(up.worst.empty()) << up;
  EXPECT_EQ(up.worst.front().input, 2);  // upstream0: F's inputs are in0, in1, upstream0
  const std::string up_text = up.to_string();
  EXPECT_NE(up_text.find(" / d upstream0["), std::string::npos) << up_text;
  EXPECT_EQ(up.to_json().at("input_names").at(2), "upstream0");
  EXPECT_EQ(up.to_json().at("output_names").at(0), "grad(in0)");
}

TEST(GradGradCheck, OrderTwoThroughGradChecker) {
  Generator gen(4);
  const auto xs = draw_cube(gen, DType::Float64);
  GradCheckOptions o;
  o.order = 2;
  const GradCheckResult bad = GradChecker(o).check(testing::planted_function2(Bug2::DetachedSaved), xs);
  EXPECT_FALSE(bad.passed);
  EXPECT_EQ(bad.check, "gradgradcheck");
  EXPECT_TRUE(GradChecker(o).check(testing::planted_function2(Bug2::None), xs).passed);
  EXPECT_TRUE(gradcheck(testing::planted_function2(Bug2::DetachedSaved), xs).passed);  // order 1 sees nothing
  o.raise_exception = true;
  EXPECT_THROW(GradChecker(o).check(testing::planted_function2(Bug2::DetachedSaved), xs), GradCheckError);
  o.order = 3;
  EXPECT_THROW(GradChecker(o).check(testing::planted_function2(Bug2::None), xs), Error);
  // given upstreams, and only input 0 differentiated: F's inputs are in0, in1, upstream0
  GradCheckOptions sel;
  sel.inputs = {0};
  const GradCheckResult given = gradgradcheck(testing::planted_function2(Bug2::None), xs, sel, {Tensor::ones(xs[0].shape(), DType::Float64)});
  EXPECT_TRUE(given.passed) << given;
  EXPECT_EQ(given.output_names, (std::vector<std::string>{"grad(in0)"}));
  EXPECT_THROW(gradgradcheck(testing::planted_function2(Bug2::None), xs, sel, {Tensor::ones({7}, DType::Float64)}), Error);
}

// The double VJP gives J·u; it sees the bugs in the backward's derivative in its upstream
// (no graph at all, a wrong ∂/∂g), not those in its derivative in x (gradgradcheck's part).
TEST(JvpCheck, CatchesUpstreamBugsAndReportsByOutputElement) {
  for (DType d : {DType::Float64, DType::Float32}) {
    for (bool fast : {false, true}) {
      Generator gen(8);
      const auto xs = draw_cube(gen, d);
      for (Bug2 bug : {Bug2::NonRecordingKernel, Bug2::WrongUpstreamTerm}) {
        const GradCheckResult r = jvpcheck(testing::planted_function2(bug), xs, mode(fast, 8));
        EXPECT_FALSE(r.passed) << testing::bug_name(bug) << " " << name(d) << "\n" << r;
        ASSERT_FALSE(r.worst.empty());
        EXPECT_EQ(r.worst.front().input, 0);  // t
        EXPECT_EQ(r.check, "jvpcheck");
        EXPECT_NE(r.to_string().find(" / d t[]"), std::string::npos) << r;
      }
      for (Bug2 bug : {Bug2::DetachedSaved, Bug2::WrongSecondTerm})
        EXPECT_TRUE(jvpcheck(testing::planted_function2(bug), xs, mode(fast, 8)).passed) << testing::bug_name(bug);
    }
  }
  // the entries are the output elements: y = x³ with a backward that records nothing has
  // J·u = 0 by the double VJP where it is 3x²·u, element by element
  const Function cube = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{testing::planted_cube(in[0], Bug2::NonRecordingKernel)};
  };
  const std::vector<Tensor> x = {Tensor::from_data({3}, {0.5, -1.0, 2.0}, DType::Float64)};
  const GradCheckResult r = jvpcheck(cube, x);
  EXPECT_EQ(r.failure_count, 3) << r;
  ASSERT_FALSE(r.worst.empty());
  EXPECT_EQ(r.worst.front().analytic, 0.0);
  EXPECT_EQ(r.worst.size(), 3u);  // one entry per output element, each d out0[k] / d t
}

}  // namespace
}  // namespace gradoracle::oracle

namespace gradoracle::oracle {
namespace {

// c·x·x (elementwise, c broadcast): F(x, v) = 2·c·x·v is linear in x and in v, so no column's
// kink test takes a finer step and every evaluation of f is one the check plans.
Function counted_square(int& calls, bool with_hold) {
  return [&calls, with_hold](const std::vector<Tensor>& in) {
    ++calls;
    Tensor y = mul(mul(in[0], in[0]), in[1]);
    if (with_hold) y = add(y, hold(Tensor::zeros({}, y.dtype())));  // adds 0; hold() turns the kept graph off
    return std::vector<Tensor>{y};
  };
}

// The upstream columns take the backward of the unperturbed run's kept graph: f runs once for
// its outputs' shapes, once on the analytic run, once on the unperturbed float64 run and twice
// per element of x; the 2·M upstream evaluations run no f. A function that calls hold() runs f
// on each of them.
TEST(GradGradCheck, UpstreamColumnsReuseTheUnperturbedGraph) {
  Generator gen(7);
  const std::vector<Tensor> xs = {Tensor::randn({2, 3}, gen, DType::Float64), Tensor::randn({3}, gen, DType::Float64)};
  const int n = 6 + 3, m = 6;
  for (bool with_hold : {false, true}) {
    int calls = 0;
    const GradCheckResult r = gradgradcheck(counted_square(calls, with_hold), xs);
    EXPECT_TRUE(r.passed) << r;
    EXPECT_EQ(calls, 3 + 2 * n + (with_hold ? 2 * m : 0)) << (with_hold ? "with hold" : "without hold");
  }
}

// What the kept graph gives is what a fresh run gives, bit for bit: every judged entry's two
// sides, in full and fast mode, both dtypes, against the same check with the kept graph turned
// off (a hold() of a constant, which changes no value).
TEST(GradGradCheck, KeptGraphGivesAFreshRunsValues) {
  auto with_hold = [](bool h) {
    return [h](const std::vector<Tensor>& in) {
      std::vector<Tensor> y = composition(in);
      if (h) y[0] = add(y[0], hold(Tensor::zeros({}, y[0].dtype())));
      return y;
    };
  };
  for (DType d : {DType::Float64, DType::Float32}) {
    for (uint64_t seed = 0; seed < 4; ++seed) {
      for (bool fast : {false, true}) {
        Generator gen(seed);
        const auto xs = draw_composition(gen, d);
        GradCheckOptions o = mode(fast, seed);
        o.worst_k = 1000;  // every entry
        const GradCheckResult kept = gradgradcheck(with_hold(false), xs, o);
        const GradCheckResult fresh = gradgradcheck(with_hold(true), xs, o);
        EXPECT_EQ(kept.to_json().dump(), fresh.to_json().dump()) << name(d) << " seed " << seed;
        ASSERT_EQ(kept.worst.size(), fresh.worst.size());
        for (size_t e = 0; e < kept.worst.size(); ++e) {
          EXPECT_EQ(std::bit_cast<uint64_t>(kept.worst[e].numeric), std::bit_cast<uint64_t>(fresh.worst[e].numeric));
          EXPECT_EQ(std::bit_cast<uint64_t>(kept.worst[e].analytic), std::bit_cast<uint64_t>(fresh.worst[e].analytic));
        }
        EXPECT_EQ(kept.probes.size(), fresh.probes.size());
      }
    }
  }
}

}  // namespace
}  // namespace gradoracle::oracle
