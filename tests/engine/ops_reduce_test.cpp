// Reductions, norms, softmax and mse_loss: values and gradients from their closed forms.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

const std::vector<double> kX = {1, -2, 3, 0.5, 5, -6};  // as (2, 3)

TEST(Reduce, SumAllAndOverDims) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 3}, kX, dt);
    const Tensor all = sum(x);
    EXPECT_EQ(all.grad_fn_name(), "SumBackward0");
    EXPECT_TENSOR_NEAR(all, {1.5}, Shape{}, tol_of(dt));
    all.backward();  // d/dx Σx = 1
    EXPECT_TENSOR_NEAR(x.grad(), std::vector<double>(6, 1.0), (Shape{2, 3}), 0.0);

    const Tensor rows = sum(x, {0});
    EXPECT_EQ(rows.grad_fn_name(), "SumBackward1");
    EXPECT_TENSOR_NEAR(rows, (std::vector<double>{1.5, 3, -3}), Shape{3}, tol_of(dt));
    x.set_grad(Tensor());
    rows.backward(lit({3}, {1, 2, 3}, dt));  // each column's upstream repeats down the rows
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 2, 3, 1, 2, 3}), (Shape{2, 3}), 0.0);

    const Tensor cols = sum(x, {-1}, true);
    EXPECT_TENSOR_NEAR(cols, (std::vector<double>{2, -0.5}), (Shape{2, 1}), tol_of(dt));
    x.set_grad(Tensor());
    cols.backward(lit({2, 1}, {1, 2}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 1, 1, 2, 2, 2}), (Shape{2, 3}), 0.0);
  }
}

