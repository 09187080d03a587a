#include "gradoracle/oracle/closed_forms.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>

#include "gradoracle/engine/autograd.hpp"
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

// ---- Second derivatives: the engine's Hessians (a create_graph backward, then one backward
// per column) against the closed forms.

// The engine's Hessian of a scalar f at x, (n, n) over x's elements flattened: row j is
// ∂⟨∇f, e_j⟩/∂x = ∂²f/∂x_j∂x.
Tensor engine_hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  autograd::GradOptions graph;
  graph.create_graph = true;
  const Tensor g = autograd::grad({f(x)}, {x}, {}, graph)[0];
  const int64_t n = x.numel();
  std::vector<double> h;
  for (int64_t j = 0; j < n; ++j) {
    std::vector<double> e(static_cast<size_t>(n), 0.0);
    e[static_cast<size_t>(j)] = 1.0;
    autograd::GradOptions keep;
    keep.retain_graph = true;
    keep.allow_unused = true;  // a constant gradient (a quadratic's) reaches x through no op
    const Tensor row = autograd::grad({g}, {x}, {Tensor::from_data(x.shape(), e, x.dtype())}, keep)[0];
    const std::vector<double> r = row.defined() ? row.to_vector() : std::vector<double>(static_cast<size_t>(n), 0.0);
    h.insert(h.end(), r.begin(), r.end());
  }
  return Tensor::from_data({n, n}, h, DType::Float64);
}

TEST_P(ClosedForms, MseLossHessianIsAScaledIdentity) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Generator gen(400 + seed);
    const int64_t n = gen.integer(1, 6);
    const Tensor x = leaf({n}, gen), t = Tensor::randn({n}, gen, dtype());
    for (Reduction r : {Reduction::Mean, Reduction::Sum}) {
      const Tensor h = engine_hessian([&](const Tensor& in) { return mse_loss(in, t, r); }, x);
      EXPECT_MATCH(h, cf::mse_loss_hessian(n, r));
    }
  }
}

TEST_P(ClosedForms, LinearSquaredLossHessianIsTheGramMatrix) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Generator gen(500 + seed);
    const int64_t n = gen.integer(1, 5), in = gen.integer(1, 4), out = gen.integer(1, 3);
    const Tensor x = Tensor::randn({n, in}, gen, dtype()), b = leaf({out}, gen), t = Tensor::randn({n, out}, gen, dtype());
    const Tensor w = leaf({out, in}, gen);
    const Tensor h = engine_hessian([&](const Tensor& wi) { return mse_loss(linear(x, wi, b), t, Reduction::Sum); }, w);
    EXPECT_MATCH(h, cf::linear_squared_loss_hessian(x, out));
  }
}

TEST_P(ClosedForms, SoftmaxJacobianAndItsHessianVectorProduct) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Generator gen(600 + seed);
    const int64_t n = gen.integer(1, 6);
    const Tensor x = leaf({n}, gen);
    const Tensor u = Tensor::randn({n}, gen, dtype()).requires_grad_(), v = Tensor::randn({n}, gen, dtype());
    const Tensor w = Tensor::randn({n}, gen, dtype());
    autograd::GradOptions graph;
    graph.create_graph = true;
    const Tensor g = autograd::grad({softmax(x, 0)}, {x}, {u}, graph)[0];  // Jᵀu
    // J·v by the double-VJP: ∂⟨Jᵀu, v⟩/∂u; and J by columns, J·e_j.
    const Tensor jv = autograd::grad({g}, {u}, {v}, [] { autograd::GradOptions o; o.retain_graph = true; return o; }())[0];
    EXPECT_MATCH(jv, matmul(cf::softmax_jacobian(x), v.to(DType::Float64)));
    const Tensor hv = autograd::grad({g}, {x}, {v}, [] { autograd::GradOptions o; o.retain_graph = true; return o; }())[0];
    const Tensor want = cf::softmax_hvp(x, u, v);
    EXPECT_MATCH(hv, want);
    // H_u symmetric: ⟨w, H_u·v⟩ = ⟨v, H_u·w⟩, in the closed form and in the engine.
    const Tensor hw = autograd::grad({g}, {x}, {w})[0];
    EXPECT_NEAR(sum(mul(w.to(DType::Float64), want)).item(), sum(mul(v.to(DType::Float64), cf::softmax_hvp(x, u, w))).item(), 1e-9);
    EXPECT_TRUE(close(sum(mul(w, hv)).item(), sum(mul(v, hw)).item(), tol()));
  }
}

