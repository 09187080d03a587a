// The gate's tasks as GoogleTest tests: every task properties::all_tasks() gives (each op's
// reference inputs and gradcheck in both dtypes, random programs, the structural properties)
// is one test, Gate.<id with '/' as '_'>, run by the same runner as `gradoracle check`.
// Nothing here names an op or a property: registering one is all it takes for it to be tested.
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

class GateTaskTest : public ::testing::Test {
 public:
  explicit GateTaskTest(Task task) : task_(std::move(task)) {}
  void TestBody() override { testing::expect_passes(run_task(task_, testing::options())); }

 private:
  Task task_;
};

const bool kRegistered = [] {
  for (Task& t : all_tasks(testing::options())) {
    std::string name = t.id;
    std::replace(name.begin(), name.end(), '/', '_');
    ::testing::RegisterTest("Gate", name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [t]() -> ::testing::Test* { return new GateTaskTest(t); });
  }
  return true;
}();

TEST(Gate, EveryDifferentiableOpWithADrawableRuleIsATask) {
  ASSERT_TRUE(kRegistered);
  const std::vector<Task> tasks = all_tasks(testing::options());
  for (const registry::OpSpec& op : registry::builtin_ops().ops()) {
    const bool drawable = op.differentiable && registry::rule_info(op.shape).drawable;
    const bool tasked = std::any_of(tasks.begin(), tasks.end(), [&](const Task& t) { return t.op == op.name; });
    EXPECT_EQ(drawable, tasked) << op.name;
  }
}

}  // namespace
}  // namespace gradoracle::properties
