// The in-process runner that `gradoracle check` calls: coverage, budgets, shards, determinism.
#include <algorithm>
#include <set>

#include "broken_ops.hpp"
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

TEST(Runner, SweepsEveryFuzzableOpInBothDtypes) {
  RunOptions o;
  o.seed = 1;
  o.cases = 10;
  const auto results = run_op_sweep(o);
  EXPECT_EQ(results.size(), 2 * fuzzable_ops().size());
  for (const PropertyResult& r : results) {
    EXPECT_TRUE(r.passed) << r.id << ": " << r.message << "\n" << r.counterexample;
    // The op's reference inputs run first and count as cases.
    EXPECT_EQ(r.cases, 10 + static_cast<int>(registry::builtin_ops().find(r.op)->references.size())) << r.id;
    EXPECT_LT(r.discarded, r.cases) << r.id << ": too many draws land on kinks or domain edges";
  }
}

TEST(Runner, FiltersByOpAndDtype) {
  RunOptions o;
  o.cases = 5;
  o.ops = {"softmax", "matmul"};
  o.dtypes = {DType::Float32};
  const auto results = run_op_sweep(o);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].id, "op/matmul/float32");
  EXPECT_EQ(results[1].id, "op/softmax/float32");
  EXPECT_EQ(results[1].op, "softmax");
}

TEST(Runner, ProgramsAreMostlyCheckedNotDiscarded) {
  RunOptions o;
  o.seed = 3;
  o.cases = 100;
  for (const PropertyResult& r : run_program_sweep(o)) {
    EXPECT_TRUE(r.passed) << r.message << "\n" << r.counterexample;
    EXPECT_LT(r.discarded, r.cases / 2) << r.id;
  }
}

TEST(Runner, StructuralPropertiesPass) {
  RunOptions o;
  o.seed = 5;
  o.cases = 20;
  const auto results = run_structural(o);
  const std::vector<Task> tasks = structural_tasks(o);  // a result per structural task, however many are registered
  ASSERT_EQ(results.size(), tasks.size());
  for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i].id, tasks[i].id);
  std::vector<std::string> expected = {"structural/stability/float64", "structural/dim_refusals/float32",
                                       "structural/nn_model/float64"};
  std::vector<std::string> names;
  for (const NamedProperty& p : bookkeeping_properties()) names.push_back(p.name);
  for (const TableProperty& p : second_order_properties()) names.push_back(p.name);
  for (const std::string& n : names)
    for (const char* dtype : {"float64", "float32"}) expected.push_back("structural/" + n + "/" + dtype);
  for (const std::string& id : expected) {
    EXPECT_TRUE(std::any_of(results.begin(), results.end(), [&](const PropertyResult& r) { return r.id == id; })) << id;
  }
  for (const PropertyResult& r : results) EXPECT_TRUE(r.passed) << r.id << ": " << r.message << "\n" << r.counterexample;
}

TEST(Runner, ShardsPartitionTheTasks) {
  RunOptions o;
  std::vector<std::string> all;
  for (const Task& t : all_tasks(o)) all.push_back(t.id);
  std::multiset<std::string> seen;
  o.shard_count = 3;
  for (int i = 0; i < 3; ++i) {
    o.shard_index = i;
    const auto tasks = all_tasks(o);
    EXPECT_GE(tasks.size(), all.size() / 3);
    for (const Task& t : tasks) seen.insert(t.id);
  }
  EXPECT_EQ(seen, std::multiset<std::string>(all.begin(), all.end()));
}

TEST(Runner, SameSeedSameCounterexample) {
  RunOptions o;
  o.seed = 99;
  o.table = &broken::table();
  o.ops = {"broken_softmax"};
  o.dtypes = {DType::Float64};
  o.counterexample_dir = std::filesystem::path(GRADORACLE_COUNTEREXAMPLES) / "planted";
  const auto a = run_op_sweep(o);
  const auto b = run_op_sweep(o);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FALSE(a[0].passed);
  EXPECT_EQ(a[0].counterexample, b[0].counterexample);
  EXPECT_EQ(a[0].reproduce, b[0].reproduce);
  EXPECT_NE(a[0].reproduce.find("seed=99"), std::string::npos) << a[0].reproduce;
}

TEST(Runner, ReportsProgressPerProperty) {
  RunOptions o;
  o.cases = 2;
  o.ops = {"exp"};
  std::vector<std::string> seen;
  o.on_result = [&](const PropertyResult& r) { seen.push_back(r.id); };
  run_op_sweep(o);
  EXPECT_EQ(seen, (std::vector<std::string>{"op/exp/float64", "op/exp/float32"}));
}

TEST(Runner, DeadlineStopsATaskEarlyAndSaysSo) {
  RunOptions o;
  o.cases = 1000000;
  o.ops = {"exp"};
  o.dtypes = {DType::Float64};
  o.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  const auto results = run_op_sweep(o);  // a million cases would take minutes: the deadline ends it
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].passed) << results[0].message;
  EXPECT_TRUE(results[0].stopped_early);
  EXPECT_LT(results[0].cases, 1000000);
  EXPECT_EQ(results[0].planned, 1000000);
}

TEST(Runner, ReportsEachCaseAndFingerprintsTheSequence) {
  RunOptions o;
  o.seed = 4;
  o.cases = 7;
  o.ops = {"tanh"};
  o.dtypes = {DType::Float32};
  int calls = 0, last = 0;
  o.on_case = [&](const std::string& id, int cases, bool failed) {
    EXPECT_EQ(id, "op/tanh/float32");
    EXPECT_FALSE(failed);
    ++calls;
    last = cases;
  };
  const PropertyResult a = run_op_sweep(o).at(0);
  const int references = static_cast<int>(registry::builtin_ops().find("tanh")->references.size());
  ASSERT_GT(references, 0);
  EXPECT_EQ(calls, 7);  // the random cases, counted after the reference inputs
  EXPECT_EQ(last, 7 + references);
  EXPECT_FALSE(a.stopped_early);
  o.on_case = nullptr;
  EXPECT_EQ(run_op_sweep(o).at(0).digest, a.digest);
  o.seed = 5;
  EXPECT_NE(run_op_sweep(o).at(0).digest, a.digest);
}

}  // namespace
}  // namespace gradoracle::properties
