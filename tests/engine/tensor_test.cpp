// Tensor, Storage, shapes and the generator: construction, metadata, data access, casts and errors.
#include <limits>

#include "gradoracle/engine/random.hpp"

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

TEST(Tensor, ConstructionShapesAndDTypes) {
  for (DType dt : kDTypes) {
    EXPECT_TENSOR_NEAR(Tensor::zeros({2, 3}, dt), std::vector<double>(6, 0.0), (Shape{2, 3}), 0.0);
    EXPECT_TENSOR_NEAR(Tensor::ones({4}, dt), std::vector<double>(4, 1.0), Shape{4}, 0.0);
    EXPECT_TENSOR_NEAR(Tensor::full({1, 2}, -2.5, dt), (std::vector<double>{-2.5, -2.5}), (Shape{1, 2}), 0.0);
    const Tensor s = Tensor::scalar(7, dt);
    EXPECT_EQ(s.dim(), 0);
    EXPECT_EQ(s.numel(), 1);
    EXPECT_EQ(s.item(), 7);
    EXPECT_EQ(s.dtype(), dt);
    const Tensor e = Tensor::empty({3, 0, 2}, dt);
    EXPECT_EQ(e.numel(), 0);
    EXPECT_EQ(e.to_vector().size(), 0u);
    EXPECT_EQ(Tensor::zeros({1, 1, 1, 1, 2}, dt).dim(), 5);
  }
  EXPECT_EQ(Tensor::ones({2}).dtype(), kF32);  // float32 by default, as PyTorch
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, FromDataIsRowMajor) {
  const Tensor x = lit({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(x.at({0, 2}), 3);
  EXPECT_EQ(x.at({1, 0}), 4);
  EXPECT_EQ(x.at({-1, -1}), 6);
  EXPECT_EQ(x.size(0), 2);
  EXPECT_EQ(x.size(-1), 3);
  EXPECT_FLOAT_EQ(static_cast<float>(lit({1}, {0.1}, kF32).item()), 0.1f);  // rounded to float32
}

TEST(Tensor, BadInputThrowsTypedErrors) {
  EXPECT_ERROR(lit({2, 2}, {1, 2, 3}), Value, "from_data: shape [2, 2] needs 4 elements but data has 3");
  EXPECT_ERROR(Tensor::zeros({2, -1}), Value, "negative dimension -1 in shape [2, -1]");
  EXPECT_ERROR(Tensor::zeros({int64_t{1} << 32, int64_t{1} << 32}), Value, "has more than");
  const Tensor x = lit({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_ERROR(x.item(), Value, "a Tensor with 6 elements cannot be converted to Scalar");
  EXPECT_ERROR(x.at({2, 0}), Dim, "index 2 is out of bounds for dimension 0 with size 2");
  EXPECT_ERROR(x.at({0}), Dim, "at: 1 indices for a 2-d tensor");
  EXPECT_ERROR(x.size(2), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_ERROR(Tensor::scalar(1).size(0), Dim, "Dimension specified as 0 but tensor has no dimensions");
  EXPECT_ERROR(x.data<float>(), DType, "expected a float32 tensor but got float64");
  EXPECT_ERROR(Tensor().shape(), Value, "use of an undefined tensor");
  EXPECT_ERROR(exp(Tensor()), Value, "undefined");
}

TEST(Tensor, CloneCopiesAndDetachShares) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor c = x.clone();
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_FALSE(c.requires_grad());
  const Tensor d = x.detach();
  EXPECT_TRUE(d.shares_storage(x));
  Tensor(d).fill_(5);
  EXPECT_TENSOR_NEAR(x, (std::vector<double>{5, 5}), Shape{2}, 0.0);  // one storage
  EXPECT_TENSOR_NEAR(c, (std::vector<double>{1, 2}), Shape{2}, 0.0);
  const Tensor h = x;  // handles share the tensor
  EXPECT_TRUE(h.is_same(x));
}

TEST(Tensor, ToCastsAndBackpropagatesInTheSourceDType) {
  const Tensor x = leaf({2}, {0.1, 3}, kF64);
  EXPECT_TRUE(x.to(kF64).is_same(x));
  const Tensor y = x.to(kF32);
  EXPECT_EQ(y.dtype(), kF32);
  EXPECT_EQ(y.grad_fn_name(), "ToCopyBackward0");
  ASSERT_EQ(y.numel(), 2);
  EXPECT_EQ(y.to_vector()[0], static_cast<double>(0.1f));
  y.backward(lit({2}, {2, 4}, kF32));
  EXPECT_EQ(x.grad().dtype(), kF64);
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{2, 4}), Shape{2}, 0.0);
}

TEST(Tensor, ToStringNamesShapeDTypeAndData) {
  EXPECT_EQ(lit({2}, {1, 2.5}).to_string(), "tensor(shape=[2], dtype=float64, data=[1, 2.5])");
  EXPECT_NE(Tensor::zeros({20}).to_string().find(", ...])"), std::string::npos);
}

TEST(ShapeHelpers, NumelStridesAndNames) {
  EXPECT_EQ(numel({}), 1);
  EXPECT_EQ(numel({2, 0, 3}), 0);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(to_string(Shape{}), "[]");
  EXPECT_EQ(to_string(Shape{2, 3}), "[2, 3]");
}

TEST(ShapeHelpers, WrapDimAndBroadcast) {
  EXPECT_EQ(wrap_dim(-1, 3), 2);
  EXPECT_EQ(wrap_dim(0, 0), 0);  // a 0-d tensor takes dims 0 and -1
  EXPECT_EQ(wrap_dim(-1, 0), 0);
  EXPECT_ERROR(wrap_dim(-4, 3), Dim, "Dimension out of range (expected to be in range of [-3, 2], but got -4)");
  EXPECT_EQ(broadcast_shapes({2, 1}, {1, 3}), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({}, {4, 1}), (Shape{4, 1}));
  EXPECT_EQ(broadcast_shapes({0, 1}, {1, 3}), (Shape{0, 3}));
  EXPECT_EQ(broadcast_shapes({5, 1, 4}, {3, 1}), (Shape{5, 3, 4}));
  EXPECT_ERROR(broadcast_shapes({2, 3}, {3, 2}), Shape,
               "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0");
}

TEST(Generator, SeededStreamsAndRanges) {
  Generator a(42), b(42), c(43);
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_NE(a.next_u64(), c.next_u64());
  Generator g(1);
  double mean = 0, sq = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const double u = g.uniform(-2, 3);
    EXPECT_GE(u, -2);
    EXPECT_LT(u, 3);
    const double z = g.normal();
    mean += z / n;
    sq += z * z / n;
  }
  EXPECT_NEAR(mean, 0, 0.1);  // 0 ± ~6σ/√n
  EXPECT_NEAR(sq, 1, 0.15);
  for (int i = 0; i < 100; ++i) {
    const int64_t k = g.integer(-3, 3);
    EXPECT_GE(k, -3);
    EXPECT_LE(k, 3);
  }
  EXPECT_EQ(g.integer(5, 5), 5);
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  (void)g.integer(lo, hi);  // the full range: no overflow (UBSan checks)
  (void)g.integer(lo, 0);
  Generator s1(9), s2(9);
  EXPECT_TENSOR_NEAR(Tensor::randn({3}, s1, kF64), Tensor::randn({3}, s2, kF64).to_vector(), Shape{3}, 0.0);
  EXPECT_EQ(Tensor::randn({3}, s1).dtype(), kF32);
}

}  // namespace
}  // namespace gradoracle
