// Gradcheck of every fuzzable op in the registry, one test per op and dtype
// (OpGradcheck_float64.exp, ...), so a failure names its op; and of random programs.
// Nothing here names an op: registering one is all it takes for it to be checked.
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

class OpGradcheckTest : public ::testing::Test {
 public:
  OpGradcheckTest(const registry::OpSpec* op, DType dtype) : op_(op), dtype_(dtype) {}
  void TestBody() override {
    testing::check_property([op = op_, dtype = dtype_] { prop_op_gradcheck(*op, dtype); }, kOpCases);
  }

 private:
  const registry::OpSpec* op_;
  DType dtype_;
};

const bool kRegistered = [] {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const std::string suite = std::string("OpGradcheck_") + name(dtype);
    for (const registry::OpSpec* op : fuzzable_ops()) {
      ::testing::RegisterTest(suite.c_str(), op->name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                              [op, dtype]() -> ::testing::Test* { return new OpGradcheckTest(op, dtype); });
    }
  }
  return true;
}();

GRADORACLE_PROP(ProgramGradcheck, Float64, kProgramCases, ()) { prop_program_gradcheck(DType::Float64); }
GRADORACLE_PROP(ProgramGradcheck, Float32, kProgramCases, ()) { prop_program_gradcheck(DType::Float32); }

TEST(OpGradcheck, EveryDifferentiableOpWithAShapeRuleIsSwept) {
  (void)kRegistered;
  for (const registry::OpSpec& op : registry::builtin_ops().ops()) {
    if (op.differentiable && op.shape != registry::ShapeRule::Parameters && op.shape != registry::ShapeRule::Identity) {
      EXPECT_TRUE(fuzzable(op)) << op.name;
    }
  }
}

}  // namespace
}  // namespace gradoracle::properties