TEST_P(ClosedForms, LogSumExpHessian) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Generator gen(700 + seed);
    const int64_t n = gen.integer(1, 6);
    const Tensor x = leaf({n}, gen);
    const Tensor h = engine_hessian([](const Tensor& in) { return log(sum(exp(in))); }, x);
    EXPECT_MATCH(h, cf::logsumexp_hessian(x));
    EXPECT_MATCH(cf::logsumexp_hessian(x), cf::softmax_jacobian(x));
  }
}

// cross_entropy's gradient, softmax(x) − q per row (q: the smoothed one-hot, or the smoothed
// probabilities), against the engine's: class indices with repeats and ignored rows (−100 or an
// ignore_index that is a class), every reduction, smoothing 0, 0.1 and 0.3.
TEST_P(ClosedForms, CrossEntropyClassIndicesGradIsSoftmaxMinusSmoothedOneHot) {
  for (uint64_t seed = 0; seed < 12; ++seed) {
    Generator gen(800 + seed);
    const int64_t n = gen.integer(1, 5), c = gen.integer(1, 5);
    const int64_t ignore = seed % 3 == 0 ? -100 : gen.integer(0, c - 1);
    std::vector<int64_t> y;
    std::vector<double> yd;
    for (int64_t i = 0; i < n; ++i) {
      y.push_back(i > 0 && gen.integer(0, 2) == 0 ? ignore : gen.integer(0, c - 1));
      if (i == 0 && y[0] == ignore) y[0] = (ignore + 1) % c;  // the first row is kept (c > 1)
      yd.push_back(static_cast<double>(y.back()));
    }
    if (y[0] == ignore) continue;  // one class and ignore_index 0: nothing to count
    const Tensor t = Tensor::from_data({n}, yd, DType::Int64);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      for (double eps : {0.0, 0.1, 0.3}) {
        Tensor x = leaf({n, c}, gen);
        const Tensor loss = cross_entropy(x, t, r, ignore, eps);
        loss.backward(Tensor::ones(loss.shape(), dtype()));
        EXPECT_MATCH(x.grad(), cf::cross_entropy_class_grad(x, y, r, ignore, eps));
      }
    }
  }
}

TEST_P(ClosedForms, CrossEntropyProbabilitiesGradIsSoftmaxMinusTarget) {
  for (uint64_t seed = 0; seed < 12; ++seed) {
    Generator gen(900 + seed);
    const int64_t n = gen.integer(1, 5), c = gen.integer(1, 5);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      for (double eps : {0.0, 0.2}) {
        Tensor x = leaf({n, c}, gen);
        // rows summing to 1 (a softmax), or any values: torch does not ask for a distribution
        Tensor p = seed % 2 == 0 ? softmax(Tensor::randn({n, c}, gen, dtype()), 1).detach().requires_grad_() : leaf({n, c}, gen);
        const Tensor loss = cross_entropy(x, p, r, -100, eps);
        loss.backward(Tensor::ones(loss.shape(), dtype()));
        const cf::ProbabilityGrads want = cf::cross_entropy_probability_grads(x, p, r, eps);
        EXPECT_MATCH(x.grad(), want.input);
        EXPECT_MATCH(p.grad(), want.target);
      }
    }
  }
}

// layer_norm's input gradient sums to zero along the normalized dims, and ⟨dx, x̂⟩ = eps·r³·⟨u, x̂⟩
// (u = g·weight): orthogonal to x̂ when eps = 0; random shapes, normalized over the last k dims,
// with and without weight, eps 0, 1e-5 and 0.5.
TEST_P(ClosedForms, LayerNormGradientSumsToZeroAndIsOrthogonalToXhat) {
  const double rel = dtype() == DType::Float32 ? 1e-4 : 1e-11;  // of the terms' magnitude
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Generator gen(800 + seed);
    Shape s;
    for (int64_t d = gen.integer(1, 3); d > 0; --d) s.push_back(gen.integer(1, 5));
    const int64_t k = gen.integer(1, static_cast<int64_t>(s.size()));
    const std::vector<int64_t> ns(s.end() - k, s.end());
    const int64_t m = numel(Shape(ns.begin(), ns.end()));
    const double eps = m < 2 ? 1e-5 : std::vector<double>{0.0, 1e-5, 0.5}[seed % 3];  // eps 0 needs σ² > 0
    Tensor x = leaf(s, gen);
    const bool weighted = seed % 2 == 1;
    Tensor w = weighted ? leaf(Shape(ns.begin(), ns.end()), gen) : Tensor();
    const Tensor g = Tensor::randn(s, gen, dtype());
    layer_norm(x, ns, w, Tensor(), eps).backward(g);
    const Tensor u = weighted ? mul(g, w.detach()) : g;
    const cf::LayerNormRowSums rows = cf::layer_norm_row_sums(x.detach(), m, u, x.grad(), eps);
    for (size_t i = 0; i < rows.sum.size(); ++i) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " row " + std::to_string(i) + " eps " + std::to_string(eps));
      EXPECT_LE(std::abs(rows.sum[i]), rel * rows.scale[i]) << "Σ dx";
      EXPECT_LE(std::abs(rows.dot_xhat[i] - rows.want_dot_xhat[i]), rel * rows.scale[i]) << "⟨dx, x̂⟩";
      if (eps == 0) { EXPECT_LE(std::abs(rows.dot_xhat[i]), rel * rows.scale[i]) << "orthogonal"; }
    }
  }
}

