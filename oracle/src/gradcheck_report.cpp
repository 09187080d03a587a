// The checker's reports: advice from the failing entries, the text diagnosis and the JSON.
#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>

#include "gradcheck_run.hpp"
#include "gradoracle/oracle/compare.hpp"

namespace gradoracle::oracle {

namespace detail {

std::string num(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}
nlohmann::json jnum(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
const char* scheme_name(Scheme s) { return s == Scheme::Central ? "central" : "richardson"; }
const char* step_name(Step s) { return s == Step::Relative ? "relative" : "absolute"; }

std::string Run::advise() const {
  std::vector<std::string> tips;
  if (!failing_.empty()) {
    const EntryReport& w = failing_.front();
    if (std::abs(w.analytic + w.numeric) <= w.allowed && std::abs(w.numeric) > w.allowed) {
      tips.push_back("analytic = -numeric: a sign flip in backward");
    } else if (w.analytic == 0.0) {
      tips.push_back("analytic gradient is 0 where the numeric one is not: backward does not reach this element "
                     "(a dropped accumulation, a missing record, an unintended detach? a detach meant as a constant "
                     "goes through oracle::hold(), which the finite differences hold constant too)");
    }
    if (same_ratio_ && r_.failure_count > 1 && std::isfinite(ratio_) && ratio_ != 0.0) {
      tips.push_back("analytic = " + num(ratio_) + " x numeric on every failing entry: a wrong factor (a mean "
                     "where a sum belongs, a broadcast reduction over the wrong dims, a dropped term, or a detach "
                     "not made through oracle::hold(), which the finite differences would hold constant too)");
    }
    if (r_.failure_count == 1) {
      tips.push_back("a single wrong entry: an indexing error (a missing transpose on a square shape, an off-by-one)");
    }
    if (w.rel_error < 1e-2) {
      bool any32 = false;
      for (DType d : r_.input_dtypes) any32 = any32 || d == DType::Float32;
      tips.push_back(any32 ? "small relative error (" + num(w.rel_error) +
                                 "): recheck in float64, or loosen rtol if float32 rounding explains it"
                           : "small relative error (" + num(w.rel_error) +
                                 ") in float64: backward is slightly wrong (an approximation, a stale saved value?)");
    }
    if (w.estimate > 0.1 * w.allowed) {
      tips.push_back("the numeric side is noisy here (estimate " + num(w.estimate) +
                     "): try Scheme::Richardson, a larger eps, or Step::Relative");
    }
  }
  if (!nonfinite_.empty()) {
    const EntryReport& w = nonfinite_.front();
    const bool a_ok = std::isfinite(w.analytic), n_ok = std::isfinite(w.numeric);
    std::string tip = std::to_string(r_.nonfinite_count) + " entries have a NaN/Inf side (first: analytic " +
                      num(w.analytic) + ", numeric " + num(w.numeric) + "): ";
    if (backward_raised_ && !a_ok)
      tip = "backward raised (see the problem): the analytic side of " + std::to_string(r_.nonfinite_count) +
            " entries is NaN because it was not computed, not a non-finite gradient";
    else if (a_ok && !n_ok)
      tip += "the function is not finite near this input (outside its domain, at a pole, or overflowing under "
             "the step); draw inputs inside the op's Domain or try a smaller eps";
    else if (!a_ok && n_ok)
      tip += "backward produced a non-finite gradient where finite differences are finite (0*inf in a chain "
             "rule, a division by a saved zero, an overflow in the input dtype)";
    else
      tip += "both sides are non-finite: the function itself is NaN/Inf here, nothing can be verified" +
             std::string(o_.allow_nonfinite ? "" : " (allow_nonfinite accepts entries whose sides agree)");
    tips.push_back(tip);
  }
  if (r_.kink_count > 0) {
    tips.push_back(std::to_string(r_.kink_count) +
                   " entries sit at non-differentiable points (one-sided differences disagree): draw the inputs "
                   "away from kinks (Domain::AwayFromKink)");
  }
  if (r_.fast_mode && (!failing_.empty() || probe_unexplained_)) {
    tips.push_back("replay with seed " + std::to_string(r_.seed) + ", or run full mode to list every wrong entry");
  }
  if (!r_.problems.empty() && tips.empty()) tips.push_back("see the problems above");
  tips.insert(tips.end(), notes_.begin(), notes_.end());
  std::string s;
  for (const std::string& t : tips) s += (s.empty() ? "" : "; ") + t;
  return s;
}

}  // namespace detail

using detail::jnum;
using detail::num;
using detail::scheme_name;
using detail::step_name;

namespace {
using Names = std::vector<std::string>;
// The report's name of position i: names[i], or prefix + i.
std::string named(const Names& names, int i, const char* prefix) {
  return static_cast<size_t>(i) < names.size() ? names[static_cast<size_t>(i)] : prefix + std::to_string(i);
}
std::string entry_line(const EntryReport& e, const Names& inputs = {}, const Names& outputs = {}) {
  std::ostringstream os;
  os << "d " << named(outputs, e.output, "out") << index_string(e.output_index) << " / d " << named(inputs, e.input, "in")
     << index_string(e.input_index)
     << ": analytic " << num(e.analytic) << ", numeric " << num(e.numeric);
  if (e.nonfinite) {
    os << "  NON-FINITE" << (e.nonfinite_agree() ? " (both sides)" : "");
  } else if (e.kink) {
    os << " (kink: left " << num(e.left) << ", right " << num(e.right) << ")";
  } else {
    os << ", abs err " << num(e.abs_error) << ", rel err " << num(e.rel_error) << ", estimate " << num(e.estimate);
    if (e.rounding > 0.0) os << ", float32 rounding " << num(e.rounding);
    os << ", allowed " << num(e.allowed) << (e.passed() ? "" : "  FAIL");
  }
  return os.str();
}
nlohmann::json entry_json(const EntryReport& e) {
  return nlohmann::json{{"input", e.input},         {"output", e.output},         {"input_index", e.input_index},
                        {"output_index", e.output_index}, {"analytic", jnum(e.analytic)}, {"numeric", jnum(e.numeric)},
                        {"abs_error", jnum(e.abs_error)}, {"rel_error", jnum(e.rel_error)},
                        {"estimate", jnum(e.estimate)},   {"rounding", jnum(e.rounding)}, {"allowed", jnum(e.allowed)},
                        {"kink", e.kink},                 {"left", jnum(e.left)},         {"right", jnum(e.right)},
                        {"passed", e.passed()},           {"nonfinite", e.nonfinite},     {"status", e.status()}};
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const EntryReport& e) { return os << entry_line(e); }

std::string GradCheckResult::to_string() const {
  std::ostringstream os;
  const GradCheckStatus st = status();
  // The headline names a structural problem (a backward that raised, a grad of the wrong shape)
  // first: the entries it spoils follow from it.
  os << check << " "
     << (st == GradCheckStatus::Passed      ? std::string("passed")
         : st == GradCheckStatus::NonFinite ? std::string("FAILED: non-finite")
         : !problems.empty()                ? "FAILED: " + problems.front()
                                            : std::string("FAILED"))
     << " (" << (fast_mode ? "fast" : "full") << " mode, "
     << scheme_name(scheme) << " differences, " << step_name(step) << " eps " << num(eps) << ", atol "
     << num(tolerance.atol) << ", rtol " << num(tolerance.rtol) << ", k " << num(estimate_weight);
  if (fast_mode) os << ", seed " << seed;
  os << ")\n";
  if (!checked_function.empty()) os << "  checks " << checked_function << "\n";
  os << "  pass: |a - n| <= atol + rtol*max(|a|, |n|) + k*estimate + rounding\n  inputs:";
  for (size_t i = 0; i < input_shapes.size(); ++i) {
    os << (i ? ", " : " ") << named(input_names, static_cast<int>(i), "") << ": " << gradoracle::to_string(input_shapes[i]) << " " << name(input_dtypes[i]);
  }
  os << "; outputs:";
  for (size_t j = 0; j < output_shapes.size(); ++j)
    os << (j ? ", " : " ") << named(output_names, static_cast<int>(j), "") << ": " << gradoracle::to_string(output_shapes[j]);
  os << "\n";
  int64_t checked = 0;
  for (const PairReport& p : pairs) checked += p.checked;
  os << "  " << failure_count << " failing of " << checked << (checked == 1 ? " entry" : " entries") << " checked";
  if (kink_count) os << ", " << kink_count << " at kinks";
  if (nonfinite_count) os << ", " << nonfinite_count << " non-finite (NaN/Inf on a side, not judged; " << nonfinite_failures << " failing)";
  os << "\n";
  if (!worst.empty() && !worst.front().passed()) os << "  worst: " << entry_line(worst.front(), input_names, output_names) << "\n";
  // `worst` holds the failing entries first, then the passing ones closest to their allowance.
  const auto first_passing = std::find_if(worst.begin(), worst.end(), [](const EntryReport& e) { return e.passed(); });
  const auto failing_shown = first_passing - worst.begin(), passing_shown = worst.end() - first_passing;
  if (failing_shown > 0) {
    os << "  failing, worst first (" << failing_shown << " of " << failure_count << "):\n";
    for (auto e = worst.begin(); e != first_passing; ++e) os << "    " << entry_line(*e, input_names, output_names) << "\n";
  }
  if (passing_shown > 0) {
    os << "  passing, closest to their allowance (" << passing_shown << "):\n";
    for (auto e = first_passing; e != worst.end(); ++e) os << "    " << entry_line(*e, input_names, output_names) << "\n";
  }
  if (!kinks.empty()) {
    os << "  kinks:\n";
    for (const EntryReport& e : kinks) os << "    " << entry_line(e, input_names, output_names) << "\n";
  }
  if (!nonfinite.empty()) {
    os << "  non-finite " << nonfinite.size() << " of " << nonfinite_count << ":\n";
    for (const EntryReport& e : nonfinite) os << "    " << entry_line(e, input_names, output_names) << "\n";
  }
  int failed_probes = 0;
  for (const ProbeReport& p : probes) failed_probes += p.passed ? 0 : 1;
  if (fast_mode) {
    os << "  probes: " << probes.size() - static_cast<size_t>(failed_probes) << " of " << probes.size() << " passed\n";
    for (const ProbeReport& p : probes) {
      if (p.passed) continue;
      os << "    probe " << p.probe << " " << named(input_names, p.input, "in") << "/" << named(output_names, p.output, "out") << ": v'Ju analytic " << num(p.analytic)
         << ", numeric " << num(p.numeric) << ", abs err " << num(p.abs_error) << ", allowed " << num(p.allowed)
         << (p.nonfinite ? "  NON-FINITE" : "") << "\n";
    }
  }
  for (const std::string& p : problems) os << "  problem: " << p << "\n";
  if (!advice.empty()) os << "  try: " << advice << "\n";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const GradCheckResult& r) { return os << r.to_string(); }

nlohmann::json GradCheckResult::to_json() const {
  nlohmann::json j;
  j["passed"] = passed;
  j["check"] = check;
  if (!checked_function.empty()) j["checked_function"] = checked_function;
  if (!input_names.empty()) j["input_names"] = input_names;
  if (!output_names.empty()) j["output_names"] = output_names;
  j["status"] = name(status());
  j["mode"] = fast_mode ? "fast" : "full";
  j["seed"] = seed;
  j["eps"] = eps;
  j["step"] = step_name(step);
  j["scheme"] = scheme_name(scheme);
  j["atol"] = tolerance.atol;
  j["rtol"] = tolerance.rtol;
  j["estimate_weight"] = estimate_weight;
  j["input_shapes"] = input_shapes;
  std::vector<std::string> dtypes;
  for (DType d : input_dtypes) dtypes.push_back(name(d));
  j["input_dtypes"] = dtypes;
  j["output_shapes"] = output_shapes;
  j["failure_count"] = failure_count;
  j["kink_count"] = kink_count;
  j["nonfinite_count"] = nonfinite_count;
  j["nonfinite_failures"] = nonfinite_failures;
  j["pairs"] = nlohmann::json::array();
  for (const PairReport& p : pairs) {
    j["pairs"].push_back({{"input", p.input},
                          {"output", p.output},
                          {"input_shape", p.input_shape},
                          {"output_shape", p.output_shape},
                          {"checked", p.checked},
                          {"failures", p.failures},
                          {"kinks", p.kinks},
                          {"nonfinite", p.nonfinite},
                          {"probes_passed", p.probes_passed},
                          {"full_jacobian", p.full_jacobian}});
  }
  j["worst"] = nlohmann::json::array();
  for (const EntryReport& e : worst) j["worst"].push_back(entry_json(e));
  j["kinks"] = nlohmann::json::array();
  for (const EntryReport& e : kinks) j["kinks"].push_back(entry_json(e));
  j["nonfinite"] = nlohmann::json::array();
  for (const EntryReport& e : nonfinite) j["nonfinite"].push_back(entry_json(e));
  j["probes"] = nlohmann::json::array();
  for (const ProbeReport& p : probes) {
    j["probes"].push_back({{"input", p.input},
                           {"output", p.output},
                           {"probe", p.probe},
                           {"analytic", jnum(p.analytic)},
                           {"numeric", jnum(p.numeric)},
                           {"abs_error", jnum(p.abs_error)},
                           {"allowed", jnum(p.allowed)},
                           {"passed", p.passed},
                           {"nonfinite", p.nonfinite}});
  }
  j["problems"] = problems;
  j["advice"] = advice;
  return j;
}

}  // namespace gradoracle::oracle
