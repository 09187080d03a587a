#include "gradoracle/oracle/compare.hpp"

#include <cmath>
#include <limits>
#include <sstream>

namespace gradoracle::oracle {

namespace {
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// How far outside its tolerance an element is: ≤ 1 passes; a NaN/inf mismatch is +inf.
double badness(double a, double e, const Tolerance& tol) {
  if (std::isnan(a) || std::isnan(e)) return (std::isnan(a) && std::isnan(e)) ? 0.0 : kInfinity;
  if (std::isinf(a) || std::isinf(e)) return a == e ? 0.0 : kInfinity;
  const double diff = std::abs(a - e);
  const double allowed = tol.atol + tol.rtol * std::abs(e);
  if (allowed <= 0.0) return diff == 0.0 ? 0.0 : kInfinity;
  return diff / allowed;
}

std::string number(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}
}  // namespace

bool close(double actual, double expected, const Tolerance& tol) { return badness(actual, expected, tol) <= 1.0; }

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 0) return index;
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

std::string index_string(const std::vector<int64_t>& index) {
  std::string s = "[";
  for (size_t i = 0; i < index.size(); ++i) s += (i ? ", " : "") + std::to_string(index[i]);
  return s + "]";
}

CompareResult compare(const Shape& actual_shape, const std::vector<double>& actual, const Shape& expected_shape,
                      const std::vector<double>& expected, const Tolerance& tol) {
  CompareResult r;
  r.tolerance = tol;
  r.actual_shape = actual_shape;
  r.expected_shape = expected_shape;
  r.shapes_equal = actual_shape == expected_shape && actual.size() == expected.size();
  if (!r.shapes_equal) {
    r.passed = false;
    return r;
  }
  r.numel = static_cast<int64_t>(actual.size());
  double worst = -1.0;
  for (int64_t i = 0; i < r.numel; ++i) {
    const double a = actual[static_cast<size_t>(i)];
    const double e = expected[static_cast<size_t>(i)];
    const double b = badness(a, e, tol);
    if (b > 1.0) ++r.failures;
    if (b > worst) {
      worst = b;
      r.worst_flat = i;
    }
  }
  if (r.worst_flat >= 0) {
    const double a = actual[static_cast<size_t>(r.worst_flat)];
    const double e = expected[static_cast<size_t>(r.worst_flat)];
    r.worst_index = unravel(r.worst_flat, actual_shape);
    r.actual = a;
    r.expected = e;
    const bool nan_match = std::isnan(a) && std::isnan(e);
    const bool mismatch_special = !nan_match && (std::isnan(a) || std::isnan(e) || std::isinf(a) || std::isinf(e)) && a != e;
    r.abs_error = nan_match ? 0.0 : mismatch_special ? kInfinity : std::abs(a - e);
    r.rel_error = r.abs_error == 0.0 ? 0.0 : e == 0.0 ? kInfinity : r.abs_error / std::abs(e);
  }
  r.passed = r.failures == 0;
  return r;
}

CompareResult compare(const Tensor& actual, const Shape& expected_shape, const std::vector<double>& expected,
                      const Tolerance& tol) {
  return compare(actual.shape(), actual.to_vector(), expected_shape, expected, tol);
}

CompareResult compare(const Tensor& actual, const Tensor& expected, const Tolerance& tol) {
  return compare(actual.shape(), actual.to_vector(), expected.shape(), expected.to_vector(), tol);
}

std::string CompareResult::to_string() const {
  std::ostringstream os;
  const std::string tol = "atol " + number(tolerance.atol) + ", rtol " + number(tolerance.rtol);
  if (!shapes_equal) {
    os << "shape mismatch: actual " << gradoracle::to_string(actual_shape) << ", expected "
       << gradoracle::to_string(expected_shape);
    return os.str();
  }
  if (passed) {
    os << "match: " << numel << " elements within " << tol;
    if (worst_flat >= 0) os << " (worst " << index_string(worst_index) << ": abs error " << number(abs_error) << ")";
    return os.str();
  }
  os << failures << " of " << numel << " elements outside |a - e| <= atol + rtol*|e| (" << tol << "); worst at "
     << index_string(worst_index) << ": actual " << number(actual) << ", expected " << number(expected)
     << ", abs error " << number(abs_error) << ", rel error " << number(rel_error);
  return os.str();
}

namespace {
// JSON has no NaN or infinity: non-finite numbers become the strings "nan", "inf", "-inf".
nlohmann::json num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
}  // namespace

nlohmann::json CompareResult::to_json() const {
  return nlohmann::json{{"passed", passed},
                        {"shapes_equal", shapes_equal},
                        {"actual_shape", actual_shape},
                        {"expected_shape", expected_shape},
                        {"numel", numel},
                        {"failures", failures},
                        {"worst_index", worst_index},
                        {"actual", num(actual)},
                        {"expected", num(expected)},
                        {"abs_error", num(abs_error)},
                        {"rel_error", num(rel_error)},
                        {"atol", tolerance.atol},
                        {"rtol", tolerance.rtol}};
}

}  // namespace gradoracle::oracle
