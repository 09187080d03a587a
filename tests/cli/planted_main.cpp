// gradoracle with planted bugs: the CLI as shipped (run_cli), plus the broken ops of
// tests/properties/broken_ops.hpp (a wrong sign, a missing broadcast reduction, a transposed
// matmul grad, a wrong reduction dim, softmax without its subtraction, a mul whose backward
// detaches its saved inputs: right at first order, wrong at second). `check` must fail and
// name each of them.
#include "broken_ops.hpp"
#include "gradoracle/cli/cli.hpp"

int main(int argc, char** argv) {
  using namespace gradoracle;
  return cli::run_cli(argc, argv, properties::broken::table());
}
