#include "gradoracle/oracle/closed_forms.hpp"

#include <algorithm>
#include <cmath>

namespace gradoracle::oracle::closed_forms {

namespace {
// A (rows, cols) view of a tensor's values in float64; 1-D x is one row.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;
  double operator()(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};
Mat mat(const Tensor& t) {
  Mat m;
  m.v = t.to_vector();
  m.cols = t.dim() == 0 ? 1 : t.size(-1);
  m.rows = m.cols == 0 ? 0 : t.numel() / m.cols;
  return m;
}
Tensor make(const Shape& shape, std::vector<double> v) { return Tensor::from_data(shape, v, DType::Float64); }
std::vector<double> column_sums(const Mat& m) {
  std::vector<double> s(static_cast<size_t>(m.cols), 0.0);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) s[static_cast<size_t>(c)] += m(r, c);
  return s;
}
// Every row of an (rows, cols) matrix equal to `row`.
std::vector<double> repeat_rows(const std::vector<double>& row, int64_t rows) {
  std::vector<double> out;
  for (int64_t r = 0; r < rows; ++r) out.insert(out.end(), row.begin(), row.end());
  return out;
}
}  // namespace

LinearGrads linear(const Tensor& x, const Tensor& weight, const Tensor& upstream) {
  const Mat X = mat(x), W = mat(weight), G = mat(upstream);  // X (N, in), W (out, in), G (N, out)
  const int64_t n = X.rows, in = X.cols, out = W.rows;
  std::vector<double> dw(static_cast<size_t>(out * in), 0.0), dx(static_cast<size_t>(n * in), 0.0);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t r = 0; r < n; ++r) dw[static_cast<size_t>(o * in + i)] += G(r, o) * X(r, i);  // dW = Gᵀx
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < out; ++o) dx[static_cast<size_t>(r * in + i)] += G(r, o) * W(o, i);  // dx = G·W
  return {make(weight.shape(), dw), make({out}, column_sums(G)), make(x.shape(), dx)};      // db = G.sum(0)
}

LinearGrads weighted_batches(const std::vector<Tensor>& batches, const std::vector<double>& weights,
                             int64_t out_features) {
  const int64_t in = batches.empty() ? 0 : batches.front().size(-1);
  double db = 0.0;
  std::vector<double> row(static_cast<size_t>(in), 0.0);
  for (size_t k = 0; k < batches.size(); ++k) {
    const Mat X = mat(batches[k]);
    db -= weights[k] * static_cast<double>(X.rows);                           // db = −Σₖ cₖ·Nₖ
    const std::vector<double> s = column_sums(X);
    for (int64_t i = 0; i < in; ++i) row[static_cast<size_t>(i)] -= weights[k] * s[static_cast<size_t>(i)];  // −Σₖ cₖ·xₖ.sum(0)
  }
  return {make({out_features, in}, repeat_rows(row, out_features)),
          make({out_features}, std::vector<double>(static_cast<size_t>(out_features), db)), Tensor()};
}

ClipGradNorm clip_grad_norm(const std::vector<Tensor>& grads, double max_norm, double norm_type) {
  ClipGradNorm r;
  double acc = 0.0;
  for (const Tensor& g : grads) {
    if (!g.defined()) continue;
    for (double x : g.to_vector()) {
      if (std::isinf(norm_type)) {
        acc = std::max(acc, std::abs(x));  // ‖·‖∞ = max |g|
      } else {
        acc += std::pow(std::abs(x), norm_type);  // ‖·‖ₚ = (Σ|g|ᵖ)^(1/p); the norm of norms is the same sum
      }
    }
  }
  r.total_norm = std::isinf(norm_type) ? acc : std::pow(acc, 1.0 / norm_type);
  r.coefficient = max_norm / (r.total_norm + 1e-6);
  const double scale = std::min(1.0, r.coefficient);
  for (const Tensor& g : grads) {
    if (!g.defined()) {
      r.clipped.emplace_back();
      continue;
    }
    std::vector<double> v = g.to_vector();
    for (double& x : v) x *= scale;
    r.clipped.push_back(make(g.shape(), v));
  }
  return r;
}

