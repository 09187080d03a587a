// The convolution rule of the op-info module: for an input (N, C, H, W) or (C, H, W) without
// zero-size dims, groups divides C (depthwise groups = C among them), the kernel fits the padded
// input at the drawn dilation, so the output is at least 1×1; all stays tiny (the weight within
// kMaxNumel), since a gradcheck's Jacobian grows with every element.
#include <algorithm>
#include <cmath>
#include <utility>
#include <variant>

#include "op_rules_conv.hpp"

namespace gradoracle::registry::detail {

namespace {
// One value, or a pair (height, width), or left out (the default) when it equals `fallback`.
void put_pair(Attrs& attrs, const char* name, int64_t h, int64_t w, int64_t fallback, Chooser& c) {
  if (h == w && h == fallback && c.coin()) return;
  if (h == w && c.coin()) attrs[name] = h;
  else attrs[name] = std::vector<int64_t>{h, w};
}
}  // namespace

OpLayout draw_conv_layout(const OpSpec& op, const Shape& first, Chooser& c) {
  OpLayout l;
  const size_t r = first.size();
  const int64_t C = first[r - 3], H = first[r - 2], W = first[r - 1];
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d <= C; ++d)
    if (C % d == 0) divisors.push_back(d);
  const int64_t groups = c.pick(divisors);
  const int64_t Cg = C / groups;
  const int64_t O = groups * (groups > 2 ? 1 : c.integer(1, 3));
  int64_t p[2], d[2], s[2], k[2];
  const int64_t size[2] = {H, W};
  for (int i = 0; i < 2; ++i) {
    p[i] = c.integer(0, 2);
    d[i] = c.integer(1, 3);
    s[i] = c.integer(1, 3);
    const int64_t kmax = (size[i] + 2 * p[i] - 1) / d[i] + 1;  // d·(k - 1) + 1 <= size + 2p
    k[i] = c.integer(1, std::min<int64_t>(3, kmax) + 1);
  }
  while (O * Cg * k[0] * k[1] > kMaxNumel && (k[0] > 1 || k[1] > 1)) --k[k[0] >= k[1] ? 0 : 1];
  l.args = {first, Shape{O, Cg, k[0], k[1]}};
  if (op.max_args >= 3 && c.coin()) l.args.push_back(Shape{O});
  put_pair(l.attrs, "stride", s[0], s[1], 1, c);
  put_pair(l.attrs, "padding", p[0], p[1], 0, c);
  put_pair(l.attrs, "dilation", d[0], d[1], 1, c);
  if (groups != 1 || c.coin()) l.attrs["groups"] = groups;
  return l;
}

// The result is N·O·OH·OW with OH = (H + 2·pH − dH·(kH − 1) − 1)/sH + 1 (OW alike): the padding
// grows it without bound, so the attrs are read here, as conv2d reads them.
double predict_conv_numel(const std::vector<Shape>& shapes, const Attrs& attrs) {
  if (shapes.size() < 2 || shapes[0].size() < 3 || shapes[1].size() != 4) return 0;
  const auto pair = [&](const char* name, int64_t fallback) -> std::pair<double, double> {
    const auto it = attrs.find(name);
    if (it == attrs.end()) return {static_cast<double>(fallback), static_cast<double>(fallback)};
    if (const auto* i = std::get_if<int64_t>(&it->second)) return {static_cast<double>(*i), static_cast<double>(*i)};
    if (const auto* v = std::get_if<std::vector<int64_t>>(&it->second); v && v->size() == 2)
      return {static_cast<double>((*v)[0]), static_cast<double>((*v)[1])};
    if (const auto* v = std::get_if<std::vector<int64_t>>(&it->second); v && v->size() == 1)
      return {static_cast<double>((*v)[0]), static_cast<double>((*v)[0])};
    return {-1, -1};  // refused by the op
  };
  const auto [sH, sW] = pair("stride", 1);
  const auto [pH, pW] = pair("padding", 0);
  const auto [dH, dW] = pair("dilation", 1);
  if (sH < 1 || sW < 1 || pH < 0 || pW < 0 || dH < 1 || dW < 1) return 0;
  const Shape& x = shapes[0];
  const Shape& w = shapes[1];
  const size_t r = x.size();
  const double n = r == 4 ? static_cast<double>(x[0]) : 1.0, c = static_cast<double>(x[r - 3]);
  const double oh = std::floor((static_cast<double>(x[r - 2]) + 2 * pH - dH * static_cast<double>(w[2] - 1) - 1) / sH) + 1;
  const double ow = std::floor((static_cast<double>(x[r - 1]) + 2 * pW - dW * static_cast<double>(w[3] - 1) - 1) / sW) + 1;
  if (oh < 1 || ow < 1) return 0;
  const double result = n * static_cast<double>(w[0]) * oh * ow;
  const double columns = c * static_cast<double>(w[2] * w[3]) * oh * ow;
  return std::max(result, columns);
}

}  // namespace gradoracle::registry::detail
