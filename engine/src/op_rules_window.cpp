// The window rule (ShapeRule::Pool2d, op_rules.hpp): max_pool2d's geometry. Every draw is one
// PyTorch 1.13 accepts for the given (C,H,W) or (N,C,H,W) shape: kernel 1..3, stride 1..3,
// padding at most half the kernel, at least one output along each dim; each attr given as one
// int or as a pair (stride omitted: the kernel).
#include <algorithm>

#include "gradoracle/engine/op_rules.hpp"

namespace gradoracle::registry {

namespace {
struct Geometry {
  int64_t kernel = 1, stride = 1, padding = 0;
};

// The smallest kernels and strides and no padding first (what a shrunk case keeps).
Geometry draw_geometry(int64_t size, Chooser& c) {
  Geometry g;
  g.kernel = c.integer(1, 4);
  g.stride = c.integer(1, 4);
  g.padding = c.integer(0, g.kernel / 2 + 1);
  // (size + 2p - k) / s + 1 >= 1 needs size + 2p >= k; with size >= 1, p = k / 2 always fits.
  if (size + 2 * g.padding < g.kernel) g.padding = g.kernel / 2;
  return g;
}

bool fits(const Geometry& g, int64_t size) { return size + 2 * g.padding >= g.kernel; }

// One int where both dims agree (half the time), else the pair.
AttrValue int_or_pair(int64_t h, int64_t w, Chooser& c) {
  if (h == w && c.coin()) return h;
  return std::vector<int64_t>{h, w};
}
}  // namespace

OpLayout draw_window_layout(const Shape& first, Chooser& c) {
  OpLayout l;
  l.args = {first};
  const size_t r = first.size();
  const Geometry gh = draw_geometry(first[r - 2], c);
  const Geometry gw = c.coin() && fits(gh, first[r - 1]) ? gh : draw_geometry(first[r - 1], c);
  l.attrs["kernel_size"] = int_or_pair(gh.kernel, gw.kernel, c);
  const bool stride_is_kernel = gh.stride == gh.kernel && gw.stride == gw.kernel;
  if (!(stride_is_kernel && c.coin())) l.attrs["stride"] = int_or_pair(gh.stride, gw.stride, c);
  if (gh.padding != 0 || gw.padding != 0 || c.coin()) l.attrs["padding"] = int_or_pair(gh.padding, gw.padding, c);
  return l;
}

// Each output dim is at most size + 1 (stride >= 1, 2p <= k): the element count's bound.
double window_numel_bound(const Shape& first) {
  const size_t r = first.size();
  if (r < 3) return 0;
  const int64_t planes = numel(first) / std::max<int64_t>(first[r - 2] * first[r - 1], 1);
  return static_cast<double>(planes * (first[r - 2] + 1) * (first[r - 1] + 1));
}

}  // namespace gradoracle::registry
