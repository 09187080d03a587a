#include "gradoracle/engine/tensor.hpp"

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <new>
#include <sstream>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/random.hpp"
#include "kernels.hpp"
#include "layout.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

// ---------------------------------------------------------------- Storage
Storage::Storage(DType dtype, int64_t numel) : dtype_(dtype), numel_(numel), data_(inline_) {
  const size_t bytes = static_cast<size_t>(numel) * static_cast<size_t>(element_size(dtype));
  if (bytes > kAlignedBytes) {
    data_ = ::operator new(bytes, std::align_val_t{64});
  } else if (bytes > kInlineBytes) {
    data_ = ::operator new(bytes);
  }
}
Storage::~Storage() {
  const size_t bytes = static_cast<size_t>(numel_) * static_cast<size_t>(element_size(dtype_));
  if (bytes > kAlignedBytes) {
    ::operator delete(data_, std::align_val_t{64});
  } else if (data_ != inline_) {
    ::operator delete(data_);
  }
}

// ---------------------------------------------------------------- grad mode
namespace {
thread_local bool g_grad_enabled = true;

// numel(shape), in one pass that also makes check_shape's checks (and raises its error).
int64_t checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && n > kMaxElements / d)) check_shape(shape, "tensor");  // raises
    n *= d;
  }
  return n;
}

std::shared_ptr<TensorImpl> make_impl(Shape shape, DType dtype) {
  const int64_t n = checked_numel(shape);
  auto impl = new_impl();
  impl->storage = new_storage(dtype, n);
  impl->shape = std::move(shape);
  impl->dtype = dtype;
  return impl;
}
}  // namespace

bool grad_mode_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
GradModeGuard::GradModeGuard(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { g_grad_enabled = previous_; }

// ---------------------------------------------------------------- construction
Tensor Tensor::empty(Shape shape, DType dtype) { return Tensor(make_impl(std::move(shape), dtype)); }

Tensor Tensor::full(Shape shape, double value, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(Shape shape, DType dtype) { return full(std::move(shape), 0.0, dtype); }
Tensor Tensor::ones(Shape shape, DType dtype) { return full(std::move(shape), 1.0, dtype); }
Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_data(const Shape& shape, const std::vector<double>& data, DType dtype, bool requires_grad) {
  check_shape(shape, "from_data");
  if (static_cast<int64_t>(data.size()) != gradoracle::numel(shape)) {
    fail(ErrorKind::Value, "from_data: shape " + gradoracle::to_string(shape) + " needs " +
                               std::to_string(gradoracle::numel(shape)) + " elements but data has " +
                               std::to_string(data.size()));
  }
  if (requires_grad && !is_floating(dtype)) {  // torch.tensor(..., requires_grad=True)'s words
    fail(ErrorKind::DType, "Only Tensors of floating point and complex dtype can require gradients");
  }
  Tensor t = empty(shape, dtype);
  dispatch_all(dtype, [&](auto s) {
    using T = decltype(s);
    T* p = t.data<T>();
    for (size_t i = 0; i < data.size(); ++i) p[i] = static_cast<T>(data[i]);
  });
  t.impl().requires_grad = requires_grad;
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&](auto s) {
    using T = decltype(s);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.normal());
  });
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&](auto s) {
    using T = decltype(s);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform(low, high));
  });
  return t;
}

// ---------------------------------------------------------------- metadata and data
void Tensor::fail_undefined() { fail(ErrorKind::Value, "use of an undefined tensor"); }

int64_t Tensor::size(int64_t d) const {
  if (dim() == 0) {
    fail(ErrorKind::Dim, "Dimension specified as " + std::to_string(d) + " but tensor has no dimensions");
  }
  return shape()[static_cast<size_t>(wrap_dim(d, dim()))];
}

bool Tensor::shares_storage(const Tensor& other) const { return impl().storage == other.impl().storage; }

void Tensor::fail_requires_grad() {  // requires_grad_()'s words
  fail(ErrorKind::DType, "only Tensors of floating point dtype can require gradients");
}

void fail_not_floating(DType d) {
  fail(ErrorKind::DType, std::string("expected a floating point tensor (float32 or float64) but got ") + name(d));
}

void Tensor::fail_dtype(DType expected) const {
  fail(ErrorKind::DType, std::string("expected a ") + name(expected) + " tensor but got " + name(dtype()));
}

