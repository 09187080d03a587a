#include "gradoracle/oracle/closed_forms.hpp"

#include <gtest/gtest.h>

#include "gradoracle/engine/nn.hpp"
#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/compare.hpp"

namespace gradoracle::oracle {
namespace {

namespace cf = closed_forms;

// Each closed form against the engine on random shapes, both dtypes, fixture tolerances.
class ClosedForms : public ::testing::TestWithParam<DType> {
 protected:
  DType dtype() const { return GetParam(); }
  Tolerance tol() const { return default_tolerance(GetParam()); }
  Tensor leaf(const Shape& s, Generator& gen) const { return Tensor::randn(s, gen, dtype()).requires_grad_(); }
};

#define EXPECT_MATCH(actual, expected) \
  do {                                 \
    const CompareResult r_ = compare((actual), (expected), tol()); \
    EXPECT_TRUE(r_.passed) << #actual << ": " << r_.to_string(); \
  } while (0)

TEST_P(ClosedForms, LinearLayer) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator gen(seed);
    const int64_t n = gen.integer(1, 6), in = gen.integer(1, 5), out = gen.integer(1, 4);
    Tensor x = leaf({n, in}, gen), w = leaf({out, in}, gen), b = leaf({out}, gen);
    const Tensor g = Tensor::randn({n, out}, gen, dtype());
    linear(x, w, b).backward(g);
    const cf::LinearGrads want = cf::linear(x, w, g);
    EXPECT_MATCH(w.grad(), want.weight);
    EXPECT_MATCH(b.grad(), want.bias);
    EXPECT_MATCH(x.grad(), want.input);
    // with ones upstream: db = N, every row of dW = x.sum(0)
    const cf::LinearGrads ones = cf::linear(x, w, Tensor::ones({n, out}, dtype()));
    EXPECT_MATCH(ones.bias, Tensor::full({out}, static_cast<double>(n), DType::Float64));
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) EXPECT_NEAR(ones.weight.at({o, i}), sum(x.detach(), {0}).at({i}), 1e-5);
  }
}

TEST_P(ClosedForms, WeightedBatches) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator gen(100 + seed);
    const int64_t in = gen.integer(1, 5), out = gen.integer(1, 4), k = gen.integer(1, 4);
    nn::Linear lin(in, out, gen, dtype());
    std::vector<Tensor> xs;
    std::vector<double> c;
    Tensor loss;
    for (int64_t b = 0; b < k; ++b) {
      const int64_t n = gen.integer(1, 5);
      xs.push_back(Tensor::randn({n, in}, gen, dtype()));
      c.push_back(gen.uniform(-2.0, 2.0));
      const Tensor t = Tensor::randn({n, out}, gen, dtype());
      const Tensor term = mul(sum(sub(t, lin(xs.back()))), c.back());  // cₖ·Σ(tₖ − linear(xₖ))
      loss = loss.defined() ? add(loss, term) : term;
    }
    loss.backward();
    const cf::LinearGrads want = cf::weighted_batches(xs, c, out);
    EXPECT_MATCH(lin.weight.grad(), want.weight);
    EXPECT_MATCH(lin.bias.grad(), want.bias);
  }
}

TEST_P(ClosedForms, ClipGradNorm) {
  for (uint64_t seed = 0; seed < 12; ++seed) {
    for (double p : {2.0, 1.0, 3.0, 0.5, kInf}) {
      for (double max_norm : {0.5, 1e3}) {
        Generator gen(200 + seed);
        std::vector<Tensor> params, grads;
        for (int q = 0; q < 3; ++q) {
          Tensor param = Tensor::randn({gen.integer(1, 4), gen.integer(1, 3)}, gen, dtype()).requires_grad_();
          const Tensor g = Tensor::randn(param.shape(), gen, dtype());
          param.set_grad(g.clone());
          grads.push_back(g);
          params.push_back(param);
        }
        const cf::ClipGradNorm want = cf::clip_grad_norm(grads, max_norm, p);
        const Tensor total = nn::clip_grad_norm_(params, max_norm, p);
        EXPECT_TRUE(close(total.item(), want.total_norm, tol())) << "p " << p << ": " << total.item() << " vs " << want.total_norm;
        EXPECT_EQ(want.coefficient < 1.0, max_norm == 0.5);
        for (size_t q = 0; q < params.size(); ++q) EXPECT_MATCH(params[q].grad(), want.clipped[q]);
      }
    }
  }
}

TEST_P(ClosedForms, SharedWeightsChain) {
  for (bool detach_middle : {false, true}) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Generator gen(300 + seed);
      const int64_t n = gen.integer(1, 6), d = gen.integer(1, 4);
      Tensor x = Tensor::randn({n, d}, gen, dtype()), w = leaf({d, d}, gen), b = leaf({d}, gen);
      const Tensor y1 = linear(x, w, b);
      const Tensor y2 = linear(detach_middle ? y1.detach() : y1, w, b);
      y2.backward(Tensor::ones({n, d}, dtype()));
      const cf::LinearGrads want = cf::shared_chain(x, w, b, detach_middle);
      EXPECT_MATCH(b.grad(), want.bias);
      EXPECT_MATCH(w.grad(), want.weight);
      if (detach_middle) {
        EXPECT_MATCH(want.bias, Tensor::full({d}, static_cast<double>(n), DType::Float64));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ClosedForms, ::testing::Values(DType::Float64, DType::Float32),
                         [](const auto& info) { return std::string(name(info.param)); });

}  // namespace
}  // namespace gradoracle::oracle
