// Proof that the suite bites: each planted bug (broken_ops.hpp) is caught by the op sweep,
// shrunk to a small case, reported with a replay string, and written as a fixture.
#include "broken_ops.hpp"

#include "gradoracle/fixtures/fixture.hpp"
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

class BrokenOps : public ::testing::TestWithParam<std::string> {};

TEST_P(BrokenOps, AreCaughtAndShrunkToASmallCase) {
  RunOptions o;
  o.seed = 7;
  o.table = &broken::table();
  o.ops = {GetParam()};
  o.dtypes = {DType::Float64, DType::Float32};
  o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
  const std::vector<PropertyResult> results = run_op_sweep(o);
  ASSERT_EQ(results.size(), 2u);
  for (const PropertyResult& r : results) {
    SCOPED_TRACE(r.id);
    EXPECT_FALSE(r.passed);
    EXPECT_FALSE(r.gave_up) << r.message;
    EXPECT_NE(r.message.find(GetParam()), std::string::npos) << r.message;
    EXPECT_NE(r.reproduce.find("reproduce="), std::string::npos) << r.reproduce;
    EXPECT_NE(r.counterexample.find(GetParam()), std::string::npos) << r.counterexample;
    // The shrunk case is a fixture naming the op, with few elements.
    ASSERT_FALSE(r.fixture.empty());
    const fixtures::Fixture f = fixtures::read_fixture(r.fixture, broken::table());
    int64_t elements = 0;
    for (const auto& t : f.tensors) elements += t.literal.numel();
    EXPECT_LE(elements, 12) << r.counterexample;
    bool names_op = false;
    for (const auto& s : f.program) {
      if (const auto* op = s.as<fixtures::OpStatement>()) names_op |= op->op == GetParam();
    }
    EXPECT_TRUE(names_op);
    // `gradoracle gradcheck FILE` sees the same failure, and `replay FILE` fails on the grads
    // finite differences give, written with it.
    EXPECT_FALSE(fixtures::gradcheck_fixture(f, {}, broken::table()).passed()) << r.fixture;
    EXPECT_TRUE(r.gradcheck_fails && r.replay_fails);
    fixtures::ReplayOptions run;
    run.ops = &broken::table();
    EXPECT_FALSE(fixtures::replay(f, run).passed()) << r.fixture;
    // Replaying the reproduce string runs exactly the shrunk case, which fails again.
    RunOptions again = o;
    again.reproduce = r.reproduce;
    again.dtypes = {r.dtype};
    const auto replayed = run_op_sweep(again);
    ASSERT_EQ(replayed.size(), 1u);
    EXPECT_FALSE(replayed[0].passed);
    EXPECT_EQ(replayed[0].counterexample, r.counterexample);
  }
}

INSTANTIATE_TEST_SUITE_P(Planted, BrokenOps,
                         ::testing::Values("broken_sin_sign", "broken_add_broadcast", "broken_matmul_transposed",
                                           "broken_sum_dim", "broken_softmax"));

// Bugs at a kink or at large magnitudes: the op's reference inputs catch them before any
// random case, with a fixture that fails again (replay for a pinned gradient, gradcheck or
// the finiteness check otherwise).
TEST(BrokenOps, OnlyReferenceInputsCatchKinkAndStabilityBugs) {
  for (const char* planted : {"broken_relu_at_zero", "broken_softmax_unshifted"}) {
    SCOPED_TRACE(planted);
    RunOptions o;
    o.seed = 7;
    o.table = &broken::table();
    o.ops = {planted};
    o.dtypes = {DType::Float64};
    o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
    const std::vector<PropertyResult> results = run_op_sweep(o);
    ASSERT_EQ(results.size(), 1u);
    const PropertyResult& r = results[0];
    EXPECT_FALSE(r.passed);
    EXPECT_TRUE(r.reference_failed) << r.message;
    EXPECT_NE(r.message.find("reference input"), std::string::npos) << r.message;
    ASSERT_FALSE(r.fixture.empty());
    const fixtures::Fixture f = fixtures::read_fixture(r.fixture, broken::table());
    fixtures::ReplayOptions run;
    run.ops = &broken::table();
    if (r.replay_fails) {
      EXPECT_FALSE(fixtures::replay(f, run).passed());
    }
    // Without the reference inputs, the random cases pass: the class is the references'.
    registry::OpSpec bare = *broken::table().find(planted);
    bare.name = std::string(planted) + "_bare";
    bare.references.clear();
    const registry::OpTable without(registry::builtin_ops(), {bare});
    RunOptions w = o;
    w.table = &without;
    w.ops = {bare.name};
    w.cases = 300;
    const std::vector<PropertyResult> random_only = run_op_sweep(w);
    ASSERT_EQ(random_only.size(), 1u);
    EXPECT_TRUE(random_only[0].passed) << random_only[0].message;
  }
}

// A second-order-only bug (a backward using detached saved inputs) passes the op's gradcheck
// and fails its gradgradcheck task op2/<op>/<dtype>, shrunk to a small grad_of fixture that
// `gradoracle gradcheck FILE` fails again and that its reproduce string replays.
TEST(BrokenOps, SecondOrderBugPassesFirstOrderAndFailsOp2) {
  RunOptions o;
  o.seed = 7;
  o.table = &broken::table();
  o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
  o.ops = {"broken_mul_detached"};
  for (const PropertyResult& r : run_op_sweep(o)) EXPECT_TRUE(r.passed) << r.id << ": " << r.message;
  o.ops.clear();
  o.tasks = {"op2/broken_mul_detached/*"};
  const std::vector<PropertyResult> results = run_tasks(all_tasks(o), o);
  ASSERT_EQ(results.size(), 2u);
  for (const PropertyResult& r : results) {
    SCOPED_TRACE(r.id);
    EXPECT_FALSE(r.passed);
    EXPECT_NE(r.reproduce.find("reproduce="), std::string::npos) << r.reproduce;
    ASSERT_FALSE(r.fixture.empty()) << r.message;
    const fixtures::Fixture f = fixtures::read_fixture(r.fixture, broken::table());
    int64_t elements = 0;
    bool grad_of = false;
    for (const auto& t : f.tensors) elements += t.literal.numel();
    for (const auto& s : f.program) grad_of |= s.as<fixtures::GradOfStatement>() != nullptr;
    EXPECT_LE(elements, 4) << r.counterexample;
    EXPECT_TRUE(grad_of) << r.fixture;
    EXPECT_FALSE(fixtures::gradcheck_fixture(f, {}, broken::table()).passed()) << r.fixture;
    fixtures::ReplayOptions run;
    run.ops = &broken::table();
    EXPECT_TRUE(r.replay_fails);
    EXPECT_FALSE(fixtures::replay(f, run).passed()) << r.fixture;
    RunOptions again = o;
    again.reproduce = r.reproduce;
    again.dtypes = {r.dtype};
    const auto replayed = run_tasks(all_tasks(again), again);
    ASSERT_EQ(replayed.size(), 1u);
    EXPECT_FALSE(replayed[0].passed);
    EXPECT_EQ(replayed[0].counterexample, r.counterexample);
  }
}

// The planted bugs inside random programs are caught too.
TEST(BrokenOps, AreCaughtInsideRandomPrograms) {
  RunOptions o;
  o.seed = 11;
  o.table = &broken::table();
  o.program_ops = broken::names();
  o.dtypes = {DType::Float64};
  o.cases = 200;
  o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
  const auto results = run_program_sweep(o);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].passed) << results[0].message;
}

}  // namespace
}  // namespace gradoracle::properties
