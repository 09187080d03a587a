// The engine against the same computation hand-written in Eigen (same flags): a Linear layer's
// forward + backward with ones upstream, and one step of a 3-layer tanh MLP.
// Report ratios measured in one run: tools/bench.sh prints engine/hand-written per size.
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include "gradoracle/engine/nn.hpp"

namespace {
using namespace gradoracle;
using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// ---- Linear forward + backward, ones upstream: Y = X·Wᵀ + b; dW = 1ᵀ... = Gᵀ·X; db = G.sum(0)
void BM_LinearEngine(benchmark::State& state) {
  const int64_t n = state.range(0), in = state.range(1), out = state.range(2);
  Generator gen(0);
  nn::Linear linear(in, out, gen);
  const Tensor x = Tensor::randn({n, in}, gen);
  const Tensor ones = Tensor::ones({n, out});
  for (auto _ : state) {
    linear.zero_grad(true);
    Tensor y = linear(x);
    y.backward(ones);
    benchmark::DoNotOptimize(linear.weight.grad().data<float>());
  }
}

void BM_LinearEigen(benchmark::State& state) {
  const int64_t n = state.range(0), in = state.range(1), out = state.range(2);
  const MatrixRM x = MatrixRM::Random(n, in);
  const MatrixRM w = MatrixRM::Random(out, in);
  const Eigen::RowVectorXf b = Eigen::RowVectorXf::Random(out);
  const MatrixRM g = MatrixRM::Ones(n, out);
  MatrixRM y(n, out), dw(out, in);
  Eigen::RowVectorXf db(out);
  for (auto _ : state) {
    y.noalias() = x * w.transpose();
    y.rowwise() += b;
    dw.noalias() = g.transpose() * x;
    db = g.colwise().sum();
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::DoNotOptimize(db.data());
  }
}

// ---- 3-layer tanh MLP, mean-squared loss, forward + backward
constexpr int64_t kBatch = 64, kWidth = 128;

void BM_MlpEngine(benchmark::State& state) {
  Generator gen(0);
  nn::Linear l1(kWidth, kWidth, gen), l2(kWidth, kWidth, gen), l3(kWidth, 1, gen);
  const Tensor x = Tensor::randn({kBatch, kWidth}, gen);
  const Tensor target = Tensor::randn({kBatch, 1}, gen);
  for (auto _ : state) {
    for (auto* l : {&l1, &l2, &l3}) l->zero_grad(true);
    Tensor loss = mse_loss(l3(tanh(l2(tanh(l1(x))))), target);
    loss.backward();
    benchmark::DoNotOptimize(l1.weight.grad().data<float>());
  }
}

void BM_MlpEigen(benchmark::State& state) {
  const MatrixRM x = MatrixRM::Random(kBatch, kWidth);
  const MatrixRM t = MatrixRM::Random(kBatch, 1);
  const MatrixRM w1 = MatrixRM::Random(kWidth, kWidth), w2 = MatrixRM::Random(kWidth, kWidth);
  const MatrixRM w3 = MatrixRM::Random(1, kWidth);
  const Eigen::RowVectorXf b1 = Eigen::RowVectorXf::Random(kWidth), b2 = Eigen::RowVectorXf::Random(kWidth);
  const Eigen::RowVectorXf b3 = Eigen::RowVectorXf::Random(1);
  MatrixRM h1(kBatch, kWidth), h2(kBatch, kWidth), y(kBatch, 1), g3(kBatch, 1), g2(kBatch, kWidth), g1(kBatch, kWidth);
  MatrixRM dw1(kWidth, kWidth), dw2(kWidth, kWidth), dw3(1, kWidth);
  Eigen::RowVectorXf db1(kWidth), db2(kWidth), db3(1);
  for (auto _ : state) {
    h1.noalias() = x * w1.transpose();
    h1.rowwise() += b1;
    h1 = h1.array().tanh();
    h2.noalias() = h1 * w2.transpose();
    h2.rowwise() += b2;
    h2 = h2.array().tanh();
    y.noalias() = h2 * w3.transpose();
    y.rowwise() += b3;
    const float loss = (y - t).squaredNorm() / static_cast<float>(kBatch);
    benchmark::DoNotOptimize(loss);
    g3 = (y - t) * (2.0f / static_cast<float>(kBatch));
    dw3.noalias() = g3.transpose() * h2;
    db3 = g3.colwise().sum();
    g2.noalias() = g3 * w3;
    g2.array() *= 1 - h2.array().square();
    dw2.noalias() = g2.transpose() * h1;
    db2 = g2.colwise().sum();
    g1.noalias() = g2 * w2;
    g1.array() *= 1 - h1.array().square();
    dw1.noalias() = g1.transpose() * x;
    db1 = g1.colwise().sum();
    benchmark::DoNotOptimize(dw1.data());
  }
}

BENCHMARK(BM_LinearEngine)->Args({8, 5, 2})->Args({256, 512, 512})->Name("linear_fwd_bwd/engine");
BENCHMARK(BM_LinearEigen)->Args({8, 5, 2})->Args({256, 512, 512})->Name("linear_fwd_bwd/eigen");
BENCHMARK(BM_MlpEngine)->Name("mlp3_tanh_step/engine");
BENCHMARK(BM_MlpEigen)->Name("mlp3_tanh_step/eigen");

}  // namespace

BENCHMARK_MAIN();
