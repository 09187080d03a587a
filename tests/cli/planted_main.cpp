// gradoracle with planted bugs: the CLI as shipped (run_cli), plus the broken ops of
// tests/properties/broken_ops.hpp (a wrong sign, a missing broadcast reduction, a transposed
// matmul grad, a wrong reduction dim, softmax without its subtraction, a mul whose backward
// detaches its saved inputs: right at first order, wrong at second). `check` must fail and
// name each of them. With GRADORACLE_PLANTED_CRASH set, one more op, broken_crash (sin whose
// backward aborts the process): how the gate ends when a task crashes, in a worker or not.
#include <cstdlib>

#include "broken_ops.hpp"
#include "gradoracle/cli/cli.hpp"

namespace {
using namespace gradoracle;

registry::OpSpec crash_in_backward() {
  registry::OpSpec s = properties::broken::op("broken_crash", registry::ShapeRule::Unary, 1);
  s.call = [](const std::vector<registry::Arg>& args, const registry::Attrs&) {
    const Tensor a = properties::broken::tensor(args, 0);
    return properties::broken::custom("BrokenCrashBackward0", {a}, [](const auto& x) { return sin(x[0]); },
                                      [](const Tensor&, NeedsGrad) -> std::vector<Tensor> { std::abort(); });
  };
  return s;
}
}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRADORACLE_PLANTED_CRASH") != nullptr) {
    static const registry::OpTable with_crash(properties::broken::table(), {crash_in_backward()});
    return cli::run_cli(argc, argv, with_crash);
  }
  return cli::run_cli(argc, argv, properties::broken::table());
}
