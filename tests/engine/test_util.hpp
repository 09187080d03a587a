#pragma once
// The engine suites' one harness: tensor literals, one comparison, gradient and error helpers,
// so each per-op test stays a few lines. Expected values are derived from the math in the tests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/nn.hpp"
#include "gradoracle/engine/ops.hpp"

namespace gradoracle::test {

inline constexpr DType kF32 = DType::Float32;
inline constexpr DType kF64 = DType::Float64;
inline constexpr DType kDTypes[] = {DType::Float32, DType::Float64};
inline const double kNaN = std::nan("");

// The comparison tolerance of a dtype: |actual - expected| <= tol · (1 + |expected|).
inline double tol_of(DType d) { return d == DType::Float32 ? 2e-6 : 1e-12; }

// The bit patterns of a tensor's values, for tests that require bit-identical results (exact:
// every float32 value is a double; -0.0 and NaN payloads are told apart).
inline std::vector<uint64_t> value_bits(const Tensor& t) {
  std::vector<uint64_t> out;
  for (double v : t.to_vector()) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    out.push_back(b);
  }
  return out;
}

// A constant tensor literal (row-major data).
inline Tensor lit(const Shape& shape, const std::vector<double>& data, DType dtype = kF64) {
  return Tensor::from_data(shape, data, dtype);
}
// A leaf that requires grad.
inline Tensor leaf(const Shape& shape, const std::vector<double>& data, DType dtype = kF64) {
  return Tensor::from_data(shape, data, dtype, true);
}

// Shape, dtype-independent values (NaN matches NaN, infinities must be equal) within tol.
inline ::testing::AssertionResult tensor_near(const Tensor& actual, const std::vector<double>& expected,
                                              const Shape& shape, double tol) {
  if (!actual.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  if (actual.shape() != shape) {
    return ::testing::AssertionFailure() << "shape " << to_string(actual.shape()) << " != expected " << to_string(shape);
  }
  if (static_cast<size_t>(actual.numel()) != expected.size()) {
    return ::testing::AssertionFailure() << "expected list has " << expected.size() << " values for shape "
                                         << to_string(shape);
  }
  const std::vector<double> v = actual.to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const double a = v[i], e = expected[i];
    const bool ok = std::isnan(e) ? std::isnan(a)
                    : std::isinf(e) ? a == e
                                    : std::abs(a - e) <= tol * (1 + std::abs(e));
    if (!ok) {
      return ::testing::AssertionFailure() << "element " << i << ": actual " << a << " vs expected " << e
                                           << " (tol " << tol << ") in " << actual.to_string();
    }
  }
  return ::testing::AssertionSuccess();
}

#define EXPECT_TENSOR_NEAR(actual, expected, shape, tol) \
  EXPECT_TRUE(::gradoracle::test::tensor_near(actual, expected, shape, tol))

// Elementwise f over a vector: expected values from a closed form.
template <class F>
std::vector<double> apply(const std::vector<double>& xs, F f) {
  std::vector<double> out;
  out.reserve(xs.size());
  for (double x : xs) out.push_back(f(x));
  return out;
}

// The gradient that `out` = f(x) sends to the leaf x under upstream `g` (ones when undefined).
inline Tensor grad_of(const Tensor& x, const std::function<Tensor(const Tensor&)>& f, Tensor g = Tensor()) {
  Tensor y = f(x);
  if (!g.defined()) g = Tensor::ones(y.shape(), y.dtype());
  Tensor(x).set_grad(Tensor());  // a handle: clears x's .grad
  y.backward(g);
  return x.grad();
}

// Runs fn, which must throw a gradoracle::Error of `kind` whose message contains each of `parts`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, ErrorKind kind,
                                               std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.kind() != kind) {
      return ::testing::AssertionFailure() << "wrong ErrorKind " << static_cast<int>(e.kind()) << ": " << e.what();
    }
    const std::string msg = e.what();
    for (const std::string& p : parts) {
      if (msg.find(p) == std::string::npos) {
        return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << p << "\"";
      }
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "not a gradoracle::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

#define EXPECT_ERROR(stmt, kind, ...) \
  EXPECT_TRUE(::gradoracle::test::throws_error([&] { (void)(stmt); }, ErrorKind::kind, {__VA_ARGS__}))

}  // namespace gradoracle::test
