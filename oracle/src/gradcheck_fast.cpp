// The checker's fast mode (the probes, their tolerance and guarantee: gradcheck.hpp).
#include <algorithm>
#include <cmath>

#include "gradcheck_run.hpp"
#include "gradoracle/engine/random.hpp"

namespace gradoracle::oracle::detail {

namespace {
double norm2(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}
}  // namespace

// Fast mode: q probes vᵀJu per pair, spot checks, and the full Jacobian of a failing pair.
void Run::fast() {
  Generator gen(o_.seed);
  std::vector<std::vector<char>> pair_failed(inputs_.size(), std::vector<char>(outs_.size(), 0));
  for (int p = 0; p < std::max(1, o_.probes); ++p) {
    std::vector<std::vector<double>> w(inputs_.size()), v(outs_.size());
    for (int i : sel_in_) {
      const std::vector<double> x = x64_[static_cast<size_t>(i)].to_vector();
      for (double xl : x) {
        const double scale = o_.step == Step::Relative ? std::max(1.0, std::abs(xl)) : 1.0;
        w[static_cast<size_t>(i)].push_back(gen.normal() * scale);
      }
    }
    for (int j : sel_out_) {
      for (int64_t k = 0; k < outs_[static_cast<size_t>(j)].numel(); ++k) {
        double vk = gen.normal();
        if (outs_[static_cast<size_t>(j)].dtype() == DType::Float32) vk = static_cast<double>(static_cast<float>(vk));
        v[static_cast<size_t>(j)].push_back(vk);
      }
    }
    if (o_.prefetch) prefetch_directions(w);
    // analytic: one backward per output gives gᵢ = Jᵢⱼᵀv for every input
    std::vector<Values> g(outs_.size());
    for (int j : sel_out_) vjp(j, v[static_cast<size_t>(j)], g[static_cast<size_t>(j)], o_.check_nondeterminism ? 2 : 1);
    for (int i : sel_in_) {
      const size_t I = static_cast<size_t>(i);
      Values d, est;
      try {
        directional(i, w[I], d, est);
      } catch (const Error&) {
        for (int j : sel_out_) pair_failed[I][static_cast<size_t>(j)] = 1;
        continue;
      }
      const double wn = norm2(w[I]);
      const double sqrt_n = std::sqrt(static_cast<double>(std::max<size_t>(1, w[I].size())));
      for (int j : sel_out_) {
        const size_t J = static_cast<size_t>(j);
        ProbeReport pr;
        pr.input = i;
        pr.output = j;
        pr.probe = p;
        const std::vector<double>& gi = g[J][I];
        double a = 0.0, n = 0.0, e = 0.0;
        for (size_t l = 0; l < gi.size(); ++l) a += gi[l] * w[I][l];
        for (size_t k = 0; k < v[J].size(); ++k) {
          n += v[J][k] * d[J][k];
          e += std::abs(v[J][k]) * est[J][k];
        }
        pr.analytic = a;
        pr.numeric = n;
        pr.nonfinite = !std::isfinite(a) || !std::isfinite(n);
        pr.abs_error = std::isnan(a) != std::isnan(n) ? kInf : (std::isnan(a) ? 0.0 : std::abs(a - n));
        pr.allowed = r_.tolerance.atol * wn * norm2(v[J]) + r_.tolerance.rtol * norm2(gi) * wn / sqrt_n +
                     o_.estimate_weight * e;
        pr.passed = !pr.nonfinite && pr.abs_error <= pr.allowed;
        if (!pr.passed) {
          pair_failed[I][J] = 1;
          pair(i, j).probes_passed = false;
        }
        r_.probes.push_back(pr);
      }
    }
  }
  // Spot checks: random single entries under the full-mode inequality, spot_checks per pair,
  // drawn as a grid: spot_checks columns l_s per input and rows k_s per output, pair (i, j)
  // checking entries (k_s, l_s). Each entry of a pair is as likely to be drawn as any other,
  // and f runs per column of an input, not per pair (n inputs and m outputs: n·spot_checks
  // columns and m·spot_checks backwards, not n·m·spot_checks of each).
  const int spots_per = std::max(0, o_.spot_checks);
  std::vector<std::vector<int64_t>> spot_l(inputs_.size()), spot_k(outs_.size());
  for (int i : sel_in_)
    for (int s = 0; s < spots_per && inputs_[static_cast<size_t>(i)].numel() > 0; ++s)
      spot_l[static_cast<size_t>(i)].push_back(gen.integer(0, inputs_[static_cast<size_t>(i)].numel() - 1));
  for (int j : sel_out_)
    for (int s = 0; s < spots_per && outs_[static_cast<size_t>(j)].numel() > 0; ++s)
      spot_k[static_cast<size_t>(j)].push_back(gen.integer(0, outs_[static_cast<size_t>(j)].numel() - 1));
  std::vector<std::vector<Values>> spot_rows(outs_.size());  // [j][s]: the analytic row k_s of output j
  for (int j : sel_out_)
    for (int64_t k : spot_k[static_cast<size_t>(j)])
      spot_rows[static_cast<size_t>(j)].push_back(one_hot_row(j, k, o_.check_nondeterminism ? 2 : 1));
  if (o_.prefetch) {
    std::vector<std::pair<int, int64_t>> columns;
    for (int i : sel_in_)
      for (int64_t l : spot_l[static_cast<size_t>(i)]) columns.emplace_back(i, l);
    prefetch_columns(columns);
  }
  std::vector<EntryReport> spots;
  Column c;  // one column at a time, its vectors reused
  for (int i : sel_in_) {
    const size_t I = static_cast<size_t>(i);
    for (size_t s = 0; s < spot_l[I].size(); ++s) {
      const int64_t l = spot_l[I][s];
      try {
        column(i, l, c);
      } catch (const Error&) {
        for (int j : sel_out_) pair_failed[I][static_cast<size_t>(j)] = 1;
        continue;
      }
      for (int j : sel_out_) {
        const size_t J = static_cast<size_t>(j);
        if (s >= spot_k[J].size()) continue;
        EntryReport e = entry(i, j, spot_k[J][s], l, spot_rows[J][s][I][static_cast<size_t>(l)], c);
        if (!e.passed() && !e.kink) pair_failed[I][J] = 1;
        spots.push_back(e);
      }
    }
  }
  for (int i : sel_in_) {
    for (int j : sel_out_) {
      PairReport& p = pair(i, j);
      if (pair_failed[static_cast<size_t>(i)][static_cast<size_t>(j)] && o_.explain_fast_failures) {
        full_pairs({i}, {j});
        PairReport& q = pair(i, j);
        if (q.failures == 0 && q.nonfinite == 0 && !q.probes_passed) {  // the entries are authoritative: a note, not a failure
          notes_.push_back("a probe of input " + std::to_string(i) + " / output " + std::to_string(j) +
                           " exceeded its tolerance but every entry of the full Jacobian passes (an error spread "
                           "below the per-entry tolerance: tighten rtol to see it entrywise)");
        }
      } else {
        for (const EntryReport& e : spots)
          if (e.input == i && e.output == j) take(e);
        if (!p.probes_passed) probe_unexplained_ = true;
      }
    }
  }
}

}  // namespace gradoracle::oracle::detail
