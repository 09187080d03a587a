// gradoracle: the gate (check); replay, gradcheck and generate fixtures (format v1); list the ops.
#include "gradoracle/cli/cli.hpp"

int main(int argc, char** argv) { return gradoracle::cli::run_cli(argc, argv); }
