// Classification losses: nll_loss and cross_entropy. Values, gradients, grad_fn names (first
// order and under create_graph) and error messages are PyTorch 1.13's for the same calls (each
// printed by torch 1.13 under /usr/bin/python3; the script's lines are quoted beside them).
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

Tensor ints(const Shape& shape, const std::vector<double>& v) { return Tensor::from_data(shape, v, DType::Int64); }
const std::vector<double> kRows = {1, 2, 3, 4, 5, 6, 0, 0, 0};  // x = [[1,2,3],[4,5,6],[0,0,0]]

TEST(NllLoss, PicksMinusTheTargetsAndScattersTheGradient) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({3, 3}, kRows, dt);
    const Tensor y = nll_loss(x, ints({3}, {2, 2, 0}));  // mean over 3: -(3 + 6 + 0) / 3
    EXPECT_EQ(y.grad_fn_name(), "NllLossBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{-3}), Shape{}, 1e-6);
    y.backward();
    const double t = -1.0 / 3;
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{0, 0, t, 0, 0, t, t, 0, 0}), (Shape{3, 3}), 1e-7);
  }
  // torch: nll_loss(x3, [[2,0],[1,1]], reduction='none') for x3 = arange(12).reshape(2,3,2): [[-4,-1],[-8,-9]], ViewBackward0
  Tensor x3 = leaf({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const Tensor y3 = nll_loss(x3, ints({2, 2}, {2, 0, 1, 1}), Reduction::None);
  EXPECT_EQ(y3.grad_fn_name(), "ViewBackward0");
  EXPECT_TENSOR_NEAR(y3, (std::vector<double>{-4, -1, -8, -9}), (Shape{2, 2}), 0.0);
  // torch: mean over the two rows not ignored: -6.5, grad -0.5 at each
  const Tensor m3 = nll_loss(x3, ints({2, 2}, {2, -100, -100, 1}));
  EXPECT_EQ(m3.grad_fn_name(), "NllLoss2DBackward0");
  EXPECT_TENSOR_NEAR(m3, (std::vector<double>{-6.5}), Shape{}, 0.0);
  m3.backward();
  EXPECT_TENSOR_NEAR(x3.grad(), (std::vector<double>{0, 0, 0, 0, -0.5, 0, 0, 0, 0, -0.5, 0, 0}), (Shape{2, 3, 2}), 0.0);
  EXPECT_EQ(nll_loss(leaf({1, 3, 2, 2}, std::vector<double>(12, 1)), ints({1, 2, 2}, {2, 0, 1, 1}), Reduction::None).grad_fn_name(),
            "NllLoss2DBackward0");
  // a 1-D input with a 0-d target; and with a (C) target PyTorch reads its first element only: -1
  EXPECT_TENSOR_NEAR(nll_loss(leaf({3}, {1, 2, 3}), ints({}, {1}), Reduction::Sum), (std::vector<double>{-2}), Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(nll_loss(leaf({4}, {0, 1, 2, 3}), ints({4}, {1, 2, 3, 0}), Reduction::None), (std::vector<double>{-1}),
                     Shape{}, 0.0);
}

TEST(CrossEntropy, ClassIndicesGiveSoftmaxMinusOneHot) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({3, 3}, kRows, dt);
    const Tensor y = cross_entropy(x, ints({3}, {2, 2, 0}));
    EXPECT_EQ(y.grad_fn_name(), "NllLossBackward0");
    EXPECT_STREQ(y.grad_fn()->next_edges()[0].fn->name(), "LogSoftmaxBackward0");
    EXPECT_TENSOR_NEAR(y, (std::vector<double>{0.6379414058522902}), Shape{}, 1e-6);  // torch
    y.backward();
    const std::vector<double> torch_grad = {0.030010191056793478, 0.08157615701826587, -0.1115863480750594,
                                            0.030010191056793478, 0.08157615701826587, -0.1115863480750594,
                                            -0.2222222222222222,  0.1111111111111111,  0.1111111111111111};
    EXPECT_TENSOR_NEAR(x.grad(), torch_grad, (Shape{3, 3}), 1e-6);
  }
}

TEST(CrossEntropy, LabelSmoothingAndIgnoredRows) {
  // torch: cross_entropy(x, [2,-100,0], label_smoothing=0.2, reduction='sum'): AddBackward0
  Tensor x = leaf({3, 3}, kRows);
  const Tensor y = cross_entropy(x, ints({3}, {2, -100, 0}), Reduction::Sum, -100, 0.2);
  EXPECT_EQ(y.grad_fn_name(), "AddBackward0");
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1.7062182531124903}), Shape{}, 1e-12);
  y.backward();
  EXPECT_TENSOR_NEAR(x.grad(),
                     (std::vector<double>{0.02336390650371377, 0.17806180438813096, -0.2014257108918449, 0, 0, 0,
                                          -0.5333333333333334, 0.26666666666666666, 0.26666666666666666}),
                     (Shape{3, 3}), 1e-12);
}