LinearGrads shared_chain(const Tensor& x, const Tensor& weight, const Tensor& bias, bool detach_middle) {
  const Mat X = mat(x), W = mat(weight);
  const std::vector<double> b = bias.to_vector();
  const int64_t n = X.rows, d = W.rows;
  // y1 = x·Wᵀ + b
  Mat Y1;
  Y1.rows = n;
  Y1.cols = d;
  Y1.v.assign(static_cast<size_t>(n * d), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < d; ++o) {
      double s = b[static_cast<size_t>(o)];
      for (int64_t i = 0; i < W.cols; ++i) s += X(r, i) * W(o, i);
      Y1.v[static_cast<size_t>(r * d + o)] = s;
    }
  const std::vector<double> y1_sum = column_sums(Y1), w_sum = column_sums(W), x_sum = column_sums(X);
  const double nn = static_cast<double>(n);
  std::vector<double> db(static_cast<size_t>(d), nn);  // the second linear: N per entry
  std::vector<double> dw = repeat_rows(y1_sum, d);      // the second linear: rows y1.sum(0)
  if (!detach_middle) {
    for (int64_t o = 0; o < d; ++o) {
      db[static_cast<size_t>(o)] += nn * w_sum[static_cast<size_t>(o)];  // + N·W.sum(0)
      for (int64_t i = 0; i < W.cols; ++i)
        dw[static_cast<size_t>(o * W.cols + i)] += w_sum[static_cast<size_t>(o)] * x_sum[static_cast<size_t>(i)];
    }
  }
  return {make(weight.shape(), dw), make(bias.shape(), db), Tensor()};
}

namespace {
// softmax of a 1-D x in float64, shifted by its max.
std::vector<double> softmax_of(const Tensor& x) {
  std::vector<double> s = x.to_vector();
  const double m = s.empty() ? 0.0 : *std::max_element(s.begin(), s.end());
  double total = 0.0;
  for (double& e : s) total += (e = std::exp(e - m));
  for (double& e : s) e /= total;
  return s;
}
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] * b[i];
  return d;
}
}  // namespace

Tensor mse_loss_hessian(int64_t n, Reduction reduction) {
  const double c = reduction == Reduction::Mean ? 2.0 / static_cast<double>(n) : 2.0;
  std::vector<double> h(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) h[static_cast<size_t>(i * n + i)] = c;  // c·I
  return make({n, n}, h);
}

Tensor linear_squared_loss_hessian(const Tensor& x, int64_t out_features) {
  const Mat X = mat(x);  // (N, in)
  const int64_t in = X.cols, m = out_features * in;
  std::vector<double> h(static_cast<size_t>(m * m), 0.0);
  for (int64_t o = 0; o < out_features; ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < in; ++j) {
        double gram = 0.0;  // (xᵀx)_ij
        for (int64_t r = 0; r < X.rows; ++r) gram += X(r, i) * X(r, j);
        h[static_cast<size_t>((o * in + i) * m + o * in + j)] = 2.0 * gram;  // 2·δ_oo'·G_ij
      }
  return make({m, m}, h);
}

Tensor softmax_jacobian(const Tensor& x) {
  const std::vector<double> s = softmax_of(x);
  const int64_t n = static_cast<int64_t>(s.size());
  std::vector<double> j(static_cast<size_t>(n * n));
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < n; ++b)
      j[static_cast<size_t>(a * n + b)] = (a == b ? s[static_cast<size_t>(a)] : 0.0) - s[static_cast<size_t>(a)] * s[static_cast<size_t>(b)];
  return make({n, n}, j);  // diag(s) − s·sᵀ
}

Tensor softmax_hvp(const Tensor& x, const Tensor& u, const Tensor& v) {
  const std::vector<double> s = softmax_of(x), uv = u.to_vector(), vv = v.to_vector();
  const double sv = dot(s, vv), su = dot(s, uv);
  std::vector<double> a(s.size());
  for (size_t i = 0; i < s.size(); ++i) a[i] = s[i] * (vv[i] - sv);  // a = J·v
  const double au = dot(a, uv);
  std::vector<double> h(s.size());
  for (size_t i = 0; i < s.size(); ++i) h[i] = a[i] * (uv[i] - su) - s[i] * au;  // a ⊙ (u − ⟨s,u⟩) − s·⟨a,u⟩
  return make(x.shape(), h);
}