TEST(Reduce, SumDimListsKeepdimZeroDAndEmpty) {
  const Tensor x = leaf({2, 3}, kX);
  EXPECT_TENSOR_NEAR(sum(x, {0, 1}), {1.5}, Shape{}, 1e-15);
  EXPECT_TENSOR_NEAR(sum(x, {}, true), {1.5}, (Shape{1, 1}), 1e-15);  // empty list: all dims
  EXPECT_EQ(sum(x, {1, 0}, true).shape(), (Shape{1, 1}));
  const Tensor s = leaf({}, {4});
  EXPECT_TENSOR_NEAR(sum(s, {0}), {4}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(sum(s, {-1}, true), {4}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(sum(Tensor::zeros({0, 3})), {0}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(sum(Tensor::zeros({0, 3}), {0}), (std::vector<double>{0, 0, 0}), Shape{3}, 0.0);
  EXPECT_EQ(sum(Tensor::zeros({0, 3}), {1}).shape(), Shape{0});
  EXPECT_ERROR(sum(x, {2}), Dim, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_ERROR(sum(x, {0, -2}), Dim, "dim 0 appears multiple times in the list of dims");
  EXPECT_ERROR(sum(s, {1}), Dim, "[-1, 0], but got 1");
}

TEST(Reduce, MeanIsSumOverCount) {
  for (DType dt : kDTypes) {
    Tensor x = leaf({2, 3}, kX, dt);
    const Tensor m = mean(x);
    EXPECT_EQ(m.grad_fn_name(), "MeanBackward0");
    EXPECT_TENSOR_NEAR(m, {1.5 / 6}, Shape{}, tol_of(dt));
    m.backward();
    EXPECT_TENSOR_NEAR(x.grad(), std::vector<double>(6, 1.0 / 6), (Shape{2, 3}), tol_of(dt));
    const Tensor m0 = mean(x, {0}, true);
    EXPECT_EQ(m0.grad_fn_name(), "MeanBackward1");
    EXPECT_TENSOR_NEAR(m0, (std::vector<double>{0.75, 1.5, -1.5}), (Shape{1, 3}), tol_of(dt));
    x.set_grad(Tensor());
    m0.backward(lit({1, 3}, {2, 4, 6}, dt));
    EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{1, 2, 3, 1, 2, 3}), (Shape{2, 3}), tol_of(dt));
  }
  EXPECT_TENSOR_NEAR(mean(Tensor::zeros({0})), {kNaN}, Shape{}, 0.0);  // 0/0, as PyTorch
  EXPECT_TENSOR_NEAR(mean(Tensor::scalar(3, kF64), {0}), {3}, Shape{}, 0.0);
}

// ‖x‖ₚ = (Σ|x|ᵖ)^(1/p); d/dx = sgn(x)·|x|^(p-1)·‖x‖^(1-p). p = 1: sgn x; p = inf: sgn at the argmax
// shared among ties; p = 0 counts non-zeros.
TEST(Reduce, NormValuesAndGradients) {
  const std::vector<double> xs = {3, -4, 0.5, 0};
  for (double p : {1.0, 1.5, 2.0, 3.0, 0.5, -2.0}) {
    SCOPED_TRACE(p);
    for (DType dt : kDTypes) {
      const Tensor x = leaf({2, 2}, xs, dt);
      const Tensor n = norm(x, p);
      EXPECT_EQ(n.grad_fn_name(), "NormBackward1");
      double total = 0;
      for (double v : xs) total += std::pow(std::abs(v), p);
      const double nv = std::pow(total, 1 / p);
      EXPECT_TENSOR_NEAR(n, {nv}, Shape{}, 4 * tol_of(dt));
      n.backward();
      const auto d = apply(xs, [&](double v) {
        if (v == 0) return 0.0;
        const double sgn = v > 0 ? 1.0 : -1.0;
        return sgn * std::pow(std::abs(v), p - 1) * std::pow(nv, 1 - p);
      });
      EXPECT_TENSOR_NEAR(x.grad(), d, (Shape{2, 2}), 8 * tol_of(dt));
    }
  }
  EXPECT_TENSOR_NEAR(norm(lit({4}, xs), 0), {3}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(norm(lit({4}, xs), -kInf), {0}, Shape{}, 0.0);
}

TEST(Reduce, NormInfSplitsTiesAndZeroNormHasZeroGradient) {
  const Tensor x = leaf({3}, {3, -3, 1});
  const Tensor n = norm(x, kInf);
  EXPECT_TENSOR_NEAR(n, {3}, Shape{}, 0.0);
  n.backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{0.5, -0.5, 0}), Shape{3}, 0.0);
  const Tensor m = leaf({2}, {3, -1});
  norm(m, -kInf).backward();
  EXPECT_TENSOR_NEAR(m.grad(), (std::vector<double>{0, -1}), Shape{2}, 0.0);
  // p = -inf: min |x|, ties at the min share the gradient (torch 1.13: [0, -1/3, 1/3, -1/3]).
  const Tensor mt = leaf({4}, {3, -1, 1, -1});
  const Tensor nmt = norm(mt, -kInf);
  EXPECT_TENSOR_NEAR(nmt, {1}, Shape{}, 0.0);
  EXPECT_EQ(nmt.grad_fn_name(), "NormBackward1");
  nmt.backward();
  EXPECT_TENSOR_NEAR(mt.grad(), (std::vector<double>{0, -1.0 / 3, 1.0 / 3, -1.0 / 3}), Shape{4}, 0.0);
  const Tensor q = leaf({3}, {3, -3, kNaN});  // NaN wins the max and takes the gradient (sgn NaN = 0)
  const Tensor nq = norm(q, kInf);
  EXPECT_TENSOR_NEAR(nq, {kNaN}, Shape{}, 0.0);
  nq.backward();
  EXPECT_TENSOR_NEAR(q.grad(), (std::vector<double>{0, 0, 0}), Shape{3}, 0.0);
  for (double p : {1.0, 1.5, 2.0, 3.0, 0.5, kInf}) {
    SCOPED_TRACE(p);
    const Tensor z = leaf({2}, {0, 0});
    const Tensor nz = norm(z, p);
    EXPECT_TENSOR_NEAR(nz, {0}, Shape{}, 0.0);
    nz.backward();
    EXPECT_TENSOR_NEAR(z.grad(), (std::vector<double>{0, 0}), Shape{2}, 0.0);
  }
  EXPECT_TENSOR_NEAR(norm(Tensor::zeros({0}), kInf), {0}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(norm(Tensor::zeros({0})), {0}, Shape{}, 0.0);
}

// softmax: yᵢ = e^xᵢ/Σe^x; dx = y·(g - Σg·y). log_softmax: y = x - log Σe^x; dx = g - e^y·Σg.
TEST(Reduce, SoftmaxAndLogSoftmaxAlongEachDim) {
  const std::vector<double> xs = {1, 2, 3, -1, 0, 4};
  const std::vector<double> gs = {0.5, -1, 2, 1, 0.25, -0.5};
  for (int64_t dim : {0, 1, -1}) {
    SCOPED_TRACE(dim);
    for (DType dt : kDTypes) {
      const int64_t d = dim < 0 ? dim + 2 : dim;
      // Lines along `d` in a (2, 3) tensor: element (i, j) is on line (d == 0 ? j : i).
      std::vector<double> sm(6), lsm(6), gsm(6), glsm(6);
      const int64_t lines = d == 0 ? 3 : 2, len = d == 0 ? 2 : 3;
      const auto at = [&](int64_t line, int64_t k) { return static_cast<size_t>(d == 0 ? k * 3 + line : line * 3 + k); };
      for (int64_t l = 0; l < lines; ++l) {
        double z = 0, gsum = 0, gy = 0;
        for (int64_t k = 0; k < len; ++k) z += std::exp(xs[at(l, k)]);
        for (int64_t k = 0; k < len; ++k) {
          sm[at(l, k)] = std::exp(xs[at(l, k)]) / z;
          lsm[at(l, k)] = xs[at(l, k)] - std::log(z);
          gsum += gs[at(l, k)];
          gy += gs[at(l, k)] * sm[at(l, k)];
        }
        for (int64_t k = 0; k < len; ++k) {
          gsm[at(l, k)] = sm[at(l, k)] * (gs[at(l, k)] - gy);
          glsm[at(l, k)] = gs[at(l, k)] - sm[at(l, k)] * gsum;
        }
      }
      const Tensor x = leaf({2, 3}, xs, dt);
      const Tensor y = softmax(x, dim);
      EXPECT_EQ(y.grad_fn_name(), "SoftmaxBackward0");
      EXPECT_TENSOR_NEAR(y, sm, (Shape{2, 3}), tol_of(dt));
      y.backward(lit({2, 3}, gs, dt));
      EXPECT_TENSOR_NEAR(x.grad(), gsm, (Shape{2, 3}), 4 * tol_of(dt));
      const Tensor x2 = leaf({2, 3}, xs, dt);
      const Tensor ly = log_softmax(x2, dim);
      EXPECT_EQ(ly.grad_fn_name(), "LogSoftmaxBackward0");
      EXPECT_TENSOR_NEAR(ly, lsm, (Shape{2, 3}), 4 * tol_of(dt));
      ly.backward(lit({2, 3}, gs, dt));
      EXPECT_TENSOR_NEAR(x2.grad(), glsm, (Shape{2, 3}), 4 * tol_of(dt));
    }
  }
}

TEST(Reduce, SoftmaxEdgeCases) {
  EXPECT_TENSOR_NEAR(softmax(lit({2}, {1000, 1000}), 0), (std::vector<double>{0.5, 0.5}), Shape{2}, 0.0);
  EXPECT_TENSOR_NEAR(softmax(lit({2}, {-kInf, -kInf}), 0), (std::vector<double>{kNaN, kNaN}), Shape{2}, 0.0);
  EXPECT_TENSOR_NEAR(log_softmax(lit({2}, {-kInf, 0}), 0), (std::vector<double>{-kInf, 0}), Shape{2}, 0.0);
  EXPECT_TENSOR_NEAR(softmax(Tensor::scalar(5, kF64), 0), {1}, Shape{}, 0.0);
  EXPECT_TENSOR_NEAR(log_softmax(Tensor::scalar(5, kF64), -1), {0}, Shape{}, 0.0);
  EXPECT_EQ(softmax(Tensor::zeros({2, 0}), 1).shape(), (Shape{2, 0}));
  EXPECT_ERROR(softmax(Tensor::ones({2, 3}), 2), Dim, "Dimension out of range (expected to be in range of [-2, 1]");
  EXPECT_ERROR(log_softmax(Tensor::scalar(1), 1), Dim, "[-1, 0], but got 1");
}

// ℓ = (x - t)²; mean: Σℓ/N, dx = 2(x - t)/N; sum: Σℓ, dx = 2(x - t); none: ℓ, dx = 2(x - t)·g; dt = -dx.
TEST(Loss, MseLossReductions) {
  const std::vector<double> xs = {1, 2, 3, 4}, ts = {0.5, 2, 5, 3};
  for (DType dt : kDTypes) {
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      const Tensor x = leaf({2, 2}, xs, dt), t = leaf({2, 2}, ts, dt);
      const Tensor l = mse_loss(x, t, r);
      EXPECT_EQ(l.grad_fn_name(), "MseLossBackward0");
      std::vector<double> sq, dx, dtv;
      double total = 0;
      const std::vector<double> g = {1, -1, 2, 0.5};
      for (size_t i = 0; i < 4; ++i) {
        sq.push_back((xs[i] - ts[i]) * (xs[i] - ts[i]));
        total += sq.back();
        const double scale = r == Reduction::Mean ? 0.25 : r == Reduction::None ? g[i] : 1.0;
        dx.push_back(2 * (xs[i] - ts[i]) * scale);
        dtv.push_back(-dx.back());
      }
      if (r == Reduction::None) {
        EXPECT_TENSOR_NEAR(l, sq, (Shape{2, 2}), tol_of(dt));
        l.backward(lit({2, 2}, g, dt));
      } else {
        EXPECT_TENSOR_NEAR(l, {r == Reduction::Mean ? total / 4 : total}, Shape{}, tol_of(dt));
        l.backward();
      }
      EXPECT_TENSOR_NEAR(x.grad(), dx, (Shape{2, 2}), tol_of(dt));
      EXPECT_TENSOR_NEAR(t.grad(), dtv, (Shape{2, 2}), tol_of(dt));
    }
  }
}

TEST(Loss, MseLossBroadcastsTargetAndSumsItsGradient) {
  // x (2, 2) against t (2): N = 4 broadcast elements; dt[j] = -Σᵢ 2(x[i][j] - t[j])/4.
  const Tensor x = leaf({2, 2}, {1, 2, 3, 4}), t = leaf({2}, {1, 1});
  const Tensor l = mse_loss(x, t);
  EXPECT_TENSOR_NEAR(l, {(0 + 1 + 4 + 9) / 4.0}, Shape{}, 1e-15);
  l.backward();
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{0, 0.5, 1, 1.5}), (Shape{2, 2}), 1e-15);
  EXPECT_TENSOR_NEAR(t.grad(), (std::vector<double>{-1, -2}), Shape{2}, 1e-15);
  EXPECT_EQ(mse_loss(Tensor::ones({2, 3}), Tensor::zeros({3}), Reduction::None).shape(), (Shape{2, 3}));
  EXPECT_TENSOR_NEAR(mse_loss(Tensor::zeros({0}), Tensor::zeros({0})), {kNaN}, Shape{}, 0.0);
  EXPECT_ERROR(mse_loss(Tensor::ones({2, 3}), Tensor::zeros({4})), Shape,
               "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1");
}

}  // namespace
}  // namespace gradoracle

