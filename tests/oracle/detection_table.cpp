// Measures how often each planted backward bug is caught, per checker mode and dtype and by the
// linear closed form; then how fast mode's escape rate of one wrong entry depends on its size
// relative to the probe tolerance τ (the guarantee in gradcheck.hpp). Prints Markdown tables.
//   oracle_detection_table [seeds=200]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/closed_forms.hpp"
#include "gradoracle/oracle/compare.hpp"
#include "op_cases.hpp"
#include "planted_bugs.hpp"
#include "planted_bugs2.hpp"

using namespace gradoracle;
using namespace gradoracle::oracle;
using testing::Bug;
using testing::Bug2;

namespace {
std::vector<Tensor> draw(Generator& gen, DType dtype) {
  const int64_t n = gen.integer(2, 5), d = gen.integer(2, 4);
  return {Tensor::randn({n, d}, gen, dtype), Tensor::randn({d, d}, gen, dtype), Tensor::randn({d}, gen, dtype)};
}

bool closed_form_detects(Bug bug, std::vector<Tensor> xs, Generator& gen) {
  const DType dtype = xs[0].dtype();
  for (Tensor& x : xs) x.requires_grad_();
  const Tensor g = Tensor::randn({xs[0].size(0), xs[0].size(1)}, gen, dtype);
  testing::planted_linear(xs[0], xs[1], xs[2], bug).backward(g);
  const auto want = closed_forms::linear(xs[0], xs[1], g);
  const Tolerance tol = default_tolerance(dtype);
  return !(compare(xs[1].grad(), want.weight, tol).passed && compare(xs[2].grad(), want.bias, tol).passed &&
           compare(xs[0].grad(), want.input, tol).passed);
}

// y = A·x for a constant A (m, n), whose backward adds δ to one Jacobian entry.
Function corrupted_matvec(const Tensor& a, double delta, int64_t k, int64_t l) {
  return [a, delta, k, l](const std::vector<Tensor>& v) {
    Tensor out = matmul(a.to(v[0].dtype()), v[0].detach());
    const Tensor as = a;
    record(out, "CorruptedMatvec", {v[0]}, [as, delta, k, l](const Tensor& g, NeedsGrad) {
      std::vector<double> gx = matmul(g.to(DType::Float64), as).to_vector();  // gᵀA
      gx[static_cast<size_t>(l)] += delta * g.to_vector()[static_cast<size_t>(k)];
      return std::vector<Tensor>{Tensor::from_data({as.size(1)}, gx, g.dtype())};
    });
    return std::vector<Tensor>{out};
  };
}
}  // namespace