Tensor logsumexp_hessian(const Tensor& x) { return softmax_jacobian(x); }  // ∇²lse = diag(s) − s·sᵀ = J

namespace {
// The rows of a 2-D x as float64 softmaxes, each shifted by its max.
std::vector<std::vector<double>> row_softmaxes(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1);
  const std::vector<double> v = x.to_vector();
  std::vector<std::vector<double>> rows;
  for (int64_t i = 0; i < n; ++i) {
    rows.push_back(softmax_of(Tensor::from_data({c}, std::vector<double>(v.begin() + i * c, v.begin() + (i + 1) * c),
                                                DType::Float64)));
  }
  return rows;
}
}  // namespace

Tensor cross_entropy_class_grad(const Tensor& x, const std::vector<int64_t>& target, Reduction reduction,
                                int64_t ignore_index, double smoothing) {
  const int64_t n = x.size(0), c = x.size(1);
  const std::vector<std::vector<double>> s = row_softmaxes(x);
  int64_t kept = 0;
  for (int64_t y : target) kept += y != ignore_index;
  const double w = reduction == Reduction::Mean ? 1.0 / static_cast<double>(kept) : 1.0;
  std::vector<double> g(static_cast<size_t>(n * c), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = target[static_cast<size_t>(i)];
    if (y == ignore_index) continue;
    for (int64_t k = 0; k < c; ++k) {
      const double q = (1 - smoothing) * (k == y ? 1.0 : 0.0) + smoothing / static_cast<double>(c);
      g[static_cast<size_t>(i * c + k)] = w * (s[static_cast<size_t>(i)][static_cast<size_t>(k)] - q);
    }
  }
  return make(x.shape(), g);
}

ProbabilityGrads cross_entropy_probability_grads(const Tensor& x, const Tensor& p, Reduction reduction, double smoothing) {
  const int64_t n = x.size(0), c = x.size(1);
  const std::vector<std::vector<double>> s = row_softmaxes(x);
  const std::vector<double> pv = p.to_vector();
  const double w = reduction == Reduction::Mean ? 1.0 / static_cast<double>(n) : 1.0;
  std::vector<double> gx(static_cast<size_t>(n * c)), gp(static_cast<size_t>(n * c));
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<double>& si = s[static_cast<size_t>(i)];
    double total = 0.0;
    for (int64_t k = 0; k < c; ++k) total += (1 - smoothing) * pv[static_cast<size_t>(i * c + k)] + smoothing / static_cast<double>(c);
    for (int64_t k = 0; k < c; ++k) {
      const auto at = static_cast<size_t>(i * c + k);
      const double q = (1 - smoothing) * pv[at] + smoothing / static_cast<double>(c);
      gx[at] = w * (si[static_cast<size_t>(k)] * total - q);
      gp[at] = -w * (1 - smoothing) * std::log(si[static_cast<size_t>(k)]);
    }
  }
  return {make(x.shape(), gx), make(p.shape(), gp)};
}


LayerNormRowSums layer_norm_row_sums(const Tensor& x, int64_t m, const Tensor& u, const Tensor& dx, double eps) {
  const std::vector<double> xv = x.to_vector(), uv = u.to_vector(), dv = dx.to_vector();
  const size_t M = static_cast<size_t>(m), n = M == 0 ? 0 : xv.size() / M;
  LayerNormRowSums out;
  for (size_t i = 0; i < n; ++i) {
    double mu = 0, var = 0;
    for (size_t j = 0; j < M; ++j) mu += xv[i * M + j];
    mu /= static_cast<double>(M);
    for (size_t j = 0; j < M; ++j) var += (xv[i * M + j] - mu) * (xv[i * M + j] - mu);
    var /= static_cast<double>(M);
    const double r = 1 / std::sqrt(var + eps);
    double s = 0, d = 0, ux = 0, scale = 0;
    for (size_t j = 0; j < M; ++j) {
      const double xhat = (xv[i * M + j] - mu) * r;
      s += dv[i * M + j];
      d += dv[i * M + j] * xhat;
      ux += uv[i * M + j] * xhat;
      scale += r * std::abs(uv[i * M + j]) * (1 + std::abs(xhat)) * (1 + std::abs(xhat));
    }
    out.sum.push_back(s);
    out.dot_xhat.push_back(d);
    out.want_dot_xhat.push_back(eps * r * r * r * ux);  // = r·⟨u, x̂⟩·(1 − σ²·r²)
    out.scale.push_back(scale);
  }
  return out;
}

