// The domains' value draws: where each Domain's values come from (a grid of step 1/2000) and
// which computed value ranges a domain accepts. Part of the op-info module (op_rules.hpp).
#include "gradoracle/engine/op_rules.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gradoracle::registry {
// ---------------------------------------------------------------- domains

namespace {
constexpr double kStep = 1.0 / 2000;  // the value grid
constexpr double kBoundedLimit = 3.0;  // |x| up to 3: e^x, x as an exponent, stay moderate
}  // namespace

DomainInfo domain_info(Domain d) {
  switch (d) {
    case Domain::Real: return {"real", {-3.0, 3.0, 0.0}, "nothing"};
    case Domain::Positive: return {"positive", {0.25, 3.0, 0.25}, "0 and negative values (a pole or edge at 0)"};
    case Domain::NonZero: return {"nonzero", {-3.0, 3.0, 0.25}, "0 (a pole: a divisor)"};
    case Domain::AwayFromKink: return {"away-from-kink", {-3.0, 3.0, 0.25}, "0 (a kink)"};
    case Domain::Bounded: return {"bounded", {-2.0, 2.0, 0.0}, "large magnitudes (overflow)"};
    case Domain::AboveMinusOne: return {"above-minus-one", {-0.75, 3.0, 0.0}, "-1 and below (a pole at -1)"};
    case Domain::NearOne: return {"near-one", {-1.5, 1.5, 0.5}, "0 and large magnitudes (products of many)"};
    case Domain::Spread: return {"spread", {-3.0, 8.0, 0.0}, "near-equal values (std's kink at zero variance)"};
    case Domain::Distinct: return {"distinct", {-3.0, 3.0, 0.0}, "ties (pairwise distinct values)"};
    case Domain::OffGrid: return {"off-grid", {-3.0, 3.0, 0.0}, "the grid other arguments and bounds are drawn on (ties)"};
  }
  return {"?", {}, ""};
}

bool within(const ValueRange& have, Domain want) {
  const auto excludes_zero = [&](double margin) {
    return have.lo >= margin || have.hi <= -margin || have.min_abs >= margin;
  };
  switch (want) {
    case Domain::Real: return true;
    case Domain::Positive: return have.lo >= domain_info(Domain::Positive).drawn.lo;
    case Domain::NonZero: return excludes_zero(domain_info(Domain::NonZero).drawn.min_abs);
    case Domain::AwayFromKink: return excludes_zero(domain_info(Domain::AwayFromKink).drawn.min_abs);
    case Domain::Bounded: return std::max(std::abs(have.lo), std::abs(have.hi)) <= kBoundedLimit;
    case Domain::AboveMinusOne: return have.lo >= domain_info(Domain::AboveMinusOne).drawn.lo;
    case Domain::NearOne: return excludes_zero(0.5) && std::max(std::abs(have.lo), std::abs(have.hi)) <= 1.5;
    case Domain::Spread:  // only values drawn so (no computed range promises distinct values)
      return have.lo == domain_info(want).drawn.lo && have.hi == domain_info(want).drawn.hi;
    // NOTE: no range promises distinct values or values off the grid: a program's intermediate
    // results go in as they are, and where they tie the checker sees the kink (a discarded case).
    case Domain::Distinct:
    case Domain::OffGrid: return true;
  }
  return false;
}

bool contains(Domain d, double v) { return std::isfinite(v) && within(ValueRange{v, v, std::abs(v)}, d); }

namespace {
// k in [0, 2n) as 0, -1, 1, -2, 2, ...: shrinks towards 0 through small magnitudes.
int64_t zigzag(int64_t k) { return (k % 2) ? -(k + 1) / 2 : k / 2; }
// The grid points on one side of 0 in a range symmetric about it, counted from 0 (or from min_abs).
int64_t grid_points(const ValueRange& r) {
  return static_cast<int64_t>(std::llround((std::max(std::abs(r.lo), std::abs(r.hi)) - r.min_abs) / kStep));
}
// The grid points of [lo, hi), counted from lo.
int64_t grid_span(const ValueRange& r) { return static_cast<int64_t>(std::llround((r.hi - r.lo) / kStep)); }
bool excludes_zero(Domain d) { return domain_info(d).drawn.min_abs > 0 && domain_info(d).drawn.lo < 0; }
}  // namespace

double draw_value(Domain d, Chooser& c) {
  const ValueRange r = domain_info(d).drawn;
  switch (d) {
    case Domain::Spread: return draw_value(Domain::Real, c);  // then spread apart by draw_values
    case Domain::Real:
    case Domain::Distinct:
    case Domain::Bounded: return static_cast<double>(zigzag(c.integer(0, 2 * grid_points(r)))) * kStep;
    case Domain::OffGrid: return (static_cast<double>(zigzag(c.integer(0, 2 * grid_points(r)))) + 0.5) * kStep;
    case Domain::Positive:
    case Domain::AboveMinusOne: return r.lo + static_cast<double>(c.integer(0, grid_span(r))) * kStep;
    case Domain::NonZero:
    case Domain::AwayFromKink:
    case Domain::NearOne: {
      const int64_t k = c.integer(0, 2 * grid_points(r));
      const double m = r.min_abs + static_cast<double>(k / 2) * kStep;
      return (k % 2) ? -m : m;
    }
  }
  return 0.0;
}

std::vector<double> draw_values(Domain d, int64_t n, Chooser& c) {
  std::vector<double> v(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (d == Domain::Distinct) {
    // Each a drawn grid point; one already taken moves on to the next free one in draw order.
    const int64_t points = 2 * grid_points(domain_info(d).drawn);
    std::vector<bool> taken(static_cast<size_t>(points + 1), false);
    for (double& x : v) {
      int64_t k = c.integer(0, points);
      while (taken[static_cast<size_t>(k)]) k = (k + 1) % points;
      taken[static_cast<size_t>(k)] = true;
      x = static_cast<double>(zigzag(k)) * kStep;
    }
    return v;
  }
  for (double& x : v) x = draw_value(d, c);
  if (excludes_zero(d)) {
    for (size_t i = 0; i < v.size(); ++i) v[i] += (v[i] < 0 ? -1.0 : 1.0) * static_cast<double>(i) * 1e-6;
  }
  if (d == Domain::Spread) {  // each value at least 0.1 above the next smaller one
    std::vector<size_t> order(v.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    for (size_t k = 1; k < order.size(); ++k) v[order[k]] = std::max(v[order[k]], v[order[k - 1]] + 0.1);
  }
  return v;
}
}  // namespace gradoracle::registry