int main(int argc, char** argv) {
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 200;
  std::printf("Detection rate over %d random draws (x (N, d), W (d, d), b (d); N in 2..5, d in 2..4):\n\n", seeds);
  std::printf("| planted bug | full f64 | fast f64 | full f32 | fast f32 | closed form f64 | closed form f32 |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::vector<Bug> rows = {Bug::None};
  for (Bug b : testing::all_bugs()) rows.push_back(b);
  double time_full = 0, time_fast = 0;
  int n_full = 0, n_fast = 0;
  for (Bug bug : rows) {
    int hits[6] = {0, 0, 0, 0, 0, 0};
    for (int s = 0; s < seeds; ++s) {
      int col = 0;
      for (DType dtype : {DType::Float64, DType::Float32}) {
        for (bool fast : {false, true}) {
          Generator gen(static_cast<uint64_t>(s) * 31 + 17);
          GradCheckOptions o;
          o.fast_mode = fast;
          o.seed = static_cast<uint64_t>(s);
          const auto start = std::chrono::steady_clock::now();
          const bool passed = gradcheck(testing::planted_function(bug), draw(gen, dtype), o).passed;
          const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          (fast ? time_fast : time_full) += t;
          ++(fast ? n_fast : n_full);
          hits[col++] += passed ? 0 : 1;
        }
      }
      for (DType dtype : {DType::Float64, DType::Float32}) {
        Generator gen(static_cast<uint64_t>(s) * 31 + 17);
        const auto xs = draw(gen, dtype);
        hits[col++] += closed_form_detects(bug, xs, gen) ? 1 : 0;
      }
    }
    std::printf("| %s |", testing::bug_name(bug).c_str());
    for (int h : hits) std::printf(" %.1f%% |", 100.0 * h / seeds);
    std::printf("\n");
  }
  std::printf("\n(row \"none\" is the false-alarm rate.) Mean time per check: full %.3f ms, fast %.3f ms.\n\n",
              1e3 * time_full / n_full, 1e3 * time_fast / n_fast);

  // Second order: the planted cube op f(x, w) = x³·w + w (planted_bugs2.hpp), x and w of n
  // elements, n in 2..6; gradgradcheck in full and fast mode, and jvpcheck (full), per dtype.
  std::printf("Second order, %d random draws (f(x, w) = cube(x)*w + w, n in 2..6):\n\n", seeds);
  std::printf("| planted bug | gradgradcheck full f64 | fast f64 | full f32 | fast f32 | jvpcheck f64 | jvpcheck f32 | gradcheck (order 1) f64 |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::vector<Bug2> rows2 = {Bug2::None, Bug2::NoneOwnBackwardOp};
  for (Bug2 b : testing::all_bugs2()) rows2.push_back(b);
  for (Bug2 bug : rows2) {
    int hits[7] = {0, 0, 0, 0, 0, 0, 0};
    for (int s = 0; s < seeds; ++s) {
      int col = 0;
      for (DType dtype : {DType::Float64, DType::Float32}) {
        for (bool fast : {false, true}) {
          Generator gen(static_cast<uint64_t>(s) * 31 + 5);
          const int64_t n = gen.integer(2, 6);
          GradCheckOptions o;
          o.fast_mode = fast;
          o.seed = static_cast<uint64_t>(s);
          hits[col++] += gradgradcheck(testing::planted_function2(bug), {Tensor::randn({n}, gen, dtype), Tensor::randn({n}, gen, dtype)}, o).passed ? 0 : 1;
        }
      }
      for (DType dtype : {DType::Float64, DType::Float32}) {
        Generator gen(static_cast<uint64_t>(s) * 31 + 5);
        const int64_t n = gen.integer(2, 6);
        GradCheckOptions o;
        o.seed = static_cast<uint64_t>(s);
        hits[col++] += jvpcheck(testing::planted_function2(bug), {Tensor::randn({n}, gen, dtype), Tensor::randn({n}, gen, dtype)}, o).passed ? 0 : 1;
      }
      Generator gen(static_cast<uint64_t>(s) * 31 + 5);
      const int64_t n = gen.integer(2, 6);
      hits[col++] += gradcheck(testing::planted_function2(bug), {Tensor::randn({n}, gen, DType::Float64), Tensor::randn({n}, gen, DType::Float64)}).passed ? 0 : 1;
    }
    std::printf("| %s |", testing::bug_name(bug).c_str());
    for (int h : hits) std::printf(" %.1f%% |", 100.0 * h / seeds);
    std::printf("\n");
  }
  std::printf("\n(rows \"none\" are false alarms; the last column shows first order cannot see these bugs.)\n\n");

  // Fast mode alone (no spot checks, no fallback verdict): escape rate of one wrong entry of size
  // δ = m·τ in y = A·x, A (8, 8) float64 and float32, τ = atol·√(NM) + rtol·‖A‖_F.
  std::printf("Fast mode without spot checks: escape rate of one wrong Jacobian entry of size m*tau (A (8, 8)):\n\n");
  std::printf("| m | q=1 f64 | q=3 f64 | q=1 f32 | q=3 f32 | bound q=1 | bound q=3 |\n|---|---|---|---|---|---|---|\n");
  const double bound1[] = {0.79, 0.22, 0.036, 0.0052};
  int bi = 0;
  for (double m : {1.0, 10.0, 100.0, 1000.0}) {
    std::printf("| %g |", m);
    for (DType dtype : {DType::Float64, DType::Float32}) {
      for (int q : {1, 3}) {
        int escaped = 0;
        for (int s = 0; s < seeds; ++s) {
          Generator gen(static_cast<uint64_t>(s) + 999);
          const Tensor a = Tensor::randn({8, 8}, gen, DType::Float64);
          const Tolerance tol = gradcheck_tolerance(dtype);
          double fro = 0;
          for (double x : a.to_vector()) fro += x * x;
          const double tau = tol.atol * 8.0 + tol.rtol * std::sqrt(fro);
          GradCheckOptions o;
          o.fast_mode = true;
          o.probes = q;
          o.spot_checks = 0;
          o.explain_fast_failures = false;
          o.seed = static_cast<uint64_t>(s);
          const auto r = gradcheck(corrupted_matvec(a, m * tau, gen.integer(0, 7), gen.integer(0, 7)),
                                   {Tensor::randn({8}, gen, dtype)}, o);
          escaped += r.passed ? 1 : 0;
        }
        std::printf(" %.1f%% |", 100.0 * escaped / seeds);
      }
    }
    std::printf(" %.2g%% | %.2g%% |\n", 100 * bound1[bi], 100 * std::pow(bound1[bi], 3));
    ++bi;
  }

  // Cost at a larger size: the correct linear op, x (64, 32), W (32, 32), b (32), float64.
  {
    Generator gen(1);
    const std::vector<Tensor> xs = {Tensor::randn({64, 32}, gen, DType::Float64), Tensor::randn({32, 32}, gen, DType::Float64),
                                    Tensor::randn({32}, gen, DType::Float64)};
    for (bool fast : {false, true}) {
      GradCheckOptions o;
      o.fast_mode = fast;
      const auto start = std::chrono::steady_clock::now();
      const bool passed = gradcheck(testing::planted_function(Bug::None), xs, o).passed;
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("\n%s mode, linear x (64, 32), W (32, 32): %s in %.1f ms", fast ? "fast" : "full",
                  passed ? "passed" : "FAILED", 1e3 * t);
    }
    std::printf("\n\n");
  }

  // False alarms over the registry sweep at the default tolerances, and the margin: the largest
  // |a - n| / (atol + rtol*max(|a|, |n|) + k*estimate + rounding) seen (a false alarm needs > 1).
  {
    const auto cases = testing::op_cases();
    const int sweep = std::max(1, seeds / 4);
    std::printf("Registry sweep: %zu op cases x %d draws per dtype, default tolerances:\n\n", cases.size(), sweep);
    std::printf("| dtype | full-mode checks | false alarms | kinks | fast-mode false alarms | worst |a-n|/allowed |\n|---|---|---|---|---|---|\n");
    for (DType dtype : {DType::Float64, DType::Float32}) {
      int checks = 0, alarms = 0, kinks = 0, fast_alarms = 0;
      double worst = 0.0;
      for (const auto& c : cases) {
        for (int s = 0; s < sweep; ++s) {
          Generator gen(static_cast<uint64_t>(s) * 7919 + 12345);
          const auto xs = testing::draw_inputs(c, dtype, gen);
          const GradCheckResult r = gradcheck(testing::as_function(c), xs);
          ++checks;
          alarms += r.passed ? 0 : 1;
          kinks += r.has_kinks() ? 1 : 0;
          if (!r.worst.empty()) worst = std::max(worst, r.worst.front().abs_error / r.worst.front().allowed);
          GradCheckOptions o;
          o.fast_mode = true;
          o.seed = static_cast<uint64_t>(s);
          fast_alarms += gradcheck(testing::as_function(c), xs, o).passed ? 0 : 1;
        }
      }
      std::printf("| %s | %d | %d | %d | %d | %.3g |\n", name(dtype), checks, alarms, kinks, fast_alarms, worst);
    }
  }
  return 0;
}