Tensor embedding_weight_grad(const std::vector<int64_t>& indices, int64_t num_weights, const Tensor& g) {
  const std::vector<double> gv = g.to_vector();
  const size_t k = indices.size(), d = k == 0 ? 0 : gv.size() / k;
  std::vector<double> dw(static_cast<size_t>(num_weights) * d, 0.0);
  for (size_t at = 0; at < k; ++at) {
    for (size_t j = 0; j < d; ++j) dw[static_cast<size_t>(indices[at]) * d + j] += gv[at * d + j];
  }
  return make({num_weights, static_cast<int64_t>(d)}, dw);
}

Conv2dGrads conv2d_grads(const Tensor& x, const Tensor& w, const Tensor& upstream, const Conv2dGeometry& q) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), Cg = w.size(1), kH = w.size(2), kW = w.size(3);
  const int64_t OH = upstream.size(2), OW = upstream.size(3), Og = O / q.groups;
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector(), gv = upstream.to_vector();
  const auto G = [&](int64_t n, int64_t o, int64_t a, int64_t b) { return gv[static_cast<size_t>(((n * O + o) * OH + a) * OW + b)]; };
  // The padded input, materialized.
  const int64_t HP = H + 2 * q.pH, WP = W + 2 * q.pW;
  std::vector<double> xpad(static_cast<size_t>(N * C * HP * WP), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t v = 0; v < W; ++v)
          xpad[static_cast<size_t>(((n * C + c) * HP + h + q.pH) * WP + v + q.pW)] = xv[static_cast<size_t>(((n * C + c) * H + h) * W + v)];
  std::vector<double> dw(wv.size(), 0.0), db(static_cast<size_t>(O), 0.0), dx(xv.size(), 0.0);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t i = 0; i < kH; ++i)
        for (int64_t j = 0; j < kW; ++j) {
          double acc = 0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t a = 0; a < OH; ++a)
              for (int64_t b = 0; b < OW; ++b)
                acc += G(n, o, a, b) * xpad[static_cast<size_t>(((n * C + (o / Og) * Cg + c) * HP + a * q.sH + i * q.dH) * WP +
                                                                b * q.sW + j * q.dW)];
          dw[static_cast<size_t>(((o * Cg + c) * kH + i) * kW + j)] = acc;
        }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t a = 0; a < OH; ++a)
        for (int64_t b = 0; b < OW; ++b) db[static_cast<size_t>(o)] += G(n, o, a, b);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t v = 0; v < W; ++v) {
          double acc = 0;
          const int64_t group = c / Cg;
          for (int64_t o = group * Og; o < (group + 1) * Og; ++o)
            for (int64_t i = 0; i < kH; ++i) {
              const int64_t ra = h + q.pH - i * q.dH;
              if (ra < 0 || ra % q.sH != 0 || ra / q.sH >= OH) continue;
              for (int64_t j = 0; j < kW; ++j) {
                const int64_t rb = v + q.pW - j * q.dW;
                if (rb < 0 || rb % q.sW != 0 || rb / q.sW >= OW) continue;
                acc += G(n, o, ra / q.sH, rb / q.sW) * wv[static_cast<size_t>(((o * Cg + c % Cg) * kH + i) * kW + j)];
              }
            }
          dx[static_cast<size_t>(((n * C + c) * H + h) * W + v)] = acc;
        }
  return {make(w.shape(), dw), make({O}, db), make(x.shape(), dx)};
}

}  // namespace gradoracle::oracle::closed_forms
