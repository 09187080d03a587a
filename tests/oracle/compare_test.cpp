#include "gradoracle/oracle/compare.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace gradoracle::oracle {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

TEST(Tolerance, PerDtypeDefaults) {
  EXPECT_EQ(default_tolerance(DType::Float64).atol, 1e-10);
  EXPECT_EQ(default_tolerance(DType::Float64).rtol, 1e-7);
  EXPECT_EQ(default_tolerance(DType::Float32).atol, 1e-5);
  EXPECT_EQ(default_tolerance(DType::Float32).rtol, 1e-4);
  EXPECT_LT(gradcheck_tolerance(DType::Float64).rtol, gradcheck_tolerance(DType::Float32).rtol);
  const Tolerance l = loosest(Tolerance{1, 0}, Tolerance{0, 1});
  EXPECT_EQ(l.atol, 1);
  EXPECT_EQ(l.rtol, 1);
}

TEST(Compare, TheInequality) {
  const Tolerance t{1e-3, 1e-2};
  EXPECT_TRUE(close(1.0, 1.0, t));
  EXPECT_TRUE(close(1.0109, 1.0, t));   // 0.0109 <= 0.001 + 0.01
  EXPECT_FALSE(close(1.0111, 1.0, t));
  EXPECT_TRUE(close(0.0009, 0.0, t));
  EXPECT_TRUE(close(kNaN, kNaN, t));
  EXPECT_FALSE(close(kNaN, 1.0, t));
  EXPECT_FALSE(close(1.0, kNaN, t));
  EXPECT_TRUE(close(kInfinity, kInfinity, t));
  EXPECT_FALSE(close(kInfinity, -kInfinity, t));
  EXPECT_FALSE(close(1e300, kInfinity, t));
}

TEST(Compare, NamesTheWorstElement) {
  const Tensor a = Tensor::from_data({2, 3}, {1, 2, 3, 4, 5.5, 6}, DType::Float64);
  const CompareResult r = compare(a, {2, 3}, {1, 2, 3.01, 4, 5, 6}, default_tolerance(DType::Float64));
  EXPECT_FALSE(r.passed);
  EXPECT_TRUE(r.shapes_equal);
  EXPECT_EQ(r.failures, 2);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r.worst_flat, 4);
  EXPECT_EQ(r.actual, 5.5);
  EXPECT_EQ(r.expected, 5.0);
  EXPECT_DOUBLE_EQ(r.abs_error, 0.5);
  EXPECT_DOUBLE_EQ(r.rel_error, 0.1);
  EXPECT_NE(r.to_string().find("[1, 1]"), std::string::npos) << r.to_string();
  EXPECT_EQ(r.to_json()["worst_index"], (std::vector<int64_t>{1, 1}));
}

TEST(Compare, NanMismatchIsWorstAndShapesMustMatch) {
  const CompareResult r = compare({3}, {1, kNaN, 100}, {3}, {1, 2, 101}, Tolerance{0, 0});
  EXPECT_EQ(r.worst_index, std::vector<int64_t>{1});
  EXPECT_TRUE(std::isinf(r.abs_error));
  EXPECT_EQ(r.to_json()["abs_error"], "inf");
  const CompareResult s = compare(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}), Tolerance{});
  EXPECT_FALSE(s.passed);
  EXPECT_FALSE(s.shapes_equal);
  EXPECT_NE(s.to_string().find("shape mismatch"), std::string::npos);
  const CompareResult z = compare(Tensor::scalar(2.0), {}, {2.0}, Tolerance{});
  EXPECT_TRUE(z.passed) << z.to_string();
  EXPECT_TRUE(z.worst_index.empty());
  // float32 actual against float64 expected values, at the fixture default
  const Tensor f = Tensor::from_data({2}, {0.1, 0.2}, DType::Float32);
  EXPECT_TRUE(compare(f, {2}, {0.1, 0.2}, default_tolerance(DType::Float32)).passed);
  EXPECT_FALSE(compare(f, {2}, {0.1, 0.2}, Tolerance{0, 1e-12}).passed);
}

TEST(Compare, Unravel) {
  EXPECT_EQ(unravel(5, {2, 3}), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(unravel(0, {}), std::vector<int64_t>{});
  EXPECT_EQ(index_string({1, 2}), "[1, 2]");
}

}  // namespace
}  // namespace gradoracle::oracle