// embedding's weight gradient is an index-add of the upstream rows: few weight rows and many
// indices (repeats are the rule, some rows never picked), indices of rank 0 to 2.
TEST_P(ClosedForms, EmbeddingWeightGradIsAnIndexAddOfUpstreamRows) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator gen(1000 + seed);
    const int64_t rows = gen.integer(1, 4), d = gen.integer(1, 4);
    Shape is;
    for (int64_t r = gen.integer(0, 2); r > 0; --r) is.push_back(gen.integer(1, 5));
    std::vector<int64_t> idx(static_cast<size_t>(numel(is)));
    std::vector<double> idx_d;
    for (int64_t& v : idx) {
      v = gen.integer(0, rows - 1);
      idx_d.push_back(static_cast<double>(v));
    }
    const Tensor indices = Tensor::from_data(is, idx_d, DType::Int64);
    Tensor w = leaf({rows, d}, gen);
    Shape gs = is;
    gs.push_back(d);
    const Tensor g = Tensor::randn(gs, gen, dtype());
    embedding(indices, w).backward(g);
    EXPECT_MATCH(w.grad(), cf::embedding_weight_grad(idx, rows, g));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ClosedForms, ::testing::Values(DType::Float64, DType::Float32),
                         [](const auto& info) { return std::string(name(info.param)); });

// conv2d's weight gradient as the correlation of the padded, strided, dilated input with the
// upstream, and its input gradient as the transposed convolution, against the engine's, over
// random geometry: stride, padding, dilation per side, groups (depthwise included), with bias.
TEST_P(ClosedForms, Conv2dWeightGradIsInputCorrelatedWithUpstream) {
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Generator gen(1000 + seed);
    cf::Conv2dGeometry q;
    q.groups = gen.integer(1, 3);
    const int64_t Cg = gen.integer(1, 2), C = q.groups * Cg, O = q.groups * gen.integer(1, 2), N = gen.integer(1, 2);
    q.sH = gen.integer(1, 3), q.sW = gen.integer(1, 3), q.pH = gen.integer(0, 2), q.pW = gen.integer(0, 2);
    q.dH = gen.integer(1, 3), q.dW = gen.integer(1, 3);
    const int64_t kH = gen.integer(1, 3), kW = gen.integer(1, 3);
    // the input at least as large as the dilated kernel less the padding, plus a few strides
    const int64_t H = std::max<int64_t>(1, q.dH * (kH - 1) + 1 - 2 * q.pH) + gen.integer(0, 4);
    const int64_t W = std::max<int64_t>(1, q.dW * (kW - 1) + 1 - 2 * q.pW) + gen.integer(0, 4);
    SCOPED_TRACE("seed " + std::to_string(seed));
    Tensor x = leaf({N, C, H, W}, gen), w = leaf({O, Cg, kH, kW}, gen), b = leaf({O}, gen);
    const Tensor y = conv2d(x, w, b, {q.sH, q.sW}, {q.pH, q.pW}, {q.dH, q.dW}, q.groups);
    const Tensor g = Tensor::randn(y.shape(), gen, dtype());
    y.backward(g);
    const cf::Conv2dGrads want = cf::conv2d_grads(x.detach(), w.detach(), g, q);
    EXPECT_MATCH(w.grad(), want.weight);
    EXPECT_MATCH(b.grad(), want.bias);
    EXPECT_MATCH(x.grad(), want.input);
  }
}

}  // namespace
}  // namespace gradoracle::oracle