double Tensor::item() const {
  if (numel() != 1) {
    fail(ErrorKind::Value, "a Tensor with " + std::to_string(numel()) + " elements cannot be converted to Scalar");
  }
  return dispatch_all(dtype(), [&](auto s) { return static_cast<double>(data<decltype(s)>()[0]); });
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  dispatch_all(dtype(), [&](auto s) {
    const auto* p = data<decltype(s)>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  return out;
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  if (static_cast<int64_t>(index.size()) != dim()) {
    fail(ErrorKind::Dim, "at: " + std::to_string(index.size()) + " indices for a " + std::to_string(dim()) +
                             "-d tensor of shape " + gradoracle::to_string(shape()));
  }
  int64_t offset = 0, d = 0;
  const auto strides = contiguous_strides(shape());
  for (int64_t i : index) {
    if (i < -shape()[d] || i >= shape()[d]) {
      fail(ErrorKind::Dim, "index " + std::to_string(i) + " is out of bounds for dimension " + std::to_string(d) +
                               " with size " + std::to_string(shape()[d]));
    }
    offset += (i < 0 ? i + shape()[d] : i) * strides[d];
    ++d;
  }
  return dispatch_all(dtype(), [&](auto s) { return static_cast<double>(data<decltype(s)>()[offset]); });
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  std::memcpy(out.impl().storage->raw(), impl().storage->raw(),
              static_cast<size_t>(numel()) * static_cast<size_t>(element_size(dtype())));
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target);
  dispatch(dtype(), [&](auto s) {
    using From = decltype(s);
    dispatch(target, [&](auto u) {
      using To = decltype(u);
      kernels::array<To>(out) = kernels::carray<From>(*this).template cast<To>();
    });
  });
  out.impl().torch_strides = impl().torch_strides;  // preserve_format keeps a dense layout
  const DType source = dtype();
  record(out, "ToCopyBackward0", {*this}, [source](const Tensor& g, NeedsGrad) {
    return std::vector<Tensor>{g.to(source)};
  }, Saves::Nothing);
  return out;
}

void Tensor::fill_(double value) {
  dispatch_all(dtype(), [&](auto s) {
    using T = decltype(s);
    std::fill_n(data<T>(), numel(), static_cast<T>(value));
  });
}

std::string Tensor::to_string() const {
  std::ostringstream os;
  os << "tensor(shape=" << gradoracle::to_string(shape()) << ", dtype=" << name(dtype()) << ", data=[";
  const auto v = to_vector();
  for (size_t i = 0; i < v.size() && i < 16; ++i) os << (i ? ", " : "") << v[i];
  if (v.size() > 16) os << ", ...";
  os << "])";
  return os.str();
}

// ---------------------------------------------------------------- autograd surface
Tensor& Tensor::requires_grad_(bool flag) {
  if (!is_leaf()) {
    if (flag) return *this;  // NOTE: a non-leaf already requires grad; PyTorch accepts true as a no-op
    fail(ErrorKind::Autograd,
         "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a "
         "subgraph that doesn't require differentiation use var_no_grad = var.detach().");
  }
  if (flag && !is_floating(dtype())) fail_requires_grad();
  impl().requires_grad = flag;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined() && (grad.shape() != shape() || grad.dtype() != dtype())) {
    fail(ErrorKind::Shape, "assigned grad has data of a different size or type: grad " +
                               gradoracle::to_string(grad.shape()) + " " + name(grad.dtype()) + ", tensor " +
                               gradoracle::to_string(shape()) + " " + name(dtype()));
  }
  impl().grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

std::string Tensor::grad_fn_name() const { return impl().grad_fn ? std::string(impl().grad_fn->name()) : std::string(); }

void Tensor::backward(const Tensor& grad, std::optional<bool> retain_graph, bool create_graph) const {
  run_backward(*this, grad, retain_graph.value_or(create_graph), create_graph);
}

Tensor Tensor::detach() const {
  auto impl = new_impl();
  impl->shape = shape();
  impl->dtype = dtype();
  impl->storage = this->impl().storage;
  impl->torch_strides = this->impl().torch_strides;
  return Tensor(std::move(impl));
}

std::vector<int64_t> Tensor::stride() const { return layout::strides(impl()); }
bool Tensor::is_contiguous() const { return layout::is_contiguous(impl()); }

Tensor& Tensor::detach_() {
  if (impl().is_view) {
    fail(ErrorKind::Autograd, "Can't detach views in-place. Use detach() instead.");
  }
  impl().grad_fn = nullptr;
  impl().requires_grad = false;
  return *this;
}

// ---------------------------------------------------------------- Generator
double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  constexpr double two_pi = 6.283185307179586476925286766559;
  spare_ = r * std::sin(two_pi * u2);
  has_spare_ = true;
  return r * std::cos(two_pi * u2);
}

int64_t Generator::integer(int64_t low, int64_t high) {
  if (high <= low) return low;
  // Unsigned arithmetic: high - low may not fit in int64_t. span 0 is the full 2⁶⁴ range.
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low) + 1;
  const uint64_t r = span == 0 ? next_u64() : next_u64() % span;
  return static_cast<int64_t>(static_cast<uint64_t>(low) + r);
}

}  // namespace gradoracle