namespace gradoracle {
namespace {
using namespace test;

const std::vector<Shape> kBitShapes = {{}, {0}, {1}, {7}, {3, 0}, {2, 3}, {4, 1, 5}, {2, 3, 4, 1}, {3, 1}, {1, 40}};

// Random values over many magnitudes, so a change in the order of additions shows in the bits.
Tensor wide_random(const Shape& shape, DType dt, Generator& gen) {
  Tensor t = Tensor::randn(shape, gen, DType::Float64);
  std::vector<double> v = t.to_vector();
  for (double& x : v) x *= std::pow(10.0, static_cast<double>(gen.integer(-6, 6)));
  if (!v.empty()) v[0] = -0.0;
  return Tensor::from_data(shape, v, dt);
}

// sum(a) and mean(a) take a direct loop over all elements; the general reduction over every
// dim (sum(a, all dims)) is the reference: the same bits, float32 and float64, grad mode on or off.
TEST(Reduce, FullSumAndMeanBitIdenticalToReductionOverEveryDim) {
  Generator gen(7);
  for (DType dt : kDTypes) {
    for (const Shape& shape : kBitShapes) {
      for (int rep = 0; rep < 20; ++rep) {
        const Tensor a = wide_random(shape, dt, gen);
        std::vector<int64_t> all;
        for (size_t d = 0; d < shape.size(); ++d) all.push_back(static_cast<int64_t>(d));
        const Tensor ref = sum(a, all);  // {} for a 0-d tensor: all dims
        // mean = the sum rounded to the dtype, divided by the count rounded to the dtype
        const Tensor ref_mean = div(ref, Tensor::scalar(static_cast<double>(a.numel()), dt));
        EXPECT_EQ(value_bits(sum(a)), value_bits(ref)) << to_string(shape);
        EXPECT_EQ(value_bits(mean(a)), value_bits(ref_mean)) << to_string(shape);
        NoGradGuard no_grad;
        EXPECT_EQ(value_bits(sum(a)), value_bits(ref)) << to_string(shape);
        EXPECT_EQ(value_bits(mean(a)), value_bits(ref_mean)) << to_string(shape);
      }
    }
    // -0.0 alone: the sum starts from +0, as the general walk does
    EXPECT_EQ(value_bits(sum(lit({1}, {-0.0}, dt))), value_bits(lit({}, {0.0}, dt)));
  }
}

}  // namespace
}  // namespace gradoracle

