// Cost growth of the gradient checker with the input size N: f(x) = sum(x·x) over x of N
// float64 elements (one output element, so the analytic side is one backward).
//   full mode: 2 forward passes per input element (central differences) → time ∝ N evaluations
//              of O(N) each, i.e. O(N²) overall;
//   fast mode: a fixed number of evaluations (q = 3 probes and 4 spot checks, each two forward
//              passes, plus the unperturbed run) whatever N → O(N) overall, O(1) evaluations.
// Counter `evals` is the number of calls of f per check. tools/cost_growth.sh prints the table.
#include <benchmark/benchmark.h>

#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace {
using namespace gradoracle;

void run(benchmark::State& state, bool fast) {
  const int64_t n = state.range(0);
  Generator gen(0);
  const Tensor x = Tensor::randn({n}, gen, DType::Float64);
  int64_t calls = 0;
  const oracle::Function f = [&calls](const std::vector<Tensor>& in) {
    ++calls;
    return std::vector<Tensor>{sum(in[0] * in[0])};
  };
  oracle::GradCheckOptions options;
  options.fast_mode = fast;
  bool passed = true;
  for (auto _ : state) {
    calls = 0;
    const oracle::GradCheckResult r = oracle::gradcheck(f, {x}, options);
    passed = passed && r.passed;
    benchmark::DoNotOptimize(r.passed);
  }
  state.counters["evals"] = static_cast<double>(calls);
  if (!passed) state.SkipWithError("gradcheck failed");
}

void BM_Full(benchmark::State& state) { run(state, false); }
void BM_Fast(benchmark::State& state) { run(state, true); }

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {10, 100, 1000, 10000, 100000}) b->Arg(n);
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Full)->Apply(sizes)->Name("gradcheck_sum_x_sq/full");
BENCHMARK(BM_Fast)->Apply(sizes)->Name("gradcheck_sum_x_sq/fast");

}  // namespace

BENCHMARK_MAIN();