TEST(CrossEntropy, MeanOverNoTargetIsNaNWithZeroGradients) {
  // torch: every target ignored: value nan, x.grad all 0 (with and without smoothing); nll_loss the same
  for (double smoothing : {0.0, 0.3}) {
    Tensor x = leaf({3, 3}, kRows);
    const Tensor y = cross_entropy(x, ints({3}, {-100, -100, -100}), Reduction::Mean, -100, smoothing);
    EXPECT_TRUE(std::isnan(y.item()));
    y.backward();
    EXPECT_TENSOR_NEAR(x.grad(), std::vector<double>(9, 0.0), (Shape{3, 3}), 0.0);
  }
  EXPECT_TENSOR_NEAR(cross_entropy(leaf({3, 3}, kRows), ints({3}, {-100, -100, -100}), Reduction::Sum),
                     (std::vector<double>{0}), Shape{}, 0.0);
}

TEST(CrossEntropy, ProbabilitiesAreDifferentiatedToo) {
  // torch: DivBackward1 (mean), NegBackward0 (sum, none); d/dp = -log_softmax(x)/N
  Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor p = leaf({2, 3}, {0.5, 0.25, 0.25, 0, 1, 0});
  const Tensor y = cross_entropy(x, p);
  EXPECT_EQ(y.grad_fn_name(), "DivBackward1");
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1.5326059644443806}), Shape{}, 1e-12);
  y.backward();
  const double l0 = 2.4076059644443804, l1 = 1.4076059644443804, l2 = 0.4076059644443804;  // -log_softmax of a row
  EXPECT_TENSOR_NEAR(p.grad(), (std::vector<double>{l0 / 2, l1 / 2, l2 / 2, l0 / 2, l1 / 2, l2 / 2}), (Shape{2, 3}), 1e-12);
  EXPECT_EQ(cross_entropy(x, p, Reduction::Sum).grad_fn_name(), "NegBackward0");
  EXPECT_TENSOR_NEAR(cross_entropy(x, p, Reduction::None, -100, 0.1), (std::vector<double>{1.6326059644443807, 1.4076059644443804}),
                     Shape{2}, 1e-12);
  // torch: probabilities of another float dtype promote (float64 result, each grad in its own dtype)
  Tensor p32 = leaf({2, 3}, {0.5, 0.25, 0.25, 0, 1, 0}, kF32);
  const Tensor mixed = cross_entropy(x, p32);
  EXPECT_EQ(mixed.dtype(), kF64);
  mixed.backward();
  EXPECT_EQ(p32.grad().dtype(), kF32);
}

TEST(ClassLossSecondOrder, CreateGraphNamesArePyTorchs) {
  const Tensor x = leaf({3, 3}, kRows);
  const Tensor t = ints({3}, {2, 2, 0});
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    for (bool urg : {false, true}) {
      EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return nll_loss(in[0], t, r); }, {x}, urg),
                (std::vector<std::string>{"NllLossBackwardBackward0"}));
      EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, r); }, {x}, urg),
                (std::vector<std::string>{"LogSoftmaxBackwardDataBackward0"}));
      EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, r, -100, 0.2); }, {x}, urg),
                (std::vector<std::string>{"LogSoftmaxBackwardDataBackward0"}));
      EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], r); },
                              {x, leaf({3, 3}, {0.5, 0.25, 0.25, 0, 1, 0, 1, 0, 0})}, urg),
                (std::vector<std::string>{"LogSoftmaxBackwardDataBackward0", "MulBackward0"}));
    }
  }
  // torch: with smoothing, d/dp passes through target·(1 − ε) (MulBackward1), whose gradient
  // PyTorch computes as grad·(1 − ε) against a wrapped number: MulBackward0
  EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], Reduction::Mean, -100, 0.25); },
                          {x, leaf({3, 3}, {0.5, 0.25, 0.25, 0, 1, 0, 1, 0, 0})}, false),
            (std::vector<std::string>{"LogSoftmaxBackwardDataBackward0", "MulBackward0"}));
  // (N, C, d): the input viewed to (N, C, 1, d): ReshapeAliasBackward0; (N, C, d1, d2): NllLoss2DBackwardBackward0
  const Tensor t3 = ints({2, 2}, {2, 0, 1, 1});
  EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return nll_loss(in[0], t3); }, {leaf({2, 3, 2}, std::vector<double>(12, 1))}, false),
            (std::vector<std::string>{"ReshapeAliasBackward0"}));
  EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return nll_loss(in[0], ints({1, 2, 2}, {2, 0, 1, 1}), Reduction::None); },
                          {leaf({1, 3, 2, 2}, std::vector<double>(12, 1))}, true),
            (std::vector<std::string>{"NllLoss2DBackwardBackward0"}));
  // no graph without create_graph
  EXPECT_EQ(grad_fn_names([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t); }, {x}, false, false),
            (std::vector<std::string>{"nograd"}));
}