// Second order: each op's backward under create_graph differentiates again (against finite
// differences of the first backward, second_order_matches_fd), its results carry PyTorch
// 1.13's grad_fn names (printed by torch: grad of each input, upstream constant / requiring
// grad), and without create_graph they carry no graph.
namespace gradoracle {
namespace {
using namespace test;

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
struct SecondOrderCase {
  const char* what;
  Fn f;
  std::vector<Tensor> inputs;
  std::vector<std::string> const_up, grad_up;  // torch 1.13's names
};

// Distinct, non-zero, away from ties: no input sits on a kink of |x|, max or the norms.
Tensor smooth(const Shape& shape, bool requires_grad = true) {
  std::vector<double> v;
  for (int64_t i = 0; i < numel(shape); ++i) v.push_back((0.3 + 0.17 * static_cast<double>(i)) * (i % 3 == 1 ? -1 : 1));
  return Tensor::from_data(shape, v, kF64, requires_grad);
}

std::vector<SecondOrderCase> reduce_cases() {
  using V = std::vector<Tensor>;
  using N = std::vector<std::string>;
  const Tensor x = smooth({2, 3, 2});
  std::vector<SecondOrderCase> cases = {
      {"sum", [](const V& in) { return sum(in[0] * in[0]); }, {x}, {"AddBackward0"}, {"AddBackward0"}},
      {"sum leaf", [](const V& in) { return sum(in[0]); }, {x}, {"nograd"}, {"ExpandBackward0"}},
      {"sum dim", [](const V& in) { return sum(in[0], {1}); }, {x}, {"nograd"}, {"ExpandBackward0"}},
      {"sum dims keepdim", [](const V& in) { return sum(in[0], {0, -1}, true); }, {x}, {"nograd"}, {"ExpandBackward0"}},
      {"mean leaf", [](const V& in) { return mean(in[0]); }, {x}, {"nograd"}, {"DivBackward1"}},
      {"mean dim", [](const V& in) { return mean(in[0], {1}); }, {x}, {"nograd"}, {"DivBackward1"}},
      {"mean dims keepdim", [](const V& in) { return mean(in[0], {0, 2}, true); }, {x}, {"nograd"}, {"DivBackward1"}},
      {"softmax 0", [](const V& in) { return softmax(in[0], 0); }, {x}, {"SoftmaxBackwardDataBackward0"}, {"SoftmaxBackwardDataBackward0"}},
      {"softmax -1", [](const V& in) { return softmax(in[0], -1); }, {x}, {"SoftmaxBackwardDataBackward0"}, {"SoftmaxBackwardDataBackward0"}},
      {"log_softmax 1", [](const V& in) { return log_softmax(in[0], 1); }, {x}, {"LogSoftmaxBackwardDataBackward0"}, {"LogSoftmaxBackwardDataBackward0"}},
  };
  for (double p : {2.0, 1.0, kInf, -kInf, 3.0, 0.5, 1.5, -1.0}) {
    cases.push_back({"norm", [p](const V& in) { return norm(in[0], p); }, {x}, {"MulBackward0"}, {"MulBackward0"}});
  }
  const Tensor t = smooth({2, 3}), t_const = smooth({2, 3}, false), row = smooth({3});
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    const Fn f = [r](const V& in) { return mse_loss(in[0] * 0.5, in[1], r); };
    const N both = {"MseLossBackwardBackward0", "MseLossBackwardBackward0"};
    cases.push_back({"mse", f, {t, t_const * -1.0}, {"MulBackward0"}, {"MulBackward0"}});  // x·0.5: not a leaf
    cases.push_back({"mse leaves", [r](const V& in) { return mse_loss(in[0], in[1], r); }, {t, smooth({2, 3}) * -1.0},
                     both, both});
    cases.push_back({"mse target only", [r](const V& in) { return mse_loss(in[0], in[1], r); }, {t_const, t},
                     {"MseLossBackwardBackward0"}, {"MseLossBackwardBackward0"}});
    // A broadcast target's gradient is summed by the engine (autograd.cpp): names not compared.
    cases.push_back({"mse broadcast target", [r](const V& in) { return mse_loss(in[0], in[1], r); }, {t, row}, {}, {}});
  }
  return cases;
}

TEST(ReduceSecondOrder, MatchesFiniteDifferencesOfTheFirstBackward) {
  for (const SecondOrderCase& c : reduce_cases()) {
    SCOPED_TRACE(c.what);
    EXPECT_TRUE(second_order_matches_fd(c.f, c.inputs));
  }
}

TEST(ReduceSecondOrder, GradFnNamesArePyTorchsAndNoGraphWithoutCreateGraph) {
  for (const SecondOrderCase& c : reduce_cases()) {
    SCOPED_TRACE(c.what);
    if (c.const_up.empty()) continue;
    EXPECT_EQ(grad_fn_names(c.f, c.inputs, false), c.const_up);
    EXPECT_EQ(grad_fn_names(c.f, c.inputs, true), c.grad_up);
    for (const std::string& n : grad_fn_names(c.f, c.inputs, true, false)) EXPECT_EQ(n, "nograd");
  }
}

// Σⱼ ∂²‖x‖ₚ/∂xᵢ∂xⱼ·vⱼ at PyTorch's special points; expected values printed by torch 1.13
// (torch.autograd.grad of (grad·v).sum() after a create_graph grad): 0/0 at a zero norm or a zero
// element gives NaN where PyTorch's masked_fill leaves a 0/0 in the chain, 0 where it does not.
TEST(ReduceSecondOrder, NormSpecialValuesAreTorchs) {
  struct Case {
    double p;
    std::vector<double> x, v, first, second;
  };
  const std::vector<Case> cases = {
      {2, {0, 0, 0}, {1, 1, 1}, {0, 0, 0}, {kNaN, kNaN, kNaN}},
      {3, {0, 0, 0}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}},
      {1.5, {1, 0, 2}, {1, 1, 1}, {0.6392340078652324, 0, 0.9040134034531215}, {0.11806590200055778, kNaN, -0.05903295100027883}},
      {0.5, {1, 0, 2}, {1, 1, 1}, {2.414213562373095, 0, 1.7071067811865472}, {-0.35355339059327373, kNaN, 0.17677669529663687}},
      {-1, {1, 0, 2}, {1, 1, 1}, {0, 0, 0}, {0, kNaN, 0}},
      {kInf, {1, -2, 2, 0.5}, {1, 2, 3, 4}, {0, -0.5, 0.5, 0}, {0, 0, 0, 0}},
      {1, {1, 0, 2}, {1, 1, 1}, {1, 0, 1}, {0, 0, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.p);
    const Shape shape{static_cast<int64_t>(c.x.size())};
    const Tensor x = leaf(shape, c.x);
    autograd::GradOptions create;
    create.create_graph = true;
    const Tensor g = autograd::grad({norm(x, c.p)}, {x}, {}, create)[0];
    EXPECT_TENSOR_NEAR(g, c.first, shape, 1e-12);
    const Tensor h = autograd::grad({sum(g * lit(shape, c.v))}, {x})[0];
    EXPECT_TENSOR_NEAR(h, c.second, shape, 1e-12);
  }
}

}  // namespace
}  // namespace gradoracle