TEST(ClassLoss, ErrorsArePyTorchs) {
  const Tensor x = Tensor::ones({3, 4}, kF64);
  for (bool ce : {false, true}) {
    const auto f = [ce](const Tensor& a, const Tensor& t) { return ce ? cross_entropy(a, t) : nll_loss(a, t); };
    EXPECT_ERROR(f(x, ints({3}, {1, 4, 0})), Dim, "Target 4 is out of bounds.");
    EXPECT_ERROR(f(x, ints({3}, {1, -1, 0})), Dim, "Target -1 is out of bounds.");
    EXPECT_ERROR(f(x, ints({2}, {1, 0})), Value, "Expected input batch_size (3) to match target batch_size (2).");
    EXPECT_ERROR(f(x, ints({}, {1})), Value, "Expected input batch_size (3) to match target batch_size (0).");
    EXPECT_ERROR(f(x, Tensor::ones({3}, kF64)), DType, "expected scalar type Long but found Double");
    EXPECT_ERROR(f(x, Tensor::from_data({3}, {1, 0, 1}, DType::Bool)), DType, "expected scalar type Long but found Bool");
    EXPECT_ERROR(f(x, ints({3, 2}, {0, 0, 0, 0, 0, 0})), Shape, "0D or 1D target tensor expected, multi-target not supported");
    EXPECT_ERROR(f(Tensor::ones({4}), ints({1}, {1})), Shape, "size mismatch (got input: [4], target: [1])");
    EXPECT_ERROR(f(Tensor::ones({2, 4, 3}), ints({2, 2}, {0, 0, 0, 0})), Shape, "Expected target size [2, 3], got [2, 2]");
    EXPECT_ERROR(f(Tensor::ones({2, 4, 3, 2}), ints({2, 2, 2}, std::vector<double>(8, 0))), Shape,
                 "size mismatch (got input: [2, 4, 3, 2] , target: [2, 2, 2]");
    EXPECT_ERROR(f(Tensor::ones({2, 4, 3, 2}), ints({2, 3}, std::vector<double>(6, 0))), Shape,
                 "only batches of spatial targets supported (3D tensors) but got targets of dimension: 2");
    EXPECT_ERROR(f(Tensor::ones({2, 0}), ints({2}, {0, 0})), Dim, "Target 0 is out of bounds.");
  }
  EXPECT_ERROR(nll_loss(Tensor::ones({}), ints({}, {0})), Value, "Expected 1 or more dimensions (got 0)");
  EXPECT_ERROR(cross_entropy(Tensor::ones({}), ints({}, {0})), DType,
               "Expected floating point type for target with class probabilities, got Long");
  EXPECT_ERROR(cross_entropy(Tensor::ones({}), Tensor::ones({})), Dim, "Dimension specified as 1 but tensor has no dimensions");
  EXPECT_ERROR(cross_entropy(Tensor::ones({}), ints({2}, {0, 1})), Dim,
               "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
  EXPECT_ERROR(cross_entropy(x, Tensor::ones({3, 4}, kF64), Reduction::Mean, 1), Value,
               "ignore_index is not supported for floating point target");
  EXPECT_ERROR(cross_entropy(x, ints({3}, {1, 0, 1}), Reduction::Mean, -100, 1.5), Value,
               "label_smoothing must be between 0.0 and 1.0. Got: 1.5");
  EXPECT_ERROR(cross_entropy(x, Tensor::ones({3, 4}, kF64), Reduction::Mean, -100, 1.5), Value,
               "label_smoothing must be between 0.0 and 1.0. Got: 1.5");
  // torch: label_smoothing -0.5 with class indices is not checked (only ε > 0 takes that path)
  EXPECT_NO_THROW(cross_entropy(x, ints({3}, {1, 0, 1}), Reduction::Mean, -100, -0.5));
}

}  // namespace
}  // namespace gradoracle
